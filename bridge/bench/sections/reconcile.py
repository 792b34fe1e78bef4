"""Reconciliation: what an incremental run costs over a big catalog, against a full walk.

For each catalog size, the ION stand-in's world is seeded in-process (rows written straight into
its tables, dated over the past three months, as a catalog that has existed for a while), served
on loopback, and `bridge reconcile` runs as a subprocess, as an operator or the scheduler would:

1. first run: the bridge's first run walks everything and records the baseline (a full walk);
2. incremental, 10 changed: a handful of edits, then one run (the cost of a quiet interval);
3. incremental, 1 % changed: 1 % of the orders edited, then one run;
4. full: `bridge reconcile --full` (nothing left to repair: pure cost).

The stand-in answers a keyset page from the position the walk's filter gives, in a sorted copy
of the table (as ION's index would), so a walk costs it O(rows), not O(rows²), and the big
catalog's walks are run, not estimated.

Requests are counted twice: by the run itself (`reconcile_runs.counts.requests`) and at the
stand-in (GraphQL requests it served); seconds are the run's own duration.

data: {"catalogs": {size: {"seed_seconds", "first"|"few"|"incremental"|"full": run}}}
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from bridge.bench.context import BenchContext
from bridge.bench.results import SectionResult
from bridge.sandbox.ion import TOKEN_PATHS, IonWorld, Limitations, run_ion_standin
from bridge.sandbox.ion.tables import LOCATIONS, PURCHASE_ORDERS, SUPPLIERS
from bridge.store.db import make_engine

CLIENT_ID, CLIENT_SECRET = "sandbox-client", "sandbox-secret"  # the stand-in's fixed key
LOCATION_COUNT = 50
SUPPLIER_COUNT = 50
PAGE_SIZE = 100  # the bridge's default `ion_page_size`


def seed(world: IonWorld, orders: int) -> None:
    """`orders` purchase orders written over past months, 50 locations and 50 suppliers."""
    now = datetime.now(UTC)
    # Orders dated over three months up to yesterday: a catalog built over time, so the walk's
    # overlap window (minutes) covers only what changes from now on. Locations and suppliers
    # were last edited half an hour ago.
    for n in range(1, LOCATION_COUNT + 1):
        recent = now - timedelta(minutes=30, seconds=-n)
        world.insert(LOCATIONS, {"name": f"Dock {n}", "address": f"{n} Harbour Rd"}, at=recent)
        world.insert(SUPPLIERS, {"name": f"Supplier {n}", "address": f"{n} Mill Lane"}, at=recent)
    spacing = timedelta(days=89) / max(orders, 1)
    for n in range(1, orders + 1):
        world.insert(
            PURCHASE_ORDERS,
            {
                "description": f"Order {n}",
                "status": "ORDERED",
                "shipToLocationId": n % LOCATION_COUNT + 1,
                "supplierId": n % SUPPLIER_COUNT + 1,
            },
            at=now - timedelta(days=90) + (n - 1) * spacing,
        )


def change(world: IonWorld, count: int, orders: int, round_: int) -> None:
    """Edit `count` orders spread over the catalog (a tracked field: their description)."""
    step = max(orders // count, 1)
    for n in range(1, orders + 1, step)[:count]:
        world.update(PURCHASE_ORDERS, n, {"description": f"Order {n}, revised {round_}"})


def _run(env: dict[str, str], world: IonWorld, database_url: str, *args: str) -> dict[str, Any]:
    before = world.stats.graphql_requests
    started = time.monotonic()
    done = subprocess.run(  # noqa: S603 -- our own interpreter running the bridge's CLI
        [sys.executable, "-m", "bridge", "reconcile", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"bridge reconcile {' '.join(args)} failed: {done.stderr[-1500:]}")
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            row = connection.execute(
                text("select counts, duration_ms from reconcile_runs order by id desc limit 1")
            ).one()
    finally:
        engine.dispose()
    counts = row[0] if isinstance(row[0], dict) else json.loads(row[0])
    return {
        "requests": counts.get("requests"),
        "requests_at_ion": world.stats.graphql_requests - before,
        "seconds": round((row[1] or 0) / 1000, 2),
        "process_seconds": round(wall, 2),
        "counts": counts,
    }


def _catalog(ctx: BenchContext, orders: int) -> dict[str, Any]:
    world = IonWorld(clients={CLIENT_ID: CLIENT_SECRET}, limitations=Limitations())
    started = time.monotonic()
    seed(world, orders)
    figures: dict[str, Any] = {"seed_seconds": round(time.monotonic() - started, 2)}
    database_url = f"sqlite:///{ctx.workdir / 'db' / f'reconcile-{orders}.db'}"
    (ctx.workdir / "db").mkdir(parents=True, exist_ok=True)
    server = run_ion_standin(world, port=0)
    try:
        env = _env(server.url, database_url)
        figures["first"] = _run(env, world, database_url)
        # Few changes first: the next run's overlap window (minutes) re-walks what changed
        # just before, so the quiet-interval figure must not follow the 1 % round.
        change(world, 10, orders, 1)
        figures["few"] = _run(env, world, database_url)
        change(world, orders // 100, orders, 2)
        figures["incremental"] = _run(env, world, database_url)
        figures["full"] = _run(env, world, database_url, "--full")
    finally:
        server.stop()
    return figures


def _env(ion_url: str, database_url: str) -> dict[str, str]:
    import os

    return {
        **os.environ,
        "BRIDGE_DATABASE_URL": database_url,
        "BRIDGE_ION_API_URL": ion_url,
        "BRIDGE_ION_TOKEN_URL": ion_url + TOKEN_PATHS[0],
        "BRIDGE_ION_CLIENT_ID": CLIENT_ID,
        "BRIDGE_ION_CLIENT_SECRET": CLIENT_SECRET,
        "BRIDGE_VIOLET_WEBHOOK_URL": "http://127.0.0.1:9/hooks/unused",
        "BRIDGE_LOG_LEVEL": "warning",
        "BRIDGE_LOG_FORMAT": "json",
    }


def run(ctx: BenchContext) -> SectionResult:
    result = SectionResult(name="reconcile")
    sizes = (500, 2_000) if ctx.quick else (10_000, 100_000)
    catalogs = {str(size): _catalog(ctx, size) for size in sizes}
    result.data = {"catalogs": catalogs, "page_size": PAGE_SIZE}
    for size, figures in catalogs.items():
        label = f"{int(size):,} POs"
        for key, name in (
            ("few", "incremental, 10 changed"),
            ("incremental", "incremental, 1 % changed"),
            ("full", "full walk (--full)"),
            ("first", "first run (a full walk: the baseline)"),
        ):
            measured = figures[key]
            note = f"{measured['seconds']} s; {measured['requests_at_ion']} at the stand-in"
            result.row(f"{label}: {name}", measured["requests"], "requests", note)
        result.row(f"{label}: seeded in-process", figures["seed_seconds"], "s")
    few = [catalogs[size]["few"]["requests"] for size in catalogs]
    result.target(
        "incremental cost ~constant in catalog size",
        "10 changes: same requests at every size",
        float(max(few)),
        max(few) <= min(few) + 2,
        f"{' vs '.join(map(str, few))} requests",
    )
    for size, figures in catalogs.items():
        share = figures["incremental"]["requests"] / figures["full"]["requests"]
        result.row(f"{int(size):,} POs: 1 % changed / full walk", round(share, 3), "of requests")
    return result
