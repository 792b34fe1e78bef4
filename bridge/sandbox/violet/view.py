"""Violet's view: the tracked fields of each object as Violet would hold them.

The rules follow the contract. ION's native events update only what they carry in a form Violet
supports: on CREATE the row's tracked columns plus linked objects embedded under their GraphQL
name, on UPDATE only `changes[*].new`. A foreign-key id alone tells Violet nothing about the
linked object. A body whose `data` is a complete object in ION's GraphQL shape replaces the record
outright (the bridge's repair events), whatever its action.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bridge.sandbox import tracked

Key = tuple[str, str]

#: Today's ION docs spell resources in the singular; the 2023 schema in the plural.
_SINGULAR = {
    "PURCHASE_ORDER": "PURCHASE_ORDERS",
    "PURCHASE_ORDER_LINE": "PURCHASE_ORDER_LINES",
    "LOCATION": "LOCATIONS",
    "SUPPLIER": "SUPPLIERS",
    "PART": "PARTS",
}


def canonical_resource(name: object) -> str | None:
    """The tracked resource a body names, in either spelling; None when it is not tracked."""
    if not isinstance(name, str):
        return None
    upper = name.strip().upper()
    upper = _SINGULAR.get(upper, upper)
    return upper if upper in tracked.TRACKED else None


def is_graphql_shaped(resource: str, data: Mapping[str, Any]) -> bool:
    """A complete object in ION's GraphQL shape, as opposed to a native snake_case row.

    `is_complete` alone cannot tell them apart for locations and suppliers, whose tracked fields
    are single words (`name`, `address`) and so read the same in both shapes; a native row gives
    itself away by its multi-word snake_case columns (`parent_id`, `ship_to_location_id`).
    """
    if not tracked.is_complete(resource, data):
        return False
    return not any("_" in key.lstrip("_") for key in data)


class View:
    """Per (resource, id) the normalized tracked fields, and when each one last changed."""

    def __init__(self) -> None:
        self.records: dict[Key, dict[str, Any]] = {}
        self.changed_at: dict[Key, dict[str, float]] = {}

    def apply(self, body: object, now: float) -> bool:
        """Apply one webhook body; False when it carries nothing Violet can use."""
        if not isinstance(body, Mapping):
            return False
        resource = canonical_resource(body.get("resource"))
        action = str(body.get("action", "")).upper()
        data = body.get("data")
        data = data if isinstance(data, Mapping) else {}
        entity_id = body.get("id", data.get("id"))
        if resource is None or entity_id is None:
            return False
        key = (resource, str(entity_id))
        if data and is_graphql_shaped(resource, data):
            self._replace(key, tracked.tracked_values(resource, data), now)
        elif action == "DELETE":
            self.records.pop(key, None)
            self.changed_at.pop(key, None)
        elif action == "CREATE":
            self._merge(key, _native_fields(resource, data), now)
        elif action == "UPDATE":
            self._merge(key, _native_changes(resource, body.get("changes")), now)
        else:
            return False
        return True

    def state(self) -> dict[str, dict[str, dict[str, Any]]]:
        """The view in the shape of ION's truth: resource -> id -> field -> value."""
        out: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in tracked.TRACKED}
        for (resource, entity_id), fields in sorted(self.records.items()):
            out[resource][entity_id] = {p: fields.get(p) for p in tracked.TRACKED[resource]}
        return out

    def field_times(self) -> dict[str, dict[str, dict[str, float]]]:
        """When each field last changed: resource -> id -> field -> epoch seconds."""
        out: dict[str, dict[str, dict[str, float]]] = {name: {} for name in tracked.TRACKED}
        for (resource, entity_id), times in sorted(self.changed_at.items()):
            out[resource][entity_id] = dict(times)
        return out

    def _replace(self, key: Key, fields: dict[str, Any], now: float) -> None:
        old = self.records.get(key, {})
        gone = {path: None for path in old if path not in fields}
        self._merge(key, {**gone, **fields}, now)

    def _merge(self, key: Key, fields: Mapping[str, Any], now: float) -> None:
        record = self.records.setdefault(key, {})
        times = self.changed_at.setdefault(key, {})
        for path, value in fields.items():
            if path not in record or record[path] != value:
                times[path] = now
            record[path] = value


def _native_fields(resource: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """Tracked fields a native CREATE row carries: its columns and any embedded linked objects."""
    out: dict[str, Any] = {}
    for path, column in tracked.COLUMN_OF[resource].items():
        if column in data:
            out[path] = tracked.normalize(data[column])
    out.update(_linked_fields(resource, {k: v for k, v in data.items() if k in _links(resource)}))
    return out


def _native_changes(resource: str, changes: object) -> dict[str, Any]:
    """Tracked fields a native UPDATE carries: `changes[column].new`, and linked objects' `new`."""
    if not isinstance(changes, Mapping):
        return {}
    out: dict[str, Any] = {}
    for path, column in tracked.COLUMN_OF[resource].items():
        change = changes.get(column)
        if isinstance(change, Mapping) and "new" in change:
            out[path] = tracked.normalize(change["new"])
    linked = {
        link: change["new"]
        for link, change in changes.items()
        if link in _links(resource) and isinstance(change, Mapping) and "new" in change
    }
    out.update(_linked_fields(resource, linked))
    return out


def _links(resource: str) -> set[str]:
    return {path.split(".")[0] for path in tracked.TRACKED[resource] if "." in path}


def _linked_fields(resource: str, linked: Mapping[str, Any]) -> dict[str, Any]:
    """Fields of linked objects embedded as objects; a bare id (not an object) gives nothing."""
    out: dict[str, Any] = {}
    for path in tracked.TRACKED[resource]:
        link, _, _field = path.partition(".")
        if not _field or link not in linked:
            continue
        obj = linked[link]
        if obj is None or isinstance(obj, Mapping):
            out[path] = tracked.normalize(tracked.read_path({link: obj}, path))
    return out
