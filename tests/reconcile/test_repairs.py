"""Repair decisions: which objects need a complete event, and which gap each one closes."""

from __future__ import annotations

from datetime import timedelta

from bridge.reconcile import repairs, violet_view
from bridge.reconcile.repairs import decide
from bridge.sandbox import tracked
from tests.reconcile.test_violet_view import complete_po

PO, LINES = "PURCHASE_ORDERS", "PURCHASE_ORDER_LINES"
WINDOW = timedelta(seconds=300)


def line(**overrides: object) -> dict[str, object]:
    obj: dict[str, object] = {
        "id": 5,
        "_created": "2026-11-22T10:00:00+00:00",
        "_updated": "2026-11-22T10:00:00+00:00",
        "purchaseOrderId": 1,
        "status": "DRAFT",
        "quantity": 3.0,
        "cost": None,
        "needDate": None,
        "estimatedArrivalDate": None,
        "part": {
            "id": 2,
            "partNumber": "PN-1",
            "revision": "A",
            "_updated": "2026-11-22T09:00:00+00:00",
        },
    }
    obj.update(overrides)
    return obj


def test_no_repair_when_violet_will_hold_the_truth() -> None:
    """An object whose predicted record equals ION's state gets no repair (no noise)."""
    obj = complete_po()
    assert decide(PO, obj, tracked.tracked_values(PO, obj), settle_window=WINDOW) is None


def test_new_line_is_a_complete_create() -> None:
    """A line Violet has no record of is sent as a complete CREATE, kind new_line."""
    repair = decide(LINES, line(), None, settle_window=WINDOW)
    assert repair is not None
    assert (repair.action, repair.kind, repair.entity_id) == ("CREATE", repairs.NEW_LINE, "5")
    assert tracked.is_complete(LINES, repair.data)
    assert repair.changed_at is not None
    assert repair.changed_at.minute == 0


def test_a_line_violet_knows_only_from_an_update_is_still_a_new_line() -> None:
    """A line whose only native event was an UPDATE (no CREATE ever came) is a new_line gap."""
    repair = decide(LINES, line(cost=2.5), {"cost": None}, settle_window=WINDOW)
    assert repair is not None
    assert (repair.kind, repair.action) == (repairs.NEW_LINE, "UPDATE")


def test_linked_field_wrong_is_a_linked_repair() -> None:
    """A PO whose ship-to address Violet lacks is repaired as `linked`, with the object embedded."""
    obj = complete_po()
    record = {**tracked.tracked_values(PO, obj), "shipToLocation.address": None}
    repair = decide(PO, obj, record, settle_window=WINDOW)
    assert repair is not None
    assert repair.kind == repairs.LINKED
    assert repair.fields == ("shipToLocation.address",)
    assert repair.data["shipToLocation"]["address"] == "2 Quay St"


def test_empty_to_populated_and_late_fields() -> None:
    """A field Violet holds empty is empty_to_populated, or late_fields soon after creation."""
    old = line(cost=12.5, _updated="2026-11-23T10:00:00+00:00")
    record = {**tracked.tracked_values(LINES, old), "cost": None}
    assert decide(LINES, old, record, settle_window=WINDOW).kind == repairs.EMPTY_TO_POPULATED  # type: ignore[union-attr]
    young = line(cost=12.5, _updated="2026-11-22T10:00:01+00:00")
    assert decide(LINES, young, record, settle_window=WINDOW).kind == repairs.LATE_FIELDS  # type: ignore[union-attr]


def test_wrong_non_empty_value_is_drift() -> None:
    """A value Violet holds that differs from ION (a lost event) is drift, sent as UPDATE."""
    obj = complete_po()
    record = {**tracked.tracked_values(PO, obj), "status": "DRAFT"}
    repair = decide(PO, obj, record, settle_window=WINDOW)
    assert repair is not None
    assert (repair.kind, repair.action) == (repairs.DRIFT, "UPDATE")


def test_changed_at_takes_the_newest_relevant_link() -> None:
    """The gap starts at the newest `_updated` of the object or the wrong linked object."""
    obj = complete_po(
        shipToLocation={"id": 3, "name": "D", "address": "A", "_updated": "2026-11-22T11:00:00Z"}
    )
    stamp = repairs.changed_at(obj, ["shipToLocation.address"])
    assert stamp is not None
    assert stamp.hour == 11
    assert violet_view.wrong_fields(PO, None, {}) == list(tracked.TRACKED[PO])
