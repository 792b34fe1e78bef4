"""One reconciliation run against the ION stand-in, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Awaitable, Callable
from typing import Any

from sqlmodel import select

from bridge.clock import utcnow
from bridge.inbox.codec import IonEvent, build_event
from bridge.logs import configure_logging
from bridge.reconcile.cursors import load_cursor
from bridge.reconcile.runner import RunOptions
from bridge.reconcile.service import ReconcileService, direct_ingest
from bridge.settings import Settings
from bridge.store.db import make_engine, session_scope
from bridge.store.models import ReconcileRun
from tests.reconcile.harness import (
    IonUser,
    deliver_all,
    fresh_database,
    ion_user,
    make_world,
    modelled_violet,
    repairs,
    settings_for,
    wrong,
)

Script = Callable[[ReconcileService], Awaitable[Any]]


def with_service(settings: Settings, script: Script) -> Any:
    engine = make_engine(settings.database_url)

    async def main() -> Any:
        async with ReconcileService(settings, engine) as service:
            return await script(service)

    try:
        return asyncio.run(main())
    finally:
        engine.dispose()


def cli_run(**options: Any) -> Script:
    async def script(service: ReconcileService) -> Any:
        return await service.run(RunOptions(trigger="cli", **options))

    return script


def seed(ion: IonUser) -> dict[str, int]:
    loc = ion.create("LOCATIONS", name="Dock 1", address="1 Main St")
    supplier = ion.create("SUPPLIERS", name="Acme")
    part = ion.create("PARTS", partNumber="PN-1", revision="A", description="Bolt")
    po = ion.create(
        "PURCHASE_ORDERS", description="Order 1", supplierId=supplier, shipToLocationId=loc
    )
    return {"location": loc, "supplier": supplier, "part": part, "po": po}


def test_first_run_records_a_baseline_and_sends_nothing(database_url: str) -> None:
    """On an empty database the first run assumes Violet holds what ION had: no flood."""
    with ion_user(make_world()) as ion:
        seed(ion)
        settings = settings_for(ion.url, database_url, reconcile_overlap_seconds=0)
        result = with_service(settings, cli_run())
        assert result.status == "COMPLETED"
        assert result.counts["resources"]["PURCHASE_ORDERS"] == {
            "fetched": 1,
            "changed": 1,
            "repaired": 0,
        }
        engine = make_engine(database_url)
        assert repairs(engine) == []
        assert load_cursor(engine, "PURCHASE_ORDERS") is not None


def test_backfill_sends_every_object_complete(tmp_path: Any) -> None:
    """`--backfill` on a first run sends every object, so Violet ends up right on every field."""
    database_url = fresh_database(tmp_path)
    with ion_user(make_world()) as ion:
        seed(ion)
        settings = settings_for(ion.url, database_url, reconcile_overlap_seconds=0)
        result = with_service(settings, cli_run(backfill=True))
        engine = make_engine(database_url)
        assert result.counts["kinds"] == {"new_object": 4}
        assert {body["action"] for body in repairs(engine)} == {"CREATE"}
        assert wrong(ion.truth(), modelled_violet(engine)) == []


def test_incremental_run_repairs_new_line_and_every_po_of_an_edited_location(
    database_url: str,
) -> None:
    """After the baseline: a new line is sent as CREATE; a location edit re-sends its POs."""
    with ion_user(make_world()) as ion:
        ids = seed(ion)
        other = ion.create(
            "PURCHASE_ORDERS", description="Order 2", shipToLocationId=ids["location"]
        )
        elsewhere = ion.create("LOCATIONS", name="Dock 2")
        ion.create("PURCHASE_ORDERS", description="Order 3", shipToLocationId=elsewhere)
        settings = settings_for(ion.url, database_url, reconcile_overlap_seconds=0)
        with_service(settings, cli_run())
        engine = make_engine(database_url)
        baseline = ion.truth()

        line = ion.create(
            "PURCHASE_ORDER_LINES", purchaseOrderId=ids["po"], partId=ids["part"], quantity=2.0
        )
        ion.update("LOCATIONS", ids["location"], address="9 Harbor Rd")
        result = with_service(settings, cli_run())
        assert result.status == "COMPLETED", result.error
        sent = {(body["resource"], body["id"]): body for body in repairs(engine)}
        assert sent[("PURCHASE_ORDER_LINES", line)]["action"] == "CREATE"
        assert sent[("PURCHASE_ORDER_LINES", line)]["data"]["part"]["partNumber"] == "PN-1"
        for po in (ids["po"], other):
            assert (
                sent[("PURCHASE_ORDERS", po)]["data"]["shipToLocation"]["address"] == "9 Harbor Rd"
            )
        assert result.counts["kinds"]["linked"] == 2
        assert wrong(ion.truth(), modelled_violet(engine, baseline)) == []


def test_a_second_run_with_nothing_new_sends_nothing(database_url: str) -> None:
    """Repairs already queued or delivered are not sent again (no noise across runs)."""
    with ion_user(make_world()) as ion:
        ids = seed(ion)
        settings = settings_for(ion.url, database_url, reconcile_overlap_seconds=0)
        with_service(settings, cli_run())
        ion.update("SUPPLIERS", ids["supplier"], name="Acme (Ltd)")
        with_service(settings, cli_run())
        engine = make_engine(database_url)
        # The supplier itself (no forwarding here) and the PO embedding it.
        assert [body["resource"] for body in repairs(engine)] == ["SUPPLIERS", "PURCHASE_ORDERS"]
        with_service(settings, cli_run())
        deliver_all(engine)
        with_service(settings, cli_run(full=True))
        assert len(repairs(engine)) == 2


def test_dry_run_decides_but_keeps_nothing(tmp_path: Any) -> None:
    """A dry run reports the repairs it would send, and stores no repair and no cursor move;
    its log lines say "would repair", never "repair"."""
    database_url = fresh_database(tmp_path)
    with ion_user(make_world()) as ion:
        seed(ion)
        settings = settings_for(ion.url, database_url)
        stream = io.StringIO()
        configure_logging(level="info", fmt="json", stream=stream)  # conftest restores it
        result = with_service(settings, cli_run(dry_run=True, backfill=True))
        engine = make_engine(database_url)
        assert sum(result.counts["kinds"].values()) == 4
        assert repairs(engine) == []
        assert load_cursor(engine, "PURCHASE_ORDERS") is None
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    # Nothing queued, so the PO is judged again as the referrer of its supplier and location.
    would = {
        (x["resource"], x["entity_id"]) for x in lines if x["event"] == "reconcile.would_repair"
    }
    assert len(would) == 4
    assert not [x for x in lines if x["event"] == "reconcile.repair"]


def test_runs_are_recorded_with_counts(tmp_path: Any) -> None:
    """Every run leaves a row: trigger, status, duration and per-resource counts."""
    database_url = fresh_database(tmp_path)
    with ion_user(make_world()) as ion:
        seed(ion)
        settings = settings_for(ion.url, database_url)
        with_service(settings, cli_run())
        engine = make_engine(database_url)
        with session_scope(engine) as session:
            run = session.exec(select(ReconcileRun)).one()
        assert (run.trigger, run.status) == ("cli", "COMPLETED")
        assert run.duration_ms is not None
        assert run.counts is not None
        assert set(run.counts["resources"]) == {
            "PURCHASE_ORDERS",
            "PURCHASE_ORDER_LINES",
            "LOCATIONS",
            "SUPPLIERS",
            "PARTS",
        }


def test_full_walk_reports_objects_gone_from_ion_and_deletes_them_if_configured(
    tmp_path: Any,
) -> None:
    """`--full` reports what ION no longer has; a DELETE goes out only when DELETEs are wanted."""
    database_url = fresh_database(tmp_path)
    world = make_world()
    with ion_user(world) as ion:
        ids = seed(ion)
        quiet = settings_for(ion.url, database_url, reconcile_overlap_seconds=0)
        with_service(quiet, cli_run())
        world.delete("LOCATIONS", ids["location"])  # gone from ION (no delete mutation)
        reported = with_service(quiet, cli_run(full=True))
        assert reported.counts["disappeared"] == {"LOCATIONS": 1}
        engine = make_engine(database_url)
        assert [body["action"] for body in repairs(engine)] == ["UPDATE"]  # the PO lost its ship-to
        deleting = settings_for(
            ion.url,
            database_url,
            reconcile_overlap_seconds=0,
            subscribe_actions=["CREATE", "UPDATE", "DELETE"],
        )
        with_service(deleting, cli_run(full=True))
        assert repairs(engine)[-1]["action"] == "DELETE"
        assert repairs(engine)[-1]["id"] == ids["location"]
        again = with_service(deleting, cli_run(full=True))
        assert "disappeared" not in again.counts


def test_a_scheduled_run_repairs_at_once_what_a_linked_change_made_wrong(
    database_url: str,
) -> None:
    """A scheduled run leaves a recent change to the targeted fetch its ION delivery sets off.
    A PO edited a moment before its ship-to location is not such a case: the location's change
    is no part of any PO delivery, and the run stores the location's new state, after which the
    location's own targeted fetch sees nothing left to pass on to its POs. So the run repairs
    the PO's linked fields at once (found in the bench: one such repair per few convergence
    runs waited 5 s for the next scheduled run)."""
    with ion_user(make_world()) as ion:
        ids = seed(ion)
        # Overlap 10 s: a scheduled run leaves changes of the last 3 s to ION's deliveries.
        settings = settings_for(ion.url, database_url, reconcile_overlap_seconds=10)
        engine = make_engine(database_url)
        ingest = direct_ingest(engine, utcnow)
        po, location = ids["po"], ids["location"]

        async def script(service: ReconcileService) -> None:
            assert service.targeted is not None
            await service.run(RunOptions(trigger="cli", backfill=True))  # Violet knows all
            # The PO is edited; ION's delivery arrives and its targeted fetch repairs the PO.
            await asyncio.to_thread(ion.update, "PURCHASE_ORDERS", po, description="Revised")
            service.on_ingested(IonEvent(event_id=1, resource="PURCHASE_ORDERS", entity_id=str(po)))
            await service.targeted.settled()
            # A moment later its location moves; ION's delivery of that is stored and forwarded.
            await asyncio.to_thread(ion.update, "LOCATIONS", location, address="9 Harbor Rd")
            moved = ion.truth()["LOCATIONS"][str(location)]
            body = build_event(
                resource="LOCATIONS",
                action="UPDATE",
                entity_id=location,
                data={"id": location, **moved},
                now=utcnow(),
                event_id=2,
            )
            assert await ingest([body]) == 1
            # The scheduled run comes before that delivery's targeted fetch does.
            await service.run(RunOptions(trigger="schedule"))
            service.on_ingested(IonEvent(event_id=2, resource="LOCATIONS", entity_id=str(location)))
            await service.targeted.settled()

        with_service(settings, script)
        sent = [body for body in repairs(engine) if body["resource"] == "PURCHASE_ORDERS"]
        assert sent[-1]["data"]["shipToLocation"]["address"] == "9 Harbor Rd"
        assert wrong(ion.truth(), modelled_violet(engine)) == []
