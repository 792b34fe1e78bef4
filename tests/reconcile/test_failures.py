"""ION failing mid-walk, runs that would overlap, and the cost of an incremental run."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from bridge.clock import utcnow
from bridge.ion.client import IonClient
from bridge.reconcile.cursors import load_cursor
from bridge.reconcile.locks import RunLock
from bridge.reconcile.runner import RunOptions
from bridge.reconcile.service import ReconcileService
from bridge.sandbox.ion.tables import LOCATIONS, PURCHASE_ORDERS
from bridge.settings import Settings
from bridge.store.db import make_engine
from bridge.store.migrate import upgrade
from tests.reconcile.harness import (
    IonUser,
    fresh_database,
    ion_user,
    make_world,
    modelled_violet,
    settings_for,
    wrong,
)


class FaultAfter:
    """ION through the real client, with a fault switched on in the stand-in after N requests."""

    def __init__(self, client: IonClient, ion: IonUser, after: int, **fault: Any) -> None:
        self.client, self.ion, self.after, self.fault = client, ion, after, fault
        self.calls = 0

    async def execute(self, operation: str, variables: dict[str, Any] | None = None) -> Any:
        self.calls += 1
        if self.calls == self.after + 1:
            await asyncio.to_thread(self.ion.faults, **self.fault)
        return await self.client.execute(operation, variables)


def catalog(world: Any, orders: int, locations: int = 5) -> None:
    """Rows written straight into the stand-in's tables before it serves (a big catalog, fast)."""
    for n in range(1, locations + 1):
        world.insert(LOCATIONS, {"name": f"Dock {n}", "address": f"{n} Main St"})
    for n in range(1, orders + 1):
        world.insert(
            PURCHASE_ORDERS,
            {"description": f"Order {n}", "status": "DRAFT", "shipToLocationId": n % locations + 1},
        )


def run_with(settings: Settings, ion: IonUser | None = None, **fault: Any) -> Any:
    """One run; with `fault`, the stand-in starts failing after the walk's first page."""
    engine = make_engine(settings.database_url)

    async def main() -> Any:
        async with IonClient(settings) as client:
            wrapped = FaultAfter(client, ion, 1, **fault) if ion is not None else client
            async with ReconcileService(settings, engine, ion=wrapped) as service:
                return await service.run(RunOptions(trigger="cli"))

    try:
        return asyncio.run(main())
    finally:
        engine.dispose()


def test_ion_failing_mid_walk_fails_the_run_and_the_next_run_misses_nothing(
    database_url: str,
) -> None:
    """502s mid-walk: FAILED, cursors untouched; the next run repairs everything changed."""
    world = make_world()
    catalog(world, orders=30)
    with ion_user(world) as ion:
        settings = settings_for(ion.url, database_url, ion_page_size=10, ion_max_retries=1)
        assert run_with(settings).status == "COMPLETED"  # the baseline
        engine = make_engine(database_url)
        before = load_cursor(engine, "PURCHASE_ORDERS")
        baseline = ion.truth()
        for po in (3, 17, 28):
            ion.update("PURCHASE_ORDERS", po, description=f"Changed {po}")
        ion.update("LOCATIONS", 2, address="9 Quay St")

        failed = run_with(settings, ion, graphql_502=50)
        assert failed.status == "FAILED"
        assert "IonUnavailable" in (failed.error or "")
        assert load_cursor(engine, "PURCHASE_ORDERS") == before

        ion.clear_faults()
        again = run_with(settings)
        assert again.status == "COMPLETED", again.error
        assert wrong(ion.truth(), modelled_violet(engine, baseline)) == []


def test_a_token_revoked_mid_walk_is_refreshed_and_the_run_completes(tmp_path: Any) -> None:
    """ION revoking the access token mid-walk costs one token refresh, not the run."""
    database_url = fresh_database(tmp_path)
    world = make_world()
    catalog(world, orders=25)
    with ion_user(world) as ion:
        settings = settings_for(ion.url, database_url, ion_page_size=10)
        result = run_with(settings, ion, revoke_tokens=True)
        assert result.status == "COMPLETED", result.error
        assert result.counts["kinds"] == {"new_object": 30}


def test_slow_ion_times_out_and_the_run_fails_cleanly(tmp_path: Any) -> None:
    """ION answering slower than the timeout: the run FAILS, leaving no cursor behind."""
    database_url = fresh_database(tmp_path)
    with ion_user(make_world()) as ion:
        ion.create("LOCATIONS", name="Dock 1")
        settings = settings_for(ion.url, database_url, ion_timeout_seconds=0.2, ion_max_retries=0)
        result = run_with(settings, ion, slow_ms=600)
        assert result.status == "FAILED"
        assert load_cursor(make_engine(database_url), "PURCHASE_ORDERS") is None


def test_requests_of_an_incremental_run_grow_with_changes_not_catalog(tmp_path: Any) -> None:
    """With 400 orders or 40, a run after 3 changes costs the same few GraphQL requests."""
    costs = []
    for orders in (40, 400):
        world = make_world()
        catalog(world, orders=orders, locations=10)
        with ion_user(world) as ion:
            url = f"sqlite:///{tmp_path / f'{orders}.db'}"
            settings = settings_for(ion.url, url, ion_page_size=100, reconcile_overlap_seconds=0)
            upgrade(make_engine(url))
            run_with(settings)
            for po in (1, 2):
                ion.update("PURCHASE_ORDERS", po, description="Changed")
            ion.update("LOCATIONS", 1, address="1 New St")  # 1 of 10: its POs are re-sent
            ion.reset_stats()
            result = run_with(settings)
            costs.append(ion.stats()["graphql_requests"])
            assert result.counts["requests"] == costs[-1]
            assert result.counts["kinds"]["linked"] == orders // 10
    # One walk per resource, plus one look-up of the POs shipping to the edited location.
    assert costs[0] <= 7
    assert costs[1] == costs[0]


def test_runs_never_overlap_in_a_process_or_across_processes(database_url: str) -> None:
    """A second lock holder, in the same process or another, is refused until released."""
    engine = make_engine(database_url)

    async def main() -> list[bool]:
        first = RunLock(engine, clock=utcnow)
        other_process = RunLock(engine, clock=utcnow)
        got = [await first.acquire(), await first.acquire(), await other_process.acquire()]
        await first.release()
        got.append(await other_process.acquire())
        await other_process.release()
        return got

    assert asyncio.run(main()) == [True, False, False, True]


def test_an_expired_sqlite_lease_is_taken_over(tmp_path: Any) -> None:
    """A crashed run's SQLite lease blocks others only until it expires."""
    from bridge.store.migrate import upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'b.db'}")
    upgrade(engine)
    times = iter([datetime(2026, 1, 1, 0, 0, tzinfo=UTC), datetime(2026, 1, 1, 1, 0, tzinfo=UTC)])

    async def main() -> tuple[bool, bool]:
        crashed = RunLock(engine, clock=lambda: next(times), lease_seconds=600)
        later = RunLock(engine, clock=lambda: next(times), lease_seconds=600)
        return await crashed.acquire(), await later.acquire()

    assert asyncio.run(main()) == (True, True)
