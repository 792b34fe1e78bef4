"""What Violet holds: a pure model of Violet's record of one object, built from the requests the
bridge sent it.

This module is the single place that encodes the assumption about how Violet applies a webhook
body (violet.md, contract "Violet stand-in"); a test checks it against the Violet stand-in on the
same bodies. The rules:

- a body whose `data` is a complete object in ION's GraphQL shape (camelCase, every tracked
  top-level key present, linked objects embedded) replaces the record, whatever its action;
- a native DELETE removes the record;
- a native CREATE sets the tracked columns its snake_case `data` holds;
- a native UPDATE sets the tracked columns of `changes[column].new`;
- a foreign-key id tells Violet nothing about the linked object; only an embedded object (or
  null) does.

A record is `None` (Violet has nothing) or a dict path -> normalized value; a missing path reads
as `None`, as in Violet's view.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bridge.sandbox import tracked

Record = dict[str, Any]

#: Today's ION docs spell resources in the singular, the 2023 schema in the plural.
_SINGULAR = {
    "PURCHASE_ORDER": "PURCHASE_ORDERS",
    "PURCHASE_ORDER_LINE": "PURCHASE_ORDER_LINES",
    "LOCATION": "LOCATIONS",
    "SUPPLIER": "SUPPLIERS",
    "PART": "PARTS",
}


def tracked_resource(name: object) -> str | None:
    """The tracked resource (plural spelling) a body names; None when Violet does not track it."""
    if not isinstance(name, str):
        return None
    upper = name.strip().upper()
    upper = _SINGULAR.get(upper, upper)
    return upper if upper in tracked.TRACKED else None


def is_graphql_shaped(resource: str, data: Mapping[str, Any]) -> bool:
    """A complete GraphQL-shaped object rather than a native row.

    Locations' and suppliers' tracked fields are single words that read the same in both shapes;
    a native row gives itself away by multi-word snake_case columns (`ship_to_location_id`).
    """
    if not tracked.is_complete(resource, data):
        return False
    return not any("_" in key.lstrip("_") for key in data)


def body_target(body: object) -> tuple[str, str] | None:
    """(resource, entity id) of the record a body addresses; None when Violet ignores it."""
    if not isinstance(body, Mapping):
        return None
    resource = tracked_resource(body.get("resource"))
    data = body.get("data")
    entity_id = body.get("id", data.get("id") if isinstance(data, Mapping) else None)
    if resource is None or entity_id is None:
        return None
    return resource, str(entity_id)


def apply(record: Record | None, body: object) -> Record | None:
    """The record after Violet applies `body` to it (`body` addressed to this record)."""
    target = body_target(body)
    if target is None or not isinstance(body, Mapping):
        return record
    resource = target[0]
    action = str(body.get("action", "")).upper()
    data = body.get("data")
    data = data if isinstance(data, Mapping) else {}
    if data and is_graphql_shaped(resource, data):
        return dict(tracked.tracked_values(resource, data))
    if action == "DELETE":
        return None
    if action == "CREATE":
        return {**(record or {}), **_native_create(resource, data)}
    if action == "UPDATE":
        return {**(record or {}), **_native_update(resource, body.get("changes"))}
    return record


def fold(record: Record | None, bodies: Iterable[object]) -> Record | None:
    """The record after Violet applies each body in turn."""
    for body in bodies:
        record = apply(record, body)
    return record


def wrong_fields(resource: str, record: Record | None, truth: Mapping[str, Any]) -> list[str]:
    """Tracked paths where the record differs from ION's normalized `truth` (all if no record)."""
    if record is None:
        return list(tracked.TRACKED[resource])
    return [
        path
        for path in tracked.TRACKED[resource]
        if tracked.normalize(record.get(path)) != tracked.normalize(truth.get(path))
    ]


def _links(resource: str) -> set[str]:
    return {path.split(".")[0] for path in tracked.TRACKED[resource] if "." in path}


def _native_create(resource: str, data: Mapping[str, Any]) -> Record:
    out: Record = {}
    for path, column in tracked.COLUMN_OF[resource].items():
        if column in data:
            out[path] = tracked.normalize(data[column])
    out.update(_embedded(resource, {k: v for k, v in data.items() if k in _links(resource)}))
    return out


def _native_update(resource: str, changes: object) -> Record:
    if not isinstance(changes, Mapping):
        return {}
    out: Record = {}
    for path, column in tracked.COLUMN_OF[resource].items():
        change = changes.get(column)
        if isinstance(change, Mapping) and "new" in change:
            out[path] = tracked.normalize(change["new"])
    linked = {
        link: change["new"]
        for link, change in changes.items()
        if link in _links(resource) and isinstance(change, Mapping) and "new" in change
    }
    out.update(_embedded(resource, linked))
    return out


def _embedded(resource: str, linked: Mapping[str, Any]) -> Record:
    """Fields of linked objects embedded as objects (or null); a bare id gives nothing."""
    out: Record = {}
    for path in tracked.TRACKED[resource]:
        link, _, rest = path.partition(".")
        if not rest or link not in linked:
            continue
        obj = linked[link]
        if obj is None or isinstance(obj, Mapping):
            out[path] = tracked.normalize(tracked.read_path({link: obj}, path))
    return out
