"""The codec: what the bridge reads out of ION's webhook body, and the repair envelope."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bridge.inbox import codec

REFERENCE = (
    b'{"event_id": 9001, "subscription_id": 12, "resource": "PURCHASE_ORDERS", '
    b'"action": "UPDATE", "id": 42, "timestamp": "2026-11-22T10:15:03.120Z", '
    b'"changes": {"status": {"old": "approved", "new": "ordered"}}, '
    b'"data": {"id": 42, "status": "ordered", "supplier_id": 7}}'
)


def test_reference_body_parses_into_an_event() -> None:
    """The contract's reference body yields every field, with the ordering key."""
    event = codec.parse(REFERENCE)
    assert event is not None
    assert event.event_id == 9001
    assert event.subscription_id == 12
    assert event.resource == "PURCHASE_ORDERS"
    assert event.action == "UPDATE"
    assert event.entity_id == "42"
    assert event.entity_key == "PURCHASE_ORDERS:42"
    assert event.dedupe_key == "ion:9001"
    assert event.changes == {"status": {"old": "approved", "new": "ordered"}}
    assert event.data is not None
    assert event.data["supplier_id"] == 7


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"\xff\xfe\x00garbage",
        b"[1, 2, 3]",
        b'"a string"',
        b'{"resource": "PARTS", "id": 1}',
        b'{"event_id": "9001", "resource": "PARTS"}',
        b'{"event_id": 9001.0, "resource": "PARTS"}',
        b'{"event_id": true, "resource": "PARTS"}',
        b'{"event_id": 9223372036854775808, "resource": "PARTS"}',
        b'{"event_id": 1, "resource": 5}',
        b'{"event_id": 1, "resource": ""}',
        b'{"event_id": 1, "resource": "A\\u0000B"}',
        b'{"event_id": 1, "resource": "\\ud800"}',
        b"[" * 100000,
    ],
)
def test_unusable_bodies_are_pass_through(body: bytes) -> None:
    """Anything without a storable event_id and resource is passed through, never an error."""
    assert codec.parse(body) is None


def test_biggest_event_id_that_fits_a_bigint_is_kept() -> None:
    """2^63-1 is still an event id; one more is a pass-through (covered above)."""
    event = codec.parse(b'{"event_id": 9223372036854775807, "resource": "PARTS", "id": 1}')
    assert event is not None
    assert event.event_id == 2**63 - 1


def test_odd_fields_are_dropped_but_the_event_is_kept() -> None:
    """Unexpected types in optional fields leave those fields empty, not the event unparsed."""
    body = json.dumps(
        {
            "event_id": 5,
            "resource": "parts",
            "action": ["UPDATE"],
            "id": {"nested": True},
            "changes": "none",
            "data": [1],
        }
    ).encode()
    event = codec.parse(body)
    assert event is not None
    assert event.resource == "PARTS"
    assert event.action is None
    assert event.entity_id is None
    assert event.entity_key is None
    assert event.changes is None
    assert event.data is None


def test_entity_id_falls_back_to_data_id() -> None:
    """Without a top-level id the object's id is read from data."""
    event = codec.parse(b'{"event_id": 5, "resource": "PARTS", "data": {"id": "p-9"}}')
    assert event is not None
    assert event.entity_key == "PARTS:p-9"


def test_passthrough_key_is_the_body_hash() -> None:
    """The same bytes give the same key; different bytes a different one."""
    assert codec.passthrough_key(b"x") == codec.passthrough_key(b"x")
    assert codec.passthrough_key(b"x") != codec.passthrough_key(b"y")
    assert codec.passthrough_key(b"x").startswith("sha256:")


def test_build_event_makes_the_envelope_and_parses_back() -> None:
    """A repair event has ION's envelope with the complete object and round-trips the codec."""
    now = datetime(2026, 11, 22, 10, 15, 3, 120000, tzinfo=UTC)
    data = {"id": 42, "status": "ORDERED", "shipToLocation": {"id": 3, "name": "Dock"}}
    body = codec.build_event(
        resource="PURCHASE_ORDERS", action="UPDATE", entity_id=42, data=data, now=now
    )
    document = json.loads(body)
    assert document == {
        "event_id": None,
        "subscription_id": None,
        "resource": "PURCHASE_ORDERS",
        "action": "UPDATE",
        "id": 42,
        "timestamp": "2026-11-22T10:15:03.120Z",
        "changes": {},
        "data": data,
    }
    assert codec.parse(body) is None  # no event_id: never mistaken for an ION event
    numbered = codec.build_event(
        resource="PARTS", action="CREATE", entity_id=1, data={}, now=now, event_id=77
    )
    parsed = codec.parse(numbered)
    assert parsed is not None
    assert parsed.event_id == 77


def test_entity_key_is_shared_by_both_spellings_of_case() -> None:
    """Repairs and ION events of one object share a key whatever the resource's case."""
    assert codec.entity_key("purchase_orders", 42) == codec.entity_key("PURCHASE_ORDERS", "42")
