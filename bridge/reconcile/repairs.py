"""Which complete events Violet needs: pure decisions, no I/O, no clock.

Input: an object as ION's GraphQL API returns it (complete, linked objects embedded) and the
record Violet is modelled to hold once everything already sent or queued for the object has been
applied (`violet_view`). Output: a repair carrying the complete object, or nothing. Comparing
with what Violet *will* hold, pending deliveries included, is what keeps the bridge quiet: an
object whose forwarded events already carry its current state gets no repair, and an object with
a repair already queued gets no second one.

Every repair is classified by the ION gap it closes, so gap-closure times can be reported per kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bridge.clock import parse_iso
from bridge.reconcile.catalog import PO_LINES
from bridge.reconcile.violet_view import Record, wrong_fields
from bridge.sandbox import tracked

NEW_LINE = "new_line"  # ION sends nothing when a PO line is created (limitation 1)
EMPTY_TO_POPULATED = "empty_to_populated"  # left out of `changes` (limitation 2)
LINKED = "linked"  # linked objects arrive as ids only (limitation 3)
LATE_FIELDS = "late_fields"  # new objects fill in after creation (limitation 4)
NEW_OBJECT = "new_object"  # Violet holds no record of an object ION has
DRIFT = "drift"  # anything else: a lost, failed or superseded delivery
KINDS = (NEW_LINE, EMPTY_TO_POPULATED, LINKED, LATE_FIELDS, NEW_OBJECT, DRIFT)


@dataclass(frozen=True, kw_only=True)
class Repair:
    """A complete event to send Violet for one object."""

    resource: str
    entity_id: str
    action: str  # CREATE when Violet holds no record, UPDATE otherwise
    data: dict[str, Any]
    kind: str
    fields: tuple[str, ...]  # tracked paths Violet has wrong
    #: When ION last changed what Violet has wrong (start of the gap), if ION says.
    changed_at: datetime | None


def decide(
    resource: str,
    obj: Mapping[str, Any],
    predicted: Record | None,
    *,
    settle_window: timedelta,
) -> Repair | None:
    """The repair `obj` needs given Violet's predicted record, or None when Violet will be right."""
    truth = tracked.tracked_values(resource, obj)
    wrong = wrong_fields(resource, predicted, truth)
    if not wrong:
        return None
    kind = classify(resource, obj, predicted, wrong, settle_window=settle_window)
    return Repair(
        resource=resource,
        entity_id=str(obj["id"]),
        action="CREATE" if predicted is None else "UPDATE",
        data=dict(obj),
        kind=kind,
        fields=tuple(wrong),
        changed_at=_created(obj) if kind in (NEW_LINE, NEW_OBJECT) else changed_at(obj, wrong),
    )


def classify(
    resource: str,
    obj: Mapping[str, Any],
    predicted: Record | None,
    wrong: list[str],
    *,
    settle_window: timedelta,
) -> str:
    """The gap a repair closes; the most specific kind wins."""
    if resource == PO_LINES and (predicted is None or predicted.get("purchaseOrderId") is None):
        # Violet never got the line's creation: at most a native UPDATE made it an empty record.
        return NEW_LINE
    if predicted is None:
        return NEW_OBJECT
    if any("." in path for path in wrong):
        return LINKED
    if all(tracked.normalize(predicted.get(path)) is None for path in wrong):
        created, updated = _created(obj), _timestamp(obj.get("_updated"))
        if created and updated and updated - created <= settle_window:
            return LATE_FIELDS
        return EMPTY_TO_POPULATED
    return DRIFT


def changed_at(obj: Mapping[str, Any], wrong: list[str]) -> datetime | None:
    """The newest `_updated` among the object and the linked objects Violet has wrong."""
    stamps = [_timestamp(obj.get("_updated"))]
    for link in {path.split(".")[0] for path in wrong if "." in path}:
        linked = obj.get(link)
        if isinstance(linked, Mapping):
            stamps.append(_timestamp(linked.get("_updated")))
    known = [stamp for stamp in stamps if stamp is not None]
    return max(known) if known else None


def _created(obj: Mapping[str, Any]) -> datetime | None:
    return _timestamp(obj.get("_created"))


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_iso(value)
    except ValueError:
        return None
