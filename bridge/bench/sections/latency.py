"""Added latency: from ION's POST leaving the sender to Violet receiving the forwarded request.

The load generator plays ION at a fixed rate (100/s) against `bridge serve` on SQLite, recording
each event's wall-clock send time; the Violet stand-in (its own process, same host, same clock)
records its receipt time. The difference per event is what the bridge adds to the path. Every
acknowledged event must arrive; those that do not within the deadline are reported as lost.

data: {"rate": float, "events": int, "added_ms": [float], "p50_ms", "p99_ms", "max_ms",
       "lost": int, "ingest": summary}
"""

from __future__ import annotations

import json
import time
from typing import Any

from bridge.bench.bridgeproc import Credential
from bridge.bench.context import BenchContext, bridge_process, violet_process
from bridge.bench.loadgen import run_load
from bridge.bench.results import SectionResult
from bridge.bench.spec import LoadSpec, RequestSpec, percentile, summarize
from bridge.bench.standins import VioletClient

RATE = 100.0
FIRST_EVENT_ID = 70_000_000


def _receipts(violet: VioletClient, wanted: set[int], timeout: float) -> dict[int, float]:
    """event_id -> first receipt time at Violet, polling until all `wanted` arrived or timeout."""
    first: dict[int, float] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in violet.fetch():
            event_id = json.loads(entry["body"]).get("event_id")
            if isinstance(event_id, int):
                first.setdefault(event_id, entry["time"])
        if wanted <= first.keys():
            break
        time.sleep(0.1)
    return first


def run(ctx: BenchContext) -> SectionResult:
    result = SectionResult(name="latency")
    credential = Credential()
    with violet_process(ctx) as violet, bridge_process(ctx, "sqlite", violet) as bridge:
        spec = LoadSpec(
            request=RequestSpec(
                port=bridge.port,
                path="/webhooks/ion",
                secret=credential.secret,
                header=credential.header,
                first_event_id=FIRST_EVENT_ID,
            ),
            mode="open",
            rate=RATE,
            connections=16,
            seconds=ctx.pick(15.0, 3.0),
            warmup_seconds=1.0,
            record_sends=True,
        )
        load = run_load(spec)
        sent = {s.event_id: s.sent_at for s in load.sends if 200 <= s.status < 300}
        received = _receipts(violet, set(sent), timeout=60)
    added = [(received[e] - sent[e]) * 1000 for e in sent if e in received]
    lost = len(set(sent) - received.keys())
    p50, p99 = percentile(added, 0.5), percentile(added, 0.99)
    result.data = {
        "rate": RATE,
        "events": len(sent),
        "added_ms": [round(value, 2) for value in added],
        "p50_ms": _round(p50),
        "p99_ms": _round(p99),
        "max_ms": _round(max(added, default=None)),
        "lost": lost,
        "ingest": summarize(load),
    }
    data: dict[str, Any] = result.data
    result.row(
        f"ION POST → Violet receipt at {RATE:.0f}/s, p50",
        data["p50_ms"],
        "ms",
        f"{len(sent):,} events",
    )
    result.row("… p99", data["p99_ms"], "ms", f"max {data['max_ms']} ms")
    result.row(
        "… of which the inbox answer, p50/p99",
        data["ingest"]["p50_ms"],
        "ms",
        f"p99 {data['ingest']['p99_ms']} ms",
    )
    result.row("acknowledged but never at Violet", lost, "", "must be 0")
    result.target(
        "added latency p99 at 100/s", "≤ 50 ms", data["p99_ms"], p99 is not None and p99 <= 50
    )
    result.target("added latency: nothing lost", "0 lost", lost, lost == 0)
    return result


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
