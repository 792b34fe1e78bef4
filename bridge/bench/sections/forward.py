"""Forward: deliveries per second the bridge's worker gets into the Violet stand-in.

The stand-in's own capacity is measured first, in the same run, with the load generator at the
bridge's delivery concurrency. Then a backlog of N pending deliveries (N distinct objects, as if
ION had delivered them while Violet was away) is written to a fresh database, `bridge serve`
starts, and the drain rate is read from the stand-in's own receipt times (first to last), so the
bridge's start-up is not counted. Every delivery must arrive within the section's time budget
(otherwise the figure is the rate over what did, and "lost" is not judged); duplicates are
counted.

data: {"standin_capacity": summary, "bridge": {backend: {...}} and the SQLite figures as
       "bridge" for the chart}
"""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

from bridge.bench.bridgeproc import BridgeProcess
from bridge.bench.context import BenchContext, violet_process
from bridge.bench.databases import fresh_database
from bridge.bench.loadgen import run_load
from bridge.bench.payloads import ion_body
from bridge.bench.results import SectionResult
from bridge.bench.spec import LoadSpec, RequestSpec, summarize
from bridge.bench.standins import VioletClient
from bridge.clock import utcnow
from bridge.delivery.outbox import Origin, new_delivery
from bridge.settings import Settings
from bridge.store.db import make_engine, session_scope

FIRST_EVENT_ID = 50_000_000


def prefill(database_url: str, count: int) -> None:
    """`count` pending ION deliveries, one object each, as the inbox would have stored them."""
    engine = make_engine(database_url)
    now = utcnow()
    try:
        for start in range(0, count, 1000):
            with session_scope(engine) as session:
                for event_id in range(
                    FIRST_EVENT_ID + start, FIRST_EVENT_ID + min(start + 1000, count)
                ):
                    session.add(
                        new_delivery(
                            origin=Origin.ION,
                            body=ion_body(event_id, event_id),
                            content_type="application/json",
                            now=now,
                            dedupe_key=f"ion:{event_id}",
                            event_id=event_id,
                            resource="PURCHASE_ORDERS",
                            action="UPDATE",
                            entity_id=str(event_id),
                        )
                    )
    finally:
        engine.dispose()


def _drain(violet: VioletClient, count: int, timeout: float) -> list[dict[str, Any]]:
    """Poll the stand-in's log until `count` requests have arrived or the deadline passes."""
    deadline = time.monotonic() + timeout
    while len(violet.log) < count and time.monotonic() < deadline:
        if not violet.fetch():
            time.sleep(0.2)
    return violet.log


def _capacity(ctx: BenchContext, violet: VioletClient, connections: int) -> dict[str, Any]:
    port = int(violet.url.rsplit(":", 1)[1])
    spec = LoadSpec(
        request=RequestSpec(port=port, path=f"/hooks/{violet.token}", kind="ion"),
        connections=connections,
        seconds=ctx.pick(5.0, 1.5),
        warmup_seconds=ctx.pick(1.0, 0.3),
    )
    return summarize(run_load(spec))


def _forward(ctx: BenchContext, backend: str, violet: VioletClient, count: int) -> dict[str, Any]:
    violet.reset()
    with fresh_database(backend, ctx.workdir / "db", ctx.postgres_url) as url:
        bridge = BridgeProcess(
            database_url=url, violet_url=violet.hook_url, log_dir=ctx.log_dir, name=f"fwd-{backend}"
        ).prepare()
        prefill(url, count)
        bridge.start()
        try:
            log = _drain(violet, count, timeout=ctx.pick(60, 60))
        finally:
            bridge.stop()
    received = Counter(json.loads(entry["body"])["event_id"] for entry in log)
    times = sorted(entry["time"] for entry in log)
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    expected = set(range(FIRST_EVENT_ID, FIRST_EVENT_ID + count))
    return {
        "deliveries": count,
        "received": len(log),
        "drained": len(log) >= count,
        "lost": len(expected - set(received)) if len(log) >= count else None,
        "duplicates": sum(n - 1 for n in received.values() if n > 1),
        "seconds": round(span, 2),
        "rate": round((len(times) - 1) / span, 1) if span else 0.0,
    }


def run(ctx: BenchContext) -> SectionResult:
    result = SectionResult(name="forward")
    concurrency = Settings().delivery_concurrency
    count = int(ctx.pick(3000, 300))
    figures: dict[str, dict[str, Any]] = {}
    with violet_process(ctx) as violet:
        capacity = _capacity(ctx, violet, concurrency)
        for backend in ctx.backends():
            figures[backend] = _forward(ctx, backend, violet, count)
    result.data = {
        "standin_capacity": capacity,
        "bridge": figures["sqlite"],
        "backends": figures,
        "concurrency": concurrency,
    }
    result.row(
        "Violet stand-in capacity",
        capacity["rate"],
        "req/s",
        f"generator, {concurrency} connections; generator CPU {capacity['generator_cpu']:.0%}",
    )
    for backend, figure in figures.items():
        share = figure["rate"] / capacity["rate"] if capacity["rate"] else 0.0
        result.row(
            f"bridge → stand-in ({backend})",
            figure["rate"],
            "deliveries/s",
            f"{share:.2f} × capacity; {figure['received']:,} of {figure['deliveries']:,} "
            f"queued arrived in the budget, {figure['duplicates']} duplicates",
        )
        goal_met = figure["rate"] >= 1000 or share >= 0.8
        result.target(
            f"forward rate ({backend})",
            "≥ 1,000/s or ≥ 0.8 × stand-in",
            figure["rate"],
            goal_met,
            f"{share:.2f} × stand-in capacity",
        )
        lost = figure["lost"]
        result.target(
            f"forward: nothing lost ({backend})",
            "0 lost",
            lost,
            None if lost is None else lost == 0,
            "" if figure["drained"] else "queue not drained within the time budget",
        )
    return result
