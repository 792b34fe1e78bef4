"""The one module that knows what ION's webhook body looks like (ion.md: mostly assumed).

The reference body (contract.md)::

    {"event_id": 9001, "subscription_id": 12, "resource": "PURCHASE_ORDERS", "action": "UPDATE",
     "id": 42, "timestamp": "...", "changes": {...}, "data": {...}}

Parsing is deliberately forgiving in one direction only: whatever ION sends is forwarded byte for
byte, so a body this module does not understand is not an error but a *pass-through* (`parse`
returns None) deduplicated by its hash and sent without per-object ordering. Only a body with a
usable `event_id` and `resource` becomes an `IonEvent`; every string kept from it is checked to be
storable (no NUL, valid UTF-8, bounded length), so a hostile body can never fail the batch it is
committed with.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bridge.clock import isoformat_z

#: event_id is stored in a BIGINT column.
MAX_EVENT_ID = 2**63 - 1
MIN_EVENT_ID = -(2**63)
_MAX_RESOURCE = 64
_MAX_ACTION = 16
_MAX_ENTITY_ID = 64


@dataclass(frozen=True, kw_only=True)
class IonEvent:
    """What the bridge reads out of one ION delivery. Only `event_id` is guaranteed."""

    event_id: int
    resource: str
    subscription_id: int | None = None
    action: str | None = None
    entity_id: str | None = None
    timestamp: str | None = None
    changes: Mapping[str, Any] | None = None
    data: Mapping[str, Any] | None = None
    #: Set by the inbox, not by parsing: the event was older than one already accepted for the
    #: same object, so it was stored but not forwarded (a repair should follow).
    superseded: bool = False

    @property
    def dedupe_key(self) -> str:
        return f"ion:{self.event_id}"

    @property
    def entity_key(self) -> str | None:
        """`RESOURCE:id`, the unit of ordering; None when the body names no object."""
        if self.entity_id is None:
            return None
        return entity_key(self.resource, self.entity_id)


def entity_key(resource: str, entity_id: str | int) -> str:
    """The ordering key shared by forwarded events and repairs of the same object."""
    return f"{resource.strip().upper()}:{entity_id}"


def passthrough_key(body: bytes) -> str:
    """Dedupe key of a body that could not be parsed: the same bytes are the same delivery."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


def parse(body: bytes) -> IonEvent | None:
    """The event in `body`, or None when the body must be passed through unparsed."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    if not isinstance(document, dict):
        return None
    event_id = _int(document.get("event_id"))
    resource = _text(document.get("resource"), _MAX_RESOURCE)
    if event_id is None or resource is None:
        return None
    data = _mapping(document.get("data"))
    raw_id = document["id"] if "id" in document else (data or {}).get("id")
    return IonEvent(
        event_id=event_id,
        resource=resource.strip().upper(),
        subscription_id=_int(document.get("subscription_id")),
        action=_upper(_text(document.get("action"), _MAX_ACTION)),
        entity_id=_entity_id(raw_id),
        timestamp=_text(document.get("timestamp"), 64),
        changes=_mapping(document.get("changes")),
        data=data,
    )


def build_event(
    *,
    resource: str,
    action: str,
    entity_id: str | int,
    data: Mapping[str, Any],
    now: datetime,
    event_id: int | None = None,
) -> bytes:
    """A repair event in ION's envelope, `data` being the complete GraphQL-shaped object.

    `subscription_id` is null and `changes` empty: nothing in ION produced it, and Violet's
    stand-in (like Violet, by assumption) replaces the record from a complete `data`.
    """
    envelope = {
        "event_id": event_id,
        "subscription_id": None,
        "resource": resource,
        "action": action,
        "id": entity_id,
        "timestamp": isoformat_z(now),
        "changes": {},
        "data": dict(data),
    }
    return json.dumps(envelope, separators=(",", ":"), default=str).encode("utf-8")


def _int(value: object) -> int | None:
    # bool is an int in Python, but `true` is not an id.
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if MIN_EVENT_ID <= value <= MAX_EVENT_ID else None


def _text(value: object, limit: int) -> str | None:
    if not isinstance(value, str) or not value.strip() or len(value) > limit or "\x00" in value:
        return None
    try:
        value.encode("utf-8")  # a lone surrogate ("\ud800") parses but cannot be stored
    except UnicodeEncodeError:
        return None
    return value


def _upper(value: str | None) -> str | None:
    return value.strip().upper() if value is not None else None


def _entity_id(value: object) -> str | None:
    number = _int(value)
    if number is not None:
        return str(number)
    return _text(value, _MAX_ENTITY_ID)


def _mapping(value: object) -> Mapping[str, Any] | None:
    return value if isinstance(value, dict) else None
