"""Random bodies and headers never make the inbox answer 500, and every acknowledged body is
in the store (a property test over real HTTP)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.inbox import codec
from bridge.store.db import session_scope
from bridge.store.models import Delivery
from tests.harness import (
    RunningBridge,
    module_database_url,
    running_bridge,
    settings_for,
    sign,
)

__all__ = ["module_database_url"]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
envelopes = st.fixed_dictionaries(
    {},
    optional={
        "event_id": st.integers(min_value=-(2**64), max_value=2**64) | json_values,
        "resource": st.sampled_from(["PARTS", "purchase_orders", "", "X" * 70]) | json_values,
        "action": st.sampled_from(["CREATE", "UPDATE"]) | json_values,
        "id": st.integers() | st.text(max_size=70) | json_values,
        "changes": json_values,
        "data": json_values,
    },
)
bodies = (
    envelopes.map(lambda d: json.dumps(d).encode())
    | st.binary(max_size=300)
    | json_values.map(lambda v: json.dumps(v).encode())
    | st.text(max_size=100).map(lambda t: t.encode("utf-8", "surrogatepass"))
)


@pytest.fixture(scope="module")
def bridge(module_database_url: str) -> Iterator[RunningBridge]:
    # Violet is unreachable (port 9): the fuzz is about ingest; deliveries just wait to retry.
    settings = settings_for(module_database_url, "http://127.0.0.1:9/hooks/x")
    with running_bridge(settings) as running:
        yield running


def stored(running: RunningBridge, delivery_id: int) -> Delivery | None:
    with session_scope(running.bridge.engine) as session:
        return session.get(Delivery, delivery_id)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=bodies,
    signed=st.booleans(),
    content_type=st.sampled_from(["application/json", "text/plain", "x" * 300, ""]),
)
def test_random_bodies_never_500_and_acknowledged_means_stored(
    bridge: RunningBridge, body: bytes, signed: bool, content_type: str
) -> None:
    """Whatever arrives: no 500; a 200 names a stored delivery holding this event or body."""
    headers: dict[str, Any] = {"content-type": content_type}
    if signed:
        headers["x-ion-signature"] = sign(body)
    answer = bridge.http.post("/webhooks/ion", content=body, headers=headers)
    assert answer.status_code in (200, 400, 401)
    if not signed:
        assert answer.status_code == 401
    if answer.status_code != 200:
        return
    row = stored(bridge, answer.json()["delivery_id"])
    assert row is not None
    event = codec.parse(body)
    if answer.json()["status"] == "accepted":
        assert row.body == body
        assert row.content_type == content_type
    expected_key = event.dedupe_key if event else codec.passthrough_key(body)
    assert row.dedupe_key == expected_key
