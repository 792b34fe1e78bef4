"""The tracked fields: what "Violet's view" and ION's truth are compared on.

One table shared by the Violet stand-in (to build its view), the ION stand-in (to compute the
truth), the convergence report and the reconciler (to decide what Violet has wrong). Field paths
are GraphQL names; a dotted path reads a linked object (`shipToLocation.address`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

TRACKED: dict[str, tuple[str, ...]] = {
    "PURCHASE_ORDERS": (
        "status",
        "description",
        "needDate",
        "estimatedArrivalDate",
        "estimatedTotalCost",
        "supplier.name",
        "shipToLocation.name",
        "shipToLocation.address",
    ),
    "PURCHASE_ORDER_LINES": (
        "purchaseOrderId",
        "status",
        "quantity",
        "cost",
        "needDate",
        "estimatedArrivalDate",
        "part.partNumber",
        "part.revision",
    ),
    "LOCATIONS": ("name", "address"),
    "SUPPLIERS": ("name", "address"),
    "PARTS": ("partNumber", "revision", "description"),
}


#: Tracked fields that are plain columns of the row, by their database (snake_case) name.
#: ION's native webhook bodies carry these; linked objects' fields they cannot carry.
def snake(name: str) -> str:
    """GraphQL field name to database column name (`needDate` -> `need_date`)."""
    return "".join("_" + c.lower() if c.isupper() else c for c in name)


def camel(column: str) -> str:
    """Database column name to GraphQL field name (`need_date` -> `needDate`)."""
    head, *rest = column.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


COLUMN_OF: dict[str, dict[str, str]] = {
    resource: {path: snake(path) for path in paths if "." not in path}
    for resource, paths in TRACKED.items()
}

#: Top-level keys a complete GraphQL-shaped object must hold (linked objects embedded or null).
TOP_LEVEL_KEYS: dict[str, tuple[str, ...]] = {
    resource: tuple(dict.fromkeys(path.split(".")[0] for path in paths))
    for resource, paths in TRACKED.items()
}


def normalize(value: Any) -> Any:
    """Compare values as the contract says: enums upper-case, dates and numbers by value."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | Decimal):
        return _number(value)
    if isinstance(value, datetime | date):
        return _date(value)
    if isinstance(value, str):
        text = value.strip()
        parsed = _parse_date(text)
        if parsed is not None:
            return parsed
        number = _parse_number(text)
        if number is not None:
            return number
        if text.replace("_", "").isalpha() and (text.islower() or text.isupper()):
            return text.upper()
        return text
    return value


def _number(value: int | float | Decimal) -> str:
    return format(Decimal(str(value)).normalize(), "f")


def _parse_number(text: str) -> str | None:
    try:
        return _number(Decimal(text))
    except (InvalidOperation, ValueError):
        return None


def _date(value: datetime | date) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.date().isoformat() if _is_midnight(value) else value.isoformat()
    return value.isoformat()


def _is_midnight(value: datetime) -> bool:
    return (value.hour, value.minute, value.second, value.microsecond) == (0, 0, 0, 0)


def _parse_date(text: str) -> str | None:
    if len(text) < 10 or text[4:5] != "-" or text[7:8] != "-":
        return None
    try:
        if len(text) == 10:
            return date.fromisoformat(text).isoformat()
        return _date(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        return None


def read_path(obj: Mapping[str, Any] | None, path: str) -> Any:
    """The value at a dotted GraphQL path, None where a link is missing."""
    current: Any = obj
    for part in path.split("."):
        if not isinstance(current, Mapping):
            return None
        current = current.get(part)
    return current


def tracked_values(resource: str, obj: Mapping[str, Any]) -> dict[str, Any]:
    """The normalized tracked fields of a GraphQL-shaped object."""
    return {path: normalize(read_path(obj, path)) for path in TRACKED[resource]}


def is_complete(resource: str, data: Mapping[str, Any]) -> bool:
    """True when `data` is a complete object in ION's GraphQL shape for `resource`.

    Complete: every tracked top-level key is present, and linked objects are embedded as objects
    (or null where there is none), never as bare ids.
    """
    if resource not in TRACKED:
        return False
    for path in TRACKED[resource]:
        head, _, rest = path.partition(".")
        if head not in data:
            return False
        if rest and data[head] is not None and not isinstance(data[head], Mapping):
            return False
    return True


def diff(
    truth: Mapping[str, Mapping[str, Any]], view: Mapping[str, Mapping[str, Any]]
) -> list[tuple[str, str, Any, Any]]:
    """(entity id, field, truth, view) for every tracked field that differs.

    `truth` and `view` map an entity id to its normalized tracked fields; an entity missing from
    the view counts every field as wrong.
    """
    out: list[tuple[str, str, Any, Any]] = []
    for entity_id, fields in truth.items():
        seen = view.get(entity_id, {})
        for field, value in fields.items():
            if normalize(seen.get(field)) != normalize(value):
                out.append((entity_id, field, value, seen.get(field)))
    return out
