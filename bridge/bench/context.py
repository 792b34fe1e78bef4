"""What every section is given: sizes (full or quick), where to write, and the servers to start."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bridge.bench.bridgeproc import BridgeProcess, pause_destination
from bridge.bench.databases import fresh_database
from bridge.bench.processes import Spawned, wait_for_port
from bridge.bench.standins import VioletClient
from bridge.sandbox.serving import free_port

VIOLET_TOKEN = "bench-violet-token"  # noqa: S105 -- the stand-in's capability path


@dataclass(frozen=True, kw_only=True)
class BenchContext:
    quick: bool
    workdir: Path
    postgres_url: str
    #: Also the reference rows (ingest's thread writer and other HTTP parser): not targets.
    reference: bool = False
    #: Why PostgreSQL cannot be used (None when it can).
    postgres_problem: str | None = None

    @property
    def log_dir(self) -> Path:
        return self.workdir / "logs"

    def pick(self, full: float, quick: float) -> float:
        """A size or duration: `full` for the real bench, `quick` for the CI-sized run."""
        return quick if self.quick else full

    def backends(self) -> list[str]:
        return ["sqlite"] if self.postgres_problem else ["sqlite", "postgresql"]


@contextmanager
def server_process(ctx: BenchContext, name: str, module: str, args: list[str]) -> Iterator[Spawned]:
    """A server process listening on a fresh port (`.port`), stopped when the block ends."""
    port = free_port()
    process = Spawned(
        name, module, [*args, "--port", str(port)], log_dir=ctx.log_dir, port=port
    ).start()
    try:
        wait_for_port("127.0.0.1", port, timeout=30, alive=process)
        yield process
    finally:
        process.stop()


@contextmanager
def violet_process(ctx: BenchContext) -> Iterator[VioletClient]:
    """The Violet stand-in in a process of its own, with a client for its `/_sandbox/` routes."""
    args = ["violet", "--token", VIOLET_TOKEN]
    with server_process(ctx, "violet", "bridge.bench.standins", args) as process:
        client = VioletClient(f"http://127.0.0.1:{process.port}", VIOLET_TOKEN)
        try:
            yield client
        finally:
            client.close()


@contextmanager
def bridge_process(
    ctx: BenchContext,
    backend: str,
    violet: VioletClient,
    env: dict[str, str] | None = None,
    *,
    paused: bool = False,
) -> Iterator[BridgeProcess]:
    """`bridge serve` on a fresh database of `backend`, forwarding to `violet`.

    `paused`: the destination starts paused (as after a 410), so the delivery worker sends
    nothing and the inbox's own cost can be measured alone.
    """
    with fresh_database(backend, ctx.workdir / "db", ctx.postgres_url) as url:
        bridge = BridgeProcess(
            database_url=url,
            violet_url=violet.hook_url,
            log_dir=ctx.log_dir,
            env=env,
            name=f"bridge-{backend}",
        )
        bridge.prepare()
        if paused:
            pause_destination(url)
        bridge.start()
        try:
            yield bridge
        finally:
            bridge.stop()
