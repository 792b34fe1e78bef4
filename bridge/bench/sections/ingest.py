"""Ingest: ION webhooks per second `POST /webhooks/ion` accepts with durable storage.

Measured side by side in one run, under the same generator, each server in its own process:

- `ceiling`: a raw asyncio responder that does no HTTP work: the generator's own limit;
- `bare`: a bare Starlette endpoint under the same uvicorn, same HTTP parser, as `bridge serve`;
- `bare+<other parser>`: the same on the parser `serve` does not use by default
  (`BRIDGE_HTTP_PARSER`: h11, pure Python, or httptools, C), saturation only;
- `sqlite`, `postgresql`: `bridge serve` checking signatures and committing every delivery
  before answering. Its destination starts paused (as after a 410), so the delivery worker sends
  nothing and the figure is the inbox's alone. Its CPU includes its ingest writer process's;
- `sqlite+<other parser>`: `serve` on that parser, against `bare+<other parser>`: the
  like-for-like ratio there, saturation only;
- `sqlite+thread`: the same with the batches written in a thread of `serve`
  (`BRIDGE_INGEST_WRITER=thread`, the design before the writer process), at saturation;
- `<backend>+forwarding`: the same at saturation with the worker forwarding every delivery to a
  Violet stand-in meanwhile, as in production (both share one process and its GIL).

The two `+<other parser>` servers and `sqlite+thread` are reference rows, measured only with
`--reference`: they carry no target, and leaving them out keeps `make bench` to a few minutes
(12 of its 47 load runs).

Each server is driven closed-loop to saturation, then open-loop at half of its own saturation
rate, where latency is taken from the scheduled send time. Saturation is the best rate over
64 and 128 connections, for every server alike: a closed loop with too few connections measures
round trips, not capacity. The bridge commits a batch at a time, and a request waits for its
batch, so with few connections `serve` and its writer process take turns instead of working
side by side. At 64 connections (~28 deliveries a batch) `serve` was ~75 % busy, its writer
~45 %, and a quarter of the two cores idle; at 128 `serve` was at 80–88 % and the rate
1.1–1.4 × higher, and at 256 no higher again (SQLite, side by side, 2026-12-03). Until then the
bench tried 16 and 64, and the bridge's figure was a round-trip figure. The bare endpoint has
no such wait: for it 64 and 128 are within noise. The rates at each concurrency are kept in
the data.
The bare endpoint's saturation is taken again after the bridge runs and the better of the two is
the baseline, so a slow moment of a shared machine cannot flatter the ratio. After the bridge
runs, every acknowledged event id is looked up in the database: an acknowledged delivery
missing there would be a broken promise, and is reported as such.

Last, where a request's CPU goes: the bare app and the bridge's app called in-process (`asgicpu`:
no HTTP server, no sockets) against their CPU per request over HTTP; the difference is the HTTP
server's share.

Every run records the share of the machine's CPU time the host took meanwhile (`steal_percent`,
from `/proc/stat`): on a shared VM a slow run is often the machine, not the code, and a row's
note says so from 0.5 %.

data: {"connections": [int], "servers": {name: {"saturation": summary, "half": summary}},
       "unstored": {backend: int}, "in_process": {"bare"|"sqlite": AppCost}}
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any, get_args

from sqlalchemy import text

from bridge.bench.asgicpu import AppCost, AppSpec, measure_app
from bridge.bench.bridgeproc import BridgeProcess, Credential, pause_destination
from bridge.bench.context import BenchContext, bridge_process, server_process, violet_process
from bridge.bench.databases import fresh_database
from bridge.bench.loadgen import run_load
from bridge.bench.results import SectionResult, cpu_counters, steal_percent
from bridge.bench.spec import LoadResult, LoadSpec, RequestSpec, summarize
from bridge.settings import DEFAULT_HTTP_PARSER, HttpParser
from bridge.store.db import make_engine

#: The parser `serve` does not use by default, measured beside it for reference.
OTHER_PARSER: HttpParser = next(p for p in get_args(HttpParser) if p != DEFAULT_HTTP_PARSER)
#: Closed-loop concurrencies tried for saturation; the best rate counts (see the docstring).
CONNECTIONS = (64, 128)
PATH = "/webhooks/ion"
#: The in-process run never sends (its destination is paused); a URL is still required.
VIOLET_PLACEHOLDER = "http://127.0.0.1:9/violet"


class _Driver:
    """Runs the generator against one server, giving each run fresh event ids."""

    def __init__(self, ctx: BenchContext) -> None:
        self.ctx = ctx
        self.next_event_id = 1_000_000
        self.acknowledged: list[int] = []

    def load(
        self, port: int, cpu: Callable[[], float], credential: Credential | None, **mode: Any
    ) -> tuple[LoadResult, dict[str, Any]]:
        seconds = self.ctx.pick(5.0, 1.5)
        warmup = self.ctx.pick(1.0, 0.3)
        request = RequestSpec(
            port=port,
            path=PATH,
            kind="ion",
            secret=credential.secret if credential else None,
            header=credential.header if credential else None,
            first_event_id=self.next_event_id,
        )
        spec = LoadSpec(
            request=request,
            seconds=seconds,
            warmup_seconds=warmup,
            record_sends=credential is not None,
            **mode,
        )
        self.next_event_id += 10_000_000  # more than any run can send
        before, counters = cpu(), cpu_counters()
        result = run_load(spec)
        share = (cpu() - before) / (seconds + warmup)
        self.acknowledged.extend(s.event_id for s in result.sends if 200 <= s.status < 300)
        summary = summarize(result, server_cpu=share)
        summary["steal_percent"] = steal_percent(counters, cpu_counters())
        return result, summary

    def saturate(
        self, port: int, cpu: Callable[[], float], credential: Credential | None = None
    ) -> tuple[LoadResult, dict[str, Any]]:
        """The best of the saturation runs over `CONNECTIONS` (the machine is shared: noise
        only ever slows). Its summary says the concurrency and lists every run's rate."""
        runs: list[tuple[int, tuple[LoadResult, dict[str, Any]]]] = []
        for _ in range(int(self.ctx.pick(2, 1))):
            for connections in CONNECTIONS:
                outcome = self.load(port, cpu, credential, mode="closed", connections=connections)
                runs.append((connections, outcome))
        connections, best = max(runs, key=lambda run: run[1][0].rate)
        best[1]["connections"] = connections
        best[1]["rates_by_connections"] = {
            str(count): [round(outcome[0].rate, 1) for c, outcome in runs if c == count]
            for count in CONNECTIONS
        }
        return best

    def measure(
        self, port: int, cpu: Callable[[], float], credential: Credential | None = None
    ) -> dict[str, Any]:
        """Saturation, then an open-loop run at half that rate."""
        best = self.saturate(port, cpu, credential)
        half_rate = max(best[0].rate / 2, 10.0)
        _, half = self.load(port, cpu, credential, mode="open", rate=half_rate, connections=64)
        half["offered_rate"] = round(half_rate, 1)
        return {"saturation": best[1], "half": half}


def _unstored(database_url: str, acknowledged: list[int]) -> int:
    """How many acknowledged event ids are not in the bridge's database."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            stored = {row[0] for row in connection.execute(text("select event_id from deliveries"))}
    finally:
        engine.dispose()
    return len(set(acknowledged) - stored)


def run(ctx: BenchContext) -> SectionResult:
    result = SectionResult(name="ingest")
    driver = _Driver(ctx)
    servers: dict[str, dict[str, Any]] = {}
    unstored: dict[str, int] = {}
    with server_process(ctx, "raw", "bridge.bench.bare", ["--raw"]) as raw:
        servers["ceiling"] = {"saturation": driver.saturate(raw.port, raw.cpu_seconds)[1]}
    with server_process(ctx, "bare", "bridge.bench.bare", []) as bare:
        servers["bare"] = driver.measure(bare.port, bare.cpu_seconds)
    if ctx.reference:
        args = ["--http", OTHER_PARSER]
        with server_process(ctx, "bare-other", "bridge.bench.bare", args) as bare:
            servers[f"bare+{OTHER_PARSER}"] = {
                "saturation": driver.saturate(bare.port, bare.cpu_seconds)[1]
            }
    credential = Credential()
    for backend in ctx.backends():
        with violet_process(ctx) as violet:
            with bridge_process(ctx, backend, violet, paused=True) as bridge:
                driver.acknowledged = []
                servers[backend] = driver.measure(bridge.port, bridge.cpu_seconds, credential)
                unstored[backend] = _unstored(bridge.database_url, driver.acknowledged)
            if backend == "sqlite" and ctx.reference:
                variants: dict[str, dict[str, str]] = {
                    "thread": {"BRIDGE_INGEST_WRITER": "thread"},
                    OTHER_PARSER: {"BRIDGE_HTTP_PARSER": OTHER_PARSER},
                }
                for variant, env in variants.items():
                    with bridge_process(ctx, backend, violet, env, paused=True) as bridge:
                        driver.acknowledged = []
                        outcome = driver.saturate(bridge.port, bridge.cpu_seconds, credential)
                        servers[f"{backend}+{variant}"] = {"saturation": outcome[1]}
                        unstored[f"{backend}+{variant}"] = _unstored(
                            bridge.database_url, driver.acknowledged
                        )
            with bridge_process(ctx, backend, violet) as bridge:
                driver.acknowledged = []
                outcome = driver.saturate(bridge.port, bridge.cpu_seconds, credential)
                servers[f"{backend}+forwarding"] = {"saturation": outcome[1]}
                unstored[f"{backend}+forwarding"] = _unstored(
                    bridge.database_url, driver.acknowledged
                )
    # The bare endpoint again, after the bridge: on a shared machine the rate drifts over
    # minutes, and the ratio must not flatter the bridge because the baseline ran in a slow
    # moment. The better of the two runs is the baseline.
    with server_process(ctx, "bare", "bridge.bench.bare", []) as bare:
        again = driver.saturate(bare.port, bare.cpu_seconds)[1]
    first = servers["bare"]["saturation"]
    servers["bare"]["saturation_runs"] = [first["rate"], again["rate"]]
    if again["rate"] > first["rate"]:
        servers["bare"]["saturation"] = again
    in_process = _in_process(ctx, credential, driver, servers)
    result.data = {
        "connections": list(CONNECTIONS),
        "http": DEFAULT_HTTP_PARSER,
        "servers": servers,
        "unstored": unstored,
        "in_process": {name: asdict(cost) for name, cost in in_process.items()},
    }
    _rows(result, servers, unstored, ctx)
    _cpu_rows(result, servers, in_process)
    return result


def _in_process(
    ctx: BenchContext, credential: Credential, driver: _Driver, servers: dict[str, dict[str, Any]]
) -> dict[str, AppCost]:
    """The bare app and the bridge's app (SQLite) called in-process: CPU per request, each with
    as many concurrent callers as connections gave its best rate over HTTP (the bridge's batches,
    and so its cost per request, depend on it)."""
    requests, warmup = int(ctx.pick(20_000, 2_000)), int(ctx.pick(2_000, 200))
    callers = {name: int(servers[name]["saturation"]["connections"]) for name in ("bare", "sqlite")}
    costs = {
        "bare": measure_app(
            AppSpec(app="bare", requests=requests, warmup=warmup, callers=callers["bare"])
        )
    }
    with fresh_database("sqlite", ctx.workdir / "db", ctx.postgres_url) as url:
        bridge = BridgeProcess(
            database_url=url, violet_url=VIOLET_PLACEHOLDER, log_dir=ctx.log_dir
        ).prepare()
        pause_destination(url)
        request = RequestSpec(
            port=bridge.port,
            path=PATH,
            kind="ion",
            secret=credential.secret,
            header=credential.header,
            first_event_id=driver.next_event_id,
        )
        driver.next_event_id += 10_000_000
        spec = AppSpec(
            app="bridge",
            requests=requests,
            warmup=warmup,
            request=request,
            env=bridge.env,
            callers=callers["sqlite"],
        )
        costs["sqlite"] = measure_app(spec)
    return costs


def _cpu_rows(
    result: SectionResult, servers: dict[str, dict[str, Any]], in_process: dict[str, AppCost]
) -> None:
    """Where a request's CPU goes, in µs: over HTTP (server CPU / rate) and in-process."""

    def over_http(name: str) -> float | None:
        run = servers[name]["saturation"]
        cpu = run.get("server_cpu")
        return round(cpu / run["rate"] * 1e6, 1) if cpu and run["rate"] else None

    bare_http, bridge_http = over_http("bare"), over_http("sqlite")
    bare_app, bridge_app = in_process["bare"], in_process["sqlite"]
    if bare_http is None or bridge_http is None:
        return
    http = round(bare_http - bare_app.cpu_us_per_request, 1)
    result.row(
        "CPU per request over HTTP: bare / bridge (SQLite)",
        bare_http,
        "µs",
        f"bridge {bridge_http} µs ({bridge_http / bare_http:.1f} × bare): its server CPU / rate",
    )
    result.row(
        f"… of which the HTTP server (uvicorn, {DEFAULT_HTTP_PARSER}, sockets)",
        http,
        "µs",
        f"bare over HTTP − the bare app called in-process ({bare_app.cpu_us_per_request} µs)",
    )
    result.row(
        "… the bridge's app in-process: route, checks, group commit, SQLite",
        bridge_app.cpu_us_per_request,
        "µs",
        f"{bridge_app.children_cpu_us_per_request} µs of it in the writer process; "
        f"{bridge_app.rate:,.0f} req/s, {bridge_app.callers} callers, no HTTP; "
        f"statuses {bridge_app.statuses}",
    )
    result.row(
        "… the rest: serve, its writer process and the generator sharing 2 cores",
        round(bridge_http - http - bridge_app.cpu_us_per_request, 1),
        "µs",
        "bridge over HTTP − HTTP server − bridge app",
    )


def _rows(
    result: SectionResult,
    servers: dict[str, dict[str, Any]],
    unstored: dict[str, int],
    ctx: BenchContext,
) -> None:
    ceiling, bare = servers["ceiling"]["saturation"], servers["bare"]["saturation"]
    bare_half = servers["bare"]["half"]
    result.row(
        "generator ceiling (raw responder)",
        ceiling["rate"],
        "req/s",
        f"generator CPU {ceiling['generator_cpu']:.0%}",
    )
    runs = " / ".join(f"{rate:,.0f}" for rate in servers["bare"].get("saturation_runs", []))
    result.row(
        "bare Starlette, saturation",
        bare["rate"],
        "req/s",
        f"{_by_connections(bare)}; p99 {bare['p99_ms']} ms; "
        f"generator CPU {bare['generator_cpu']:.0%}{_steal(bare)}; "
        f"the better of the runs before / after the bridge: {runs}",
    )
    result.row(
        "bare Starlette, half rate p50",
        bare_half["p50_ms"],
        "ms",
        f"p99 {bare_half['p99_ms']} ms at {bare_half['offered_rate']:.0f}/s{_steal(bare_half)}",
    )
    other = servers.get(f"bare+{OTHER_PARSER}", {}).get("saturation")
    if other is not None and other["rate"]:
        headroom_other = ceiling["rate"] / other["rate"]
        result.row(
            f"bare Starlette on {OTHER_PARSER}, saturation",
            other["rate"],
            "req/s",
            f"{_by_connections(other)}; {other['rate'] / bare['rate']:.1f} × bare on "
            f"{DEFAULT_HTTP_PARSER}; generator ceiling {headroom_other:.2f} × this"
            + (" (below 1.5: a lower bound)" if headroom_other < 1.5 else ""),
        )
    headroom = round(ceiling["rate"] / bare["rate"], 2) if bare["rate"] else None
    result.target(
        "load generator is not the bottleneck",
        "ceiling ≥ 1.5 × bare",
        headroom,
        headroom is not None and headroom >= 1.5,
    )
    for backend in ("sqlite", "postgresql"):
        if backend not in servers:
            result.row(f"bridge on {backend}", None, "", f"skipped: {ctx.postgres_problem}")
            continue
        saturation, half = servers[backend]["saturation"], servers[backend]["half"]
        forwarding = servers[f"{backend}+forwarding"]["saturation"]
        ratio = round(saturation["rate"] / bare["rate"], 2) if bare["rate"] else None
        missing = sum(count for name, count in unstored.items() if name.split("+")[0] == backend)
        result.row(
            f"bridge on {backend}, saturation",
            saturation["rate"],
            "req/s",
            f"{ratio} × bare; {_by_connections(saturation)}; p99 {saturation['p99_ms']} ms; "
            f"bridge CPU {saturation.get('server_cpu', 0):.0%}{_steal(saturation)}",
        )
        result.row(
            f"bridge on {backend}, half rate p50",
            half["p50_ms"],
            "ms",
            f"p99 {half['p99_ms']} ms at {half['offered_rate']:.0f}/s{_steal(half)}",
        )
        threaded = servers.get(f"{backend}+thread", {}).get("saturation")
        if threaded is not None:
            result.row(
                f"bridge on {backend}, writer in a thread, saturation",
                threaded["rate"],
                "req/s",
                f"{threaded['rate'] / bare['rate']:.2f} × bare; p99 {threaded['p99_ms']} ms; "
                f"BRIDGE_INGEST_WRITER=thread",
            )
        on_other = servers.get(f"{backend}+{OTHER_PARSER}", {}).get("saturation")
        bare_other = servers.get(f"bare+{OTHER_PARSER}", {}).get("saturation")
        if on_other is not None and bare_other is not None and bare_other["rate"]:
            result.row(
                f"bridge on {backend}, on {OTHER_PARSER}, saturation",
                on_other["rate"],
                "req/s",
                f"{on_other['rate'] / bare_other['rate']:.2f} × bare on {OTHER_PARSER}; "
                f"{on_other['rate'] / saturation['rate']:.2f} × on {DEFAULT_HTTP_PARSER}; "
                f"{_by_connections(on_other)}; BRIDGE_HTTP_PARSER={OTHER_PARSER}",
            )
        result.row(
            f"bridge on {backend} + worker forwarding, saturation",
            forwarding["rate"],
            "req/s",
            f"p99 {forwarding['p99_ms']} ms (ingest and forward share a process)",
        )
        result.row(f"bridge on {backend}, acknowledged but not stored", missing, "", "must be 0")
        if backend == "sqlite":
            result.target(
                "ingest on SQLite vs bare",
                "≥ 0.5 × bare",
                ratio,
                ratio is not None and ratio >= 0.5,
                _stolen(saturation, "bridge"),
            )
            result.target(
                "ingest p99 at half saturation (SQLite)",
                "< 25 ms",
                half["p99_ms"],
                half["p99_ms"] is not None and half["p99_ms"] < 25,
                f"the bare endpoint's at its half rate: {bare_half['p99_ms']} ms"
                f"{_steal(bare_half, 'bare')}{_steal(half, 'bridge')}",
            )
        result.target(
            f"ingest on {backend}: acknowledged = stored", "0 missing", missing, missing == 0
        )


def _stolen(run: dict[str, Any], whose: str = "") -> str:
    """ "host steal 3.1 %" for a run the host slowed measurably, else nothing."""
    stolen = run.get("steal_percent")
    if stolen is None or stolen < 0.5:
        return ""
    return f"host steal {stolen} %" + (f" in the {whose} run" if whose else "")


def _steal(run: dict[str, Any], whose: str = "") -> str:
    """`_stolen` as a clause to append to a note: "; host steal 3.1 %", or nothing."""
    stolen = _stolen(run, whose)
    return f"; {stolen}" if stolen else ""


def _by_connections(run: dict[str, Any]) -> str:
    """ "best at 128 connections (64: 1,020 / 998; 128: 1,450 / 1,398 req/s)"."""
    rates = "; ".join(
        f"{count}: " + " / ".join(f"{rate:,.0f}" for rate in values)
        for count, values in run.get("rates_by_connections", {}).items()
    )
    return f"best at {run.get('connections')} connections ({rates} req/s)"
