"""Drill: ION's API failing in the middle of a reconciliation run (502s, or answers too slow).

The whole path runs for real: the ION stand-in on loopback, `bridge reconcile` as a subprocess
(the CLI an operator or cron would use), `bridge serve` delivering the repairs to the Violet
stand-in. ION changes that no webhook announced (no subscription exists) can only be found by
reconciliation. A run that ION fails must leave every cursor where it was; the next run must then
make Violet's view equal to ION's truth: nothing missed.

(The in-process version of this check, with a request counter, is the reconciliation engineer's
tests/reconcile/test_failures.py; this drill adds the CLI, the worker and Violet's real view.)
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from starlette.types import ASGIApp, Receive, Scope, Send

from bridge.bench.bridgeproc import BridgeProcess
from bridge.sandbox.ion import TOKEN_PATHS, IonWorld, Limitations, create_app
from bridge.sandbox.ion.tables import LOCATIONS, PURCHASE_ORDERS
from bridge.sandbox.serving import serving
from bridge.store.db import make_engine
from tests.faults.conftest import Violet
from tests.reconcile.harness import IonUser, wrong
from tests.waiting import wait_until

pytestmark = pytest.mark.faults


class TripAfter:
    """Wraps the ION stand-in: after `after` GraphQL requests, switches its fault on.

    Runs on the stand-in's event loop, so the fault is in place before the next request is
    handled: the walk fails at a known point, mid-way, not at its first request.
    """

    def __init__(self, app: ASGIApp, world: IonWorld) -> None:
        self.app, self.world = app, world
        self.after: int | None = None
        self.fault: dict[str, Any] = {}
        self.seen = 0

    def arm(self, after: int, **fault: Any) -> None:
        self.after, self.fault, self.seen = after, fault, 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/graphql" and self.after is not None:
            self.seen += 1
            if self.seen > self.after:
                for key, value in self.fault.items():
                    setattr(self.world.faults, key, value)
                self.after = None
        await self.app(scope, receive, send)


@dataclass
class Ion:
    world: IonWorld
    trip: TripAfter
    user: IonUser

    @property
    def url(self) -> str:
        return self.user.url


@pytest.fixture
def ion() -> Iterator[Ion]:
    """The ION stand-in (all four limitations on) with 60 orders at 5 locations."""
    world = IonWorld(limitations=Limitations(), settle_delay_seconds=0.2)
    for n in range(1, 6):
        world.insert(LOCATIONS, {"name": f"Dock {n}", "address": f"{n} Main St"})
    for n in range(1, 61):
        world.insert(
            PURCHASE_ORDERS,
            {"description": f"Order {n}", "status": "DRAFT", "shipToLocationId": n % 5 + 1},
        )
    trip = TripAfter(create_app(world), world)
    with serving(trip) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        yield Ion(world=world, trip=trip, user=IonUser(world=world, url=server.url, http=http))


def _reconcile(bridge: BridgeProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bridge", "reconcile", *args],
        env=bridge.process.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _cursors(database_url: str) -> list[tuple[Any, ...]]:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            query = text("select resource, updated_after, last_id from cursors order by resource")
            return [tuple(row) for row in connection.execute(query)]
    finally:
        engine.dispose()


def _drill(
    tmp_path: Any,
    ion: Ion,
    violet: Violet,
    start_bridge: Callable[..., BridgeProcess],
    fault: dict[str, Any],
    **env: str,
) -> dict[str, Any]:
    url = f"sqlite:///{tmp_path / 'bridge.db'}"
    bridge = start_bridge(
        url,
        violet.hook_url,
        BRIDGE_ION_API_URL=ion.url,
        BRIDGE_ION_TOKEN_URL=ion.url + TOKEN_PATHS[0],
        BRIDGE_ION_CLIENT_ID="sandbox-client",
        BRIDGE_ION_CLIENT_SECRET="sandbox-secret",
        BRIDGE_ION_PAGE_SIZE="10",
        BRIDGE_ION_RETRY_BASE_SECONDS="0.01",
        BRIDGE_ION_MAX_RETRIES="1",
        BRIDGE_RECONCILE_OVERLAP_SECONDS="5",
        **env,
    )
    first = _reconcile(bridge, "--backfill")
    assert first.returncode == 0, first.stderr
    wait_until(lambda: not wrong(ion.user.truth(), violet.world.state()), 60, "the backfill")
    for po in range(1, 61, 2):  # 30 changes: the incremental walk has several pages
        ion.user.update("PURCHASE_ORDERS", po, description=f"Changed {po}")
    ion.user.update("LOCATIONS", 2, address="9 Quay St")
    before = _cursors(url)
    ion.trip.arm(after=2, **fault)
    failed = _reconcile(bridge)
    after_failure = _cursors(url)
    ion.user.clear_faults()
    again = _reconcile(bridge)
    wait_until(lambda: not wrong(ion.user.truth(), violet.world.state()), 60, "Violet = truth")
    return {
        "fault": fault,
        "failed_run_exit": failed.returncode,
        "failed_run_error": failed.stderr.strip().splitlines()[-1:],
        "graphql_requests_before_fault": 2,
        "cursors_untouched": before == after_failure,
        "next_run_exit": again.returncode,
        "wrong_fields_after": len(wrong(ion.user.truth(), violet.world.state())),
    }


def test_ion_502s_mid_walk_leave_cursors_and_miss_nothing(
    tmp_path: Any,
    ion: Ion,
    violet: Violet,
    start_bridge: Callable[..., BridgeProcess],
    drill_report: Any,
) -> None:
    """ION answering 502 mid-walk: the run fails, cursors stay, the next run repairs all."""
    figures = _drill(tmp_path, ion, violet, start_bridge, {"graphql_502": 1000})
    drill_report(figures)
    assert figures["failed_run_exit"] == 1
    assert figures["cursors_untouched"]
    assert figures["next_run_exit"] == 0
    assert figures["wrong_fields_after"] == 0


@pytest.mark.slow
def test_slow_ion_mid_walk_leaves_cursors_and_misses_nothing(
    tmp_path: Any,
    ion: Ion,
    violet: Violet,
    start_bridge: Callable[..., BridgeProcess],
    drill_report: Any,
) -> None:
    """ION answering slower than the timeout mid-walk: same outcome as with 502s."""
    figures = _drill(
        tmp_path, ion, violet, start_bridge, {"slow_ms": 1500}, BRIDGE_ION_TIMEOUT_SECONDS="0.5"
    )
    drill_report(figures)
    assert figures["failed_run_exit"] == 1
    assert figures["cursors_untouched"]
    assert figures["next_run_exit"] == 0
    assert figures["wrong_fields_after"] == 0
