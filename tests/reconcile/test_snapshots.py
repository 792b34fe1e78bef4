"""Folding deliveries into Violet's record: what it holds now, and what it will hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bridge.reconcile.batch import is_baseline, next_recheck
from bridge.reconcile.snapshots import KnownView, Sent, settle, spelling

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
PO = "PURCHASE_ORDERS"


def sent(
    i: int, status: str, *, status_new: str, at: int | None = None, origin: str = "ion"
) -> Sent:
    body = {
        "resource": PO,
        "action": "UPDATE",
        "id": 1,
        "changes": {"status": {"old": None, "new": status_new}},
    }
    completed = T0 + timedelta(seconds=at) if at is not None else None
    return Sent(id=i, status=status, origin=origin, resource=PO, completed_at=completed, body=body)


def test_settle_folds_completed_in_completion_order_then_queued_in_id_order() -> None:
    """Succeeded deliveries apply in completion order; queued ones on top, predicting the end."""
    deliveries = [
        sent(2, "SUCCEEDED", status_new="approved", at=5),
        sent(1, "SUCCEEDED", status_new="draft", at=3),
        sent(4, "PENDING", status_new="received"),
        sent(3, "SENDING", status_new="ordered"),
        sent(5, "FAILED", status_new="canceled", at=9),
    ]
    known, predicted = settle(KnownView(record=None, through=None), deliveries)
    assert known.record == {"status": "APPROVED"}
    assert known.through == (T0 + timedelta(seconds=5), 2)
    assert predicted == {"status": "RECEIVED"}


def test_settle_skips_what_the_marker_already_covers() -> None:
    """Deliveries at or before the stored marker are not applied twice."""
    known = KnownView(record={"status": "ORDERED"}, through=(T0 + timedelta(seconds=5), 2))
    again, predicted = settle(known, [sent(2, "SUCCEEDED", status_new="draft", at=5)])
    assert (again.record, again.through) == (known.record, known.through)
    assert predicted == {"status": "ORDERED"}
    assert KnownView.from_json(known.as_json()) == known


def test_repairs_use_the_spelling_of_ions_own_deliveries() -> None:
    """A repair shares the entity key of ION's deliveries of the object (singular or plural)."""
    singular = Sent(
        id=1,
        status="SUCCEEDED",
        origin="ion",
        resource="PURCHASE_ORDER",
        completed_at=T0,
        body=None,
    )
    known, _ = settle(KnownView(record=None, through=None), [singular])
    assert spelling(PO, known) == "PURCHASE_ORDER"
    assert spelling(PO, settle(known, [])[0]) == "PURCHASE_ORDER"
    assert spelling(PO, KnownView(record=None, through=None)) == PO


def test_rechecks_follow_creation_plus_each_settle_delay() -> None:
    """A new object is fetched again at _created + each delay, then no more."""
    assert next_recheck(T0, T0 + timedelta(seconds=1), (30, 300)) == (T0 + timedelta(seconds=30), 0)
    assert next_recheck(T0, T0 + timedelta(seconds=31), (30, 300)) == (
        T0 + timedelta(seconds=300),
        1,
    )
    assert next_recheck(T0, T0 + timedelta(seconds=301), (30, 300)) == (None, 2)
    assert next_recheck(None, T0, (30,)) == (None, 1)


def test_baseline_assumes_only_objects_older_than_the_cutoff() -> None:
    """Objects changed before the cutoff are assumed right in Violet on a first walk."""
    obj = {"id": 1, "_updated": T0.isoformat()}
    assert is_baseline(obj, T0 + timedelta(seconds=1))
    assert not is_baseline(obj, T0)
    assert not is_baseline(obj, None)
