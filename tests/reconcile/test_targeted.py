"""Targeted fetches after ION's deliveries, settle re-checks and the new-line poll."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

from bridge.inbox.codec import IonEvent
from bridge.logs import configure_logging
from bridge.reconcile.runner import RunOptions
from bridge.reconcile.service import ReconcileService
from bridge.store.db import make_engine
from tests.reconcile.harness import fresh_database, ion_user, make_world, repairs, settings_for


def _event(resource: str, entity_id: int, action: str = "UPDATE", n: int = 1) -> IonEvent:
    return IonEvent(event_id=n, resource=resource, action=action, entity_id=str(entity_id))


def test_a_burst_of_notices_costs_one_query_and_repairs_what_needs_it(tmp_path: Any) -> None:
    """Five deliveries naming three POs, debounced: one fetch, a repair per PO missing fields."""
    url = fresh_database(tmp_path)
    with ion_user(make_world()) as ion:
        supplier = ion.create("SUPPLIERS", name="Acme")
        orders = [ion.create("PURCHASE_ORDERS", supplierId=supplier) for _ in range(3)]
        settings = settings_for(ion.url, url, reconcile_debounce_seconds=0.2)
        engine = make_engine(url)

        async def main() -> int:
            async with ReconcileService(settings, engine) as service:
                assert service.targeted is not None
                ion.reset_stats()
                for n, po in enumerate([*orders, orders[0], orders[1]]):
                    service.on_ingested(_event("PURCHASE_ORDER", po, n=n))  # singular spelling
                service.on_ingested(_event("RUNS", 1))  # not tracked: ignored
                await service.targeted.settled()
                return int(ion.stats()["graphql_requests"])

        requests = asyncio.run(main())
        assert requests == 1
        # ION's CREATE never reached this outbox, so each PO is unknown to Violet: complete CREATEs.
        assert sorted(body["id"] for body in repairs(engine)) == sorted(orders)
        assert all(body["data"]["supplier"]["name"] == "Acme" for body in repairs(engine))


def test_new_objects_are_rechecked_after_their_settle_delay(tmp_path: Any) -> None:
    """A new object is fetched again once its settle delay passes, and repaired if it filled in."""
    url = fresh_database(tmp_path)
    # ION's follow-up write lands after 1 s; the re-check comes at creation + 1.5 s.
    with ion_user(make_world(settle_delay_seconds=1.0)) as ion:
        settings = settings_for(
            ion.url, url, reconcile_settle_delays_seconds=[1.5], reconcile_overlap_seconds=1
        )
        engine = make_engine(url)

        async def main() -> tuple[Any, Any]:
            async with ReconcileService(settings, engine) as service:
                await service.run(RunOptions(trigger="cli"))  # baseline of an empty ION
                po = await asyncio.to_thread(ion.create, "PURCHASE_ORDERS", cost=12.5)
                assert service.targeted is not None
                service.on_ingested(_event("PURCHASE_ORDERS", po, "CREATE"))
                await service.targeted.settled()
                first = [b["data"]["estimatedTotalCost"] for b in repairs(engine)]
                deadline = asyncio.get_running_loop().time() + 5
                while len(repairs(engine)) < 2 and asyncio.get_running_loop().time() < deadline:
                    await service.recheck()
                    await asyncio.sleep(0.05)
                return first, [b["data"]["estimatedTotalCost"] for b in repairs(engine)]

        first, after = asyncio.run(main())
        assert first == [None]  # held back by ION at creation
        assert after == [None, 12.5]


def test_new_lines_are_found_by_the_poll_without_any_event(tmp_path: Any) -> None:
    """ION fires nothing for a new line; the poll on `_created` sends it as a complete CREATE."""
    url = fresh_database(tmp_path)
    with ion_user(make_world()) as ion:
        po = ion.create("PURCHASE_ORDERS", description="Order")
        settings = settings_for(ion.url, url)
        engine = make_engine(url)

        async def main() -> int:
            async with ReconcileService(settings, engine) as service:
                await service.run(RunOptions(trigger="cli"))
                line = await asyncio.to_thread(
                    ion.create, "PURCHASE_ORDER_LINES", purchaseOrderId=po, quantity=4.0
                )
                ion.reset_stats()
                tally = await service.poll_lines()
                assert tally.kinds == {"new_line": 1}
                assert ion.stats()["graphql_requests"] == 1
                return line

        line = asyncio.run(main())
        body = next(b for b in repairs(engine) if b["resource"] == "PURCHASE_ORDER_LINES")
        assert (body["action"], body["id"], body["data"]["quantity"]) == ("CREATE", line, 4.0)


def test_each_repair_is_logged_with_the_trigger_that_made_it_and_no_values(tmp_path: Any) -> None:
    """Operators (and the bench) can tell a targeted repair from a poll's or a run's: every
    repair is an info line naming its trigger, its object and kind, and never ION's values."""
    url = fresh_database(tmp_path)
    with ion_user(make_world()) as ion:
        supplier = ion.create("SUPPLIERS", name="Acme")
        po = ion.create("PURCHASE_ORDERS", supplierId=supplier)
        settings = settings_for(ion.url, url, reconcile_debounce_seconds=0.05)
        engine = make_engine(url)

        async def main() -> None:
            async with ReconcileService(settings, engine) as service:
                assert service.targeted is not None
                service.on_ingested(_event("PURCHASE_ORDERS", po))
                await service.targeted.settled()
                await asyncio.to_thread(
                    ion.create, "PURCHASE_ORDER_LINES", purchaseOrderId=po, quantity=4.0
                )
                await service.poll_lines()
                await asyncio.to_thread(ion.update, "SUPPLIERS", supplier, name="Acme Secret")
                await service.run(RunOptions(trigger="cli"))

        stream = io.StringIO()
        configure_logging(level="info", fmt="json", stream=stream)  # conftest restores it
        asyncio.run(main())
    logs = [json.loads(line) for line in stream.getvalue().splitlines()]
    found = [
        (line["trigger"], line["resource"], line["kind"])
        for line in logs
        if line["event"] == "reconcile.repair"
    ]
    assert found == [
        ("webhook", "PURCHASE_ORDERS", "new_object"),
        ("new_line_poll", "PURCHASE_ORDER_LINES", "new_line"),
        ("cli", "SUPPLIERS", "new_object"),  # never sent to Violet before: sent whole
        ("cli", "PURCHASE_ORDERS", "linked"),  # embeds it: its supplier's name repaired
    ]
    repaired = [line for line in logs if line["event"] == "reconcile.repair"]
    assert all(line["level"] == "info" and line["changed_at"] for line in repaired)
    assert "Acme Secret" not in repr(repaired)
