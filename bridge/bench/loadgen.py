"""An HTTP/1.1 keep-alive load generator on raw asyncio sockets, run as its own process.

    python -m bridge.bench.loadgen < spec.json > result.json     (what `run_load` does)

Why not httpx: its per-request overhead in Python would make the generator, not the server, the
bottleneck on a 2-core machine. Here a request is prebuilt bytes, one write, and a response parser
that only reads the status line and `Content-Length`. Every run reports its own CPU share, and the
bench measures it against a bare endpoint, so a saturated generator shows up in the figures.

Closed loop: N connections send back to back (saturation). Open loop: requests are scheduled at a
fixed rate and latency counts from the *scheduled* time, so a stalled server is charged for the
requests it held up (no coordinated omission).

The closed loop runs on uvloop when it is installed (the test extra has it): the generator shares
the two cores with the server it measures, and on uvloop it spends ~20 % less CPU per request
(0.22–0.23 against 0.27–0.29 of a core at the same rates against `serve`), which is CPU the
server under test no longer loses to the bench. The open loop stays on asyncio: uvloop's timers
have millisecond resolution, so requests due every 0.3–0.5 ms would leave in bunches. Every time
is read from `time.monotonic()`, exact on both loops (uvloop's `loop.time()` is in whole ms).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from typing import Any, cast

from bridge.bench.payloads import RequestFactory
from bridge.bench.spec import LoadResult, LoadSpec, Send


class _Connection(asyncio.Protocol):
    """One keep-alive connection with at most one request in flight."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[int] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def send(self, data: bytes) -> asyncio.Future[int]:
        if self.transport is None or self.waiter is not None:
            raise RuntimeError("one request at a time per connection")
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return self.waiter

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 or self.waiter is None:
            return
        head = bytes(self.buffer[:end]).lower()
        length = _content_length(head)
        if len(self.buffer) < end + 4 + length:
            return
        del self.buffer[: end + 4 + length]
        waiter, self.waiter = self.waiter, None
        if not waiter.done():
            waiter.set_result(int(head[9:12]))
        if b"connection: close" in head:
            self.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection closed"))
        self.waiter = None

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


def _content_length(head: bytes) -> int:
    """The body length announced in a lower-cased response head (0 when absent)."""
    marker = head.find(b"content-length:")
    if marker < 0:
        return 0
    line_end = head.find(b"\r\n", marker)
    return int(head[marker + 15 : line_end if line_end >= 0 else None].strip())


class _Run:
    """The shared state of one run: what to send, where, and what came back in the window."""

    def __init__(self, spec: LoadSpec) -> None:
        self.spec = spec
        self.factory = RequestFactory(spec.request)
        self.loop = asyncio.get_running_loop()
        # time.monotonic() throughout; the CPU clock is sampled at the window's edges.
        self.measure_from = time.monotonic() + spec.warmup_seconds
        self.until = self.measure_from + spec.seconds
        self.latencies: list[float] = []
        self.statuses: Counter[str] = Counter()
        self.errors = 0
        self.sends: list[Send] = []
        self.cpu = [0.0, 0.0]
        self.loop.call_later(spec.warmup_seconds, self._sample_cpu, 0)
        self.loop.call_later(spec.warmup_seconds + spec.seconds, self._sample_cpu, 1)

    def _sample_cpu(self, edge: int) -> None:
        self.cpu[edge] = time.process_time()

    async def connect(self) -> _Connection:
        request = self.spec.request
        _, protocol = await self.loop.create_connection(_Connection, request.host, request.port)
        return protocol

    async def request(self, connection: _Connection, index: int, scheduled: float) -> _Connection:
        """Send request `index`; record it when it was due inside the measured window."""
        if connection.closed:
            connection = await self.connect()
        data = self.factory.build(index)
        sent_wall = time.time()
        timer = self.loop.call_later(self.spec.timeout_seconds, connection.abort)
        try:
            status = await connection.send(data)
        except (ConnectionError, OSError):
            status = 0
        finally:
            timer.cancel()
        done = time.monotonic()
        if self.measure_from <= scheduled < self.until:
            if status == 0:
                self.errors += 1
            else:
                self.statuses[str(status)] += 1
                if 200 <= status < 300:
                    self.latencies.append((done - scheduled) * 1000)
            if self.spec.record_sends:
                event_id = self.factory.event_id(index)
                self.sends.append(Send(event_id=event_id, sent_at=sent_wall, status=status))
        return connection

    def result(self) -> LoadResult:
        cpu = max(self.cpu[1] - self.cpu[0], 0.0)
        return LoadResult(
            seconds=self.spec.seconds,
            completed=sum(self.statuses.values()),
            statuses=dict(self.statuses),
            latencies_ms=[round(value, 3) for value in self.latencies],
            errors=self.errors,
            cpu_seconds=round(cpu, 3),
            sends=self.sends,
        )


async def _closed_loop(run: _Run) -> None:
    counter = itertools.count()

    async def worker() -> None:
        connection = await run.connect()
        while (started := time.monotonic()) < run.until:
            connection = await run.request(connection, next(counter), started)
        connection.abort()

    await asyncio.gather(*(worker() for _ in range(run.spec.connections)))


async def _open_loop(run: _Run) -> None:
    idle: asyncio.Queue[_Connection] = asyncio.Queue()
    for connection in await asyncio.gather(*(run.connect() for _ in range(run.spec.connections))):
        idle.put_nowait(connection)
    tasks: set[asyncio.Task[None]] = set()

    async def one(index: int, scheduled: float) -> None:
        connection = await idle.get()
        idle.put_nowait(await run.request(connection, index, scheduled))

    start = time.monotonic()
    interval = 1.0 / run.spec.rate
    for index in itertools.count():
        scheduled = start + index * interval
        if scheduled >= run.until:
            break
        delay = scheduled - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.get_running_loop().create_task(one(index, scheduled))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    while not idle.empty():
        idle.get_nowait().abort()


async def generate(spec: LoadSpec) -> LoadResult:
    """Run `spec` in this process and report what was measured."""
    run = _Run(spec)
    if spec.mode == "open":
        if spec.rate <= 0:
            raise ValueError("an open-loop run needs a rate > 0")
        await _open_loop(run)
    else:
        await _closed_loop(run)
    return run.result()


class LoadFailed(RuntimeError):
    """The generator process crashed or printed something that is not a result."""


def run_load(spec: LoadSpec) -> LoadResult:
    """Run `spec` in a fresh generator process (its own GIL, its own core) and read its result."""
    budget = spec.warmup_seconds + spec.seconds + spec.timeout_seconds + 30
    completed = subprocess.run(
        [sys.executable, "-m", "bridge.bench.loadgen"],
        input=json.dumps(spec.to_json()).encode(),
        capture_output=True,
        timeout=budget,
        check=False,
    )
    if completed.returncode != 0:
        raise LoadFailed(completed.stderr.decode(errors="replace")[-2000:])
    try:
        return LoadResult.from_json(json.loads(completed.stdout))
    except (ValueError, TypeError, KeyError) as exc:
        raise LoadFailed(f"unreadable generator output: {exc}") from exc


def _event_loop(spec: LoadSpec) -> Callable[[Coroutine[Any, Any, LoadResult]], LoadResult]:
    """uvloop's `run` for a closed loop when uvloop is installed, else asyncio's (the module's
    docstring says why)."""
    if spec.mode == "open":
        return asyncio.run
    try:
        import uvloop
    except ImportError:
        return asyncio.run
    return uvloop.run


def main() -> None:
    spec = LoadSpec.from_json(json.load(sys.stdin))
    result = _event_loop(spec)(generate(spec))
    json.dump(result.to_json(), sys.stdout)


if __name__ == "__main__":
    main()
