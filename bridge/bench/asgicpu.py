"""CPU per request of an ASGI app called in-process, with no HTTP server and no sockets.

    python -m bridge.bench.asgicpu < spec.json > result.json     (what `measure_app` does)

The ingest section measures `bridge serve` and the bare endpoint over real HTTP; this tells how
much of each request's CPU is the app itself. `bare` is the bare Starlette endpoint; `bridge` is
the app `bridge serve` runs (`build_bridge` + `create_app`, its lifespan started: the real route,
signature check, group-commit writer and database, the destination paused as in the ingest
runs). `callers` coroutines call the app back to back with the generator's own signed bodies;
the CPU of every thread of this process is counted. Run in a process of its own, like the
servers, so nothing else shares its GIL.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from typing import Any

from bridge.bench.bare import bare_app
from bridge.bench.payloads import RequestFactory
from bridge.bench.processes import tree_cpu_seconds
from bridge.bench.spec import RequestSpec

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
App = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]


@dataclass(frozen=True, kw_only=True)
class AppSpec:
    app: str  # "bare" | "bridge"
    requests: int
    warmup: int
    callers: int = 16
    request: RequestSpec | None = None
    #: For "bridge": the settings, as `bridge serve` would read them from its environment.
    env: dict[str, str] | None = None


@dataclass(frozen=True, kw_only=True)
class AppCost:
    cpu_us_per_request: float
    #: Of which in the processes the app started (the ingest writer's), not in this one.
    children_cpu_us_per_request: float = 0.0
    rate: float
    statuses: dict[str, int]
    #: Concurrent callers, as connections over HTTP.
    callers: int = 16


def _split(raw: bytes) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """Headers (lower-case names) and body of one prebuilt HTTP/1.1 request."""
    head, _, body = raw.partition(b"\r\n\r\n")
    headers = []
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        headers.append((name.strip().lower(), value.strip()))
    return headers, body


async def _call(app: App, path: str, headers: list[tuple[bytes, bytes]], body: bytes) -> int:
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
    }
    sent = asyncio.Event()
    status: list[int] = []

    async def receive() -> Message:
        if not sent.is_set():
            sent.set()
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client never disconnects
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            status.append(int(message["status"]))

    await app(scope, receive, send)
    return status[0]


@asynccontextmanager
async def _app(spec: AppSpec) -> AsyncIterator[App]:
    if spec.app == "bare":
        yield bare_app()
        return
    os.environ.update(spec.env or {})
    from bridge.app import create_app
    from bridge.bootstrap import build_bridge
    from bridge.logs import configure_logging
    from bridge.settings import load_settings

    settings = load_settings()
    configure_logging(settings.log_level, "json", stream=sys.stderr)
    app = create_app(build_bridge(settings, reconcile=False))
    async with app.router.lifespan_context(app):
        yield app


async def measure(spec: AppSpec) -> AppCost:
    request = spec.request or RequestSpec(port=0, path="/webhooks/ion", kind="bare")
    factory = RequestFactory(request)
    prepared = [_split(factory.build(index)) for index in range(spec.warmup + spec.requests)]
    statuses: Counter[str] = Counter()
    async with _app(spec) as app:

        async def run(indexes: range) -> None:
            queue = iter(indexes)

            async def caller() -> None:
                for index in queue:
                    headers, body = prepared[index]
                    statuses[str(await _call(app, request.path, headers, body))] += 1

            await asyncio.gather(*(caller() for _ in range(spec.callers)))

        await run(range(spec.warmup))
        statuses.clear()
        own, cpu, wall = time.process_time(), tree_cpu_seconds(os.getpid()), time.perf_counter()
        await run(range(spec.warmup, spec.warmup + spec.requests))
        own, cpu = time.process_time() - own, tree_cpu_seconds(os.getpid()) - cpu
        wall = time.perf_counter() - wall
    return AppCost(
        cpu_us_per_request=round(cpu / spec.requests * 1e6, 1),
        children_cpu_us_per_request=round(max(cpu - own, 0.0) / spec.requests * 1e6, 1),
        rate=round(spec.requests / wall, 1),
        statuses=dict(statuses),
        callers=spec.callers,
    )


def measure_app(spec: AppSpec, timeout: float = 300) -> AppCost:
    """`measure(spec)` in a fresh process; its result."""
    payload = asdict(spec)
    completed = subprocess.run(
        [sys.executable, "-m", "bridge.bench.asgicpu"],
        input=json.dumps(payload).encode(),
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(completed.stderr.decode(errors="replace")[-2000:])
    return AppCost(**json.loads(completed.stdout))


def main() -> None:
    data = json.load(sys.stdin)
    request = data.pop("request")
    if request is not None:
        if request.get("header") is not None:
            request["header"] = tuple(request["header"])
        request = RequestSpec(**request)
    cost = asyncio.run(measure(AppSpec(**data, request=request)))
    json.dump(asdict(cost), sys.stdout)


if __name__ == "__main__":
    main()
