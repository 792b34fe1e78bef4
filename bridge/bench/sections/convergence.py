"""Convergence: the demo's scripted day, wired direct and through the bridge, compared.

`direct` is the demo's own wiring (ION posting straight to Violet). "through the bridge" uses the
demo's settings (`bridge.sandbox.through_bridge`: reconciliation every 5 s, new lines polled every
second, ...) but runs the bridge as an operator would, in processes of its own: `bridge setup`
provisions the receiver and subscriptions in the ION stand-in, then `bridge serve` forwards and
repairs. After the day, the demo's own measures are taken: seconds from ION's last change until
Violet's view equals ION's truth, repair events per changed object (from Violet's request log),
and the gap-closure times the reconciler recorded per kind of repair (from the admin API,
`GET /api/reconcile/runs`), and which trigger queued each repair (from `serve`'s info log). A
targeted fetch follows ION's delivery within a second; a repair made by the scheduled run may
have waited up to an interval for it, and the gap-closure maxima say whether one did.

data: {"columns": {wiring: {resource: {"total", "correct", "percent"}}}, "table": str,
       "converged_after_s": float | None, "bound_s": float, "repairs": {...},
       "gap_closure": {kind: {"count", "median_s", "p95_s", "max_s"}},
       "by_trigger": {trigger: {kind: count}}}  (from the bridge's info log)
"""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from bridge.bench.bridgeproc import BridgeProcess
from bridge.bench.context import BenchContext
from bridge.bench.results import SectionResult
from bridge.sandbox import through_bridge as demo_bridge
from bridge.sandbox.demo import (
    LATE_FILL_AFTER_SECONDS,
    LATE_FILLS,
    RESOURCES,
    StandIns,
    direct,
    run_wiring,
    stand_ins,
    wait_for_ion_quiet,
)
from bridge.sandbox.report import Convergence, compare, fetch_truth, fetch_view, render_table
from bridge.sandbox.scenario import play_day

ADMIN_TOKEN = "bench-admin-token"  # noqa: S105 -- a throwaway bench credential
#: The demo's scaled-down timings, as environment for the `bridge` processes.
SETTINGS = {
    "BRIDGE_RECONCILE_INTERVAL_SECONDS": str(demo_bridge.RECONCILE_INTERVAL_SECONDS),
    "BRIDGE_RECONCILE_NEW_LINE_POLL_SECONDS": str(demo_bridge.NEW_LINE_POLL_SECONDS),
    "BRIDGE_RECONCILE_SETTLE_DELAYS_SECONDS": json.dumps(demo_bridge.SETTLE_DELAYS_SECONDS),
    "BRIDGE_RECONCILE_OVERLAP_SECONDS": "10",
    "BRIDGE_DELIVERY_POLL_SECONDS": "0.1",
    "BRIDGE_DELIVERY_RETRY_SCHEDULE": "[0.2, 0.5, 1, 2, 5]",
    "BRIDGE_SUBSCRIBE_RESOURCES": ",".join(RESOURCES),
    "BRIDGE_ION_RETRY_BASE_SECONDS": "0.05",
}


def _columns(convergence: Convergence) -> dict[str, dict[str, float]]:
    return {
        name: {"total": r.total, "correct": r.correct, "percent": round(r.percent, 2)}
        for name, r in {**convergence.resources, "total": convergence.total}.items()
    }


def _bridge(ctx: BenchContext, stands: StandIns) -> BridgeProcess:
    (ctx.workdir / "db").mkdir(parents=True, exist_ok=True)
    bridge = BridgeProcess(
        database_url=f"sqlite:///{ctx.workdir / 'db' / 'convergence.db'}",
        violet_url=stands.hook_url,
        log_dir=ctx.log_dir,
        name="bridge-convergence",
        reconcile=True,
        env={
            "BRIDGE_ION_API_URL": stands.ion_url,
            "BRIDGE_ION_TOKEN_URL": stands.token_url,
            "BRIDGE_ION_CLIENT_ID": stands.client_id,
            "BRIDGE_ION_CLIENT_SECRET": stands.client_secret,
            "BRIDGE_ADMIN_TOKEN": ADMIN_TOKEN,
            # Each repair with its trigger (targeted fetch, poll, scheduled run), stale and
            # deferred objects too, in `<out>/work/logs/bridge-convergence.log`: a slow gap
            # closure can be traced to what repaired it. A few hundred lines for the day.
            "BRIDGE_LOG_LEVEL": "info",
            **SETTINGS,
        },
    )
    setup = subprocess.run(
        [sys.executable, "-m", "bridge", "setup"],
        env=bridge.process.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if setup.returncode != 0:
        raise RuntimeError(f"bridge setup failed: {setup.stderr[-1500:]}")
    return bridge


def _through_bridge(ctx: BenchContext, seed: int, operations: int) -> dict[str, Any]:
    bound = 3 * demo_bridge.RECONCILE_INTERVAL_SECONDS  # measured past one interval, if need be
    with stand_ins() as stands:
        bridge = _bridge(ctx, stands).start()
        try:
            asyncio.run(
                play_day(
                    stands.ion_url,
                    client_id=stands.client_id,
                    client_secret=stands.client_secret,
                    seed=seed,
                    operations=operations,
                    late_fills=LATE_FILLS,
                    late_after=LATE_FILL_AFTER_SECONDS,
                )
            )
            wait_for_ion_quiet(stands, day_ended=time.monotonic())
            converged_after = demo_bridge.wait_for_violet(stands, bound=bound)
            convergence = compare(fetch_truth(stands.ion_url), fetch_view(stands.violet_url))
            figures = demo_bridge.Figures.read(stands, None)
            runs = httpx.get(
                f"{bridge.url}/api/reconcile/runs",
                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                timeout=30,
            ).json()
        finally:
            bridge.stop()
    return {
        "by_trigger": repairs_by_trigger(bridge.process.log_path),
        "convergence": convergence,
        "converged_after_s": None if converged_after is None else round(converged_after, 2),
        "gap_closure": runs.get("gap_closure", {}),
        "repairs": figures.repairs,
        "forwarded": figures.forwarded,
        "changed_objects": figures.changed_objects,
    }


def repairs_by_trigger(log_path: Path) -> dict[str, dict[str, int]]:
    """{trigger: {kind: count}} of the repairs `serve` queued, from its info log: made right
    behind ION's delivery (`webhook`), by the new-line poll, by a settle re-check or by the
    scheduled run (`schedule`)."""
    counts: dict[str, dict[str, int]] = {}
    for line in log_path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # not a structlog line (a library's own)
        if not isinstance(entry, dict) or entry.get("event") != "reconcile.repair":
            continue
        kinds = counts.setdefault(str(entry.get("trigger")), {})
        kind = str(entry.get("kind"))
        kinds[kind] = kinds.get(kind, 0) + 1
    return counts


def run(ctx: BenchContext) -> SectionResult:
    result = SectionResult(name="convergence")
    seed, operations = 7, int(ctx.pick(300, 80))
    direct_run = run_wiring(
        "direct", direct, seed=seed, operations=operations, late_fills=LATE_FILLS
    )
    bridged = _through_bridge(ctx, seed, operations)
    columns = {"direct": direct_run.convergence, "through the bridge": bridged["convergence"]}
    console = Console(record=True, width=120, file=io.StringIO())
    console.print(render_table(columns))
    result.data = {
        "seed": seed,
        "operations": operations,
        "settings": SETTINGS,
        "columns": {name: _columns(value) for name, value in columns.items()},
        "table": console.export_text(),
        "converged_after_s": bridged["converged_after_s"],
        "bound_s": demo_bridge.RECONCILE_INTERVAL_SECONDS,
        "repairs": {
            "repairs": bridged["repairs"],
            "forwarded": bridged["forwarded"],
            "changed_objects": bridged["changed_objects"],
            "per_changed_object": round(bridged["repairs"] / max(bridged["changed_objects"], 1), 3),
        },
        "gap_closure": bridged["gap_closure"],
        "by_trigger": bridged["by_trigger"],
    }
    _rows(result)
    return result


def _rows(result: SectionResult) -> None:
    data = result.data
    for wiring, column in data["columns"].items():
        total = column["total"]
        result.row(
            f"{wiring}: tracked fields right",
            total["percent"],
            "%",
            f"{total['correct']:,} of {total['total']:,}",
        )
    interval = data["bound_s"]
    result.row(
        "through the bridge: ION's last change → Violet right",
        data["converged_after_s"],
        "s",
        f"reconciliation interval {interval:g} s (the demo's setting)",
    )
    repairs = data["repairs"]
    result.row(
        "repair events per changed object",
        repairs["per_changed_object"],
        "",
        f"{repairs['repairs']} repairs for {repairs['changed_objects']} objects, besides "
        f"{repairs['forwarded']} forwarded ION events",
    )
    by_trigger = data["by_trigger"]
    total = sum(sum(kinds.values()) for kinds in by_trigger.values())
    scheduled = by_trigger.get("schedule", {})
    result.row(
        "repairs made by the scheduled run",
        sum(scheduled.values()),
        f"of {total}",
        "by trigger: "
        + ", ".join(
            f"{trigger} {sum(kinds.values())}" for trigger, kinds in sorted(by_trigger.items())
        )
        + (f"; scheduled: {dict(sorted(scheduled.items()))}" if scheduled else ""),
    )
    order = list(demo_bridge.KIND_LABELS)
    for kind, figures in sorted(
        data["gap_closure"].items(),
        key=lambda item: order.index(item[0]) if item[0] in order else 99,
    ):
        result.row(
            f"gap closure: {demo_bridge.KIND_LABELS.get(kind, kind)}",
            figures.get("median_s"),
            "s median",
            f"max {figures.get('max_s')} s over {figures.get('count')} repairs",
        )
    bridged = data["columns"]["through the bridge"]["total"]
    after = data["converged_after_s"]
    result.target(
        "through the bridge: every tracked field right",
        "100 %",
        bridged["percent"],
        bridged["percent"] == 100.0,
        f"direct: {data['columns']['direct']['total']['percent']} %",
    )
    result.target(
        "Violet right within one reconciliation interval",
        f"≤ {interval:g} s",
        after,
        after is not None and after <= interval,
        "after ION's last change (demo settings)",
    )
