"""The Violet stand-in over real HTTP: capability URL, request log, fault switches."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from bridge.sandbox.serving import serving
from bridge.sandbox.violet import VioletWorld, create_app

CREATE = {
    "event_id": 1,
    "subscription_id": 1,
    "resource": "SUPPLIERS",
    "action": "CREATE",
    "id": 7,
    "data": {"id": 7, "name": "Acme", "address": "1 Main St", "contact_name": None},
}


@pytest.fixture(scope="module")
def world() -> VioletWorld:
    return VioletWorld(token="tok-123")


@pytest.fixture(scope="module")
def server_url(world: VioletWorld) -> Iterator[str]:
    with serving(create_app(world)) as server:
        yield server.url


@pytest.fixture
def client(world: VioletWorld, server_url: str) -> Iterator[httpx.Client]:
    world.reset()
    world.clear_faults()
    with httpx.Client(base_url=server_url, timeout=5) as http:
        yield http


def test_hook_updates_view_and_answers_200(client: httpx.Client) -> None:
    """A webhook at the right token answers 200 and shows up in the state."""
    assert client.post("/hooks/tok-123", json=CREATE).status_code == 200
    state = client.get("/_sandbox/state").json()
    assert state["SUPPLIERS"] == {"7": {"name": "Acme", "address": "1 Main St"}}
    assert set(state) == {
        "PURCHASE_ORDERS",
        "PURCHASE_ORDER_LINES",
        "LOCATIONS",
        "SUPPLIERS",
        "PARTS",
    }


def test_wrong_token_is_404_and_changes_nothing(client: httpx.Client) -> None:
    """A wrong token answers a bare 404 and leaves the view alone."""
    answer = client.post("/hooks/tok-124", json=CREATE)
    assert answer.status_code == 404
    assert "tok" not in answer.text
    assert client.get("/_sandbox/state").json()["SUPPLIERS"] == {}


def test_request_log_records_headers_body_status(client: httpx.Client) -> None:
    """Every request is logged with lower-cased headers, body text and the status answered."""
    client.post("/hooks/tok-123", json=CREATE, headers={"X-Bridge-Origin": "ion"})
    client.post("/hooks/tok-123", content=b"not json")
    log = client.get("/_sandbox/requests").json()
    assert [entry["index"] for entry in log] == [0, 1]
    assert log[0]["headers"]["x-bridge-origin"] == "ion"
    assert (log[0]["status"], log[0]["applied"]) == (200, True)
    assert (log[1]["body"], log[1]["status"], log[1]["applied"]) == ("not json", 200, False)
    assert [entry["index"] for entry in client.get("/_sandbox/requests?since=1").json()] == [1]


def test_status_fault_with_count_then_recovers(client: httpx.Client) -> None:
    """`status` + `count` fails the next N requests, which are logged but not applied."""
    client.post("/_sandbox/faults", json={"status": 503, "count": 2})
    statuses = [client.post("/hooks/tok-123", json=CREATE).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    log = client.get("/_sandbox/requests").json()
    assert [(entry["status"], entry["applied"]) for entry in log] == [
        (503, False),
        (503, False),
        (200, True),
    ]


def test_status_fault_without_count_lasts_until_cleared(client: httpx.Client) -> None:
    """A status fault without a count lasts until cleared; faulted requests change nothing."""
    client.post("/_sandbox/faults", json={"status": 429})
    assert [client.post("/hooks/tok-123", json=CREATE).status_code for _ in range(3)] == [429] * 3
    assert client.get("/_sandbox/state").json()["SUPPLIERS"] == {}
    client.delete("/_sandbox/faults")
    assert client.post("/hooks/tok-123", json=CREATE).status_code == 200


def test_retry_after_is_added_to_fault_answers(client: httpx.Client) -> None:
    """`retry_after` adds a Retry-After header to fault answers only."""
    client.post("/_sandbox/faults", json={"retry_after": 7})
    assert "retry-after" not in client.post("/hooks/tok-123", json=CREATE).headers
    client.post("/_sandbox/faults", json={"status": 503, "count": 1})
    assert client.post("/hooks/tok-123", json=CREATE).headers["retry-after"] == "7"


def test_delay_slows_answers(client: httpx.Client) -> None:
    """`delay_ms` holds every answer back by at least that long."""
    client.post("/_sandbox/faults", json={"delay_ms": 200})
    started = time.monotonic()
    assert client.post("/hooks/tok-123", json=CREATE).status_code == 200
    assert time.monotonic() - started >= 0.2


def test_drop_closes_connection_without_answer(client: httpx.Client) -> None:
    """`drop` closes the next N connections with no status line; the log says so."""
    client.post("/_sandbox/faults", json={"drop": 1})
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/hooks/tok-123", json=CREATE)
    assert client.post("/hooks/tok-123", json=CREATE).status_code == 200
    log = client.get("/_sandbox/requests").json()
    assert [(entry["status"], entry["dropped"]) for entry in log] == [(None, True), (200, False)]


def test_bad_fault_spec_is_400(client: httpx.Client) -> None:
    """An unknown key or a wrong type in a fault switch is refused with 400."""
    assert client.post("/_sandbox/faults", json={"explode": True}).status_code == 400
    assert client.post("/_sandbox/faults", json={"status": "503"}).status_code == 400
    assert client.get("/_sandbox/faults").json()["status"] is None


def test_field_times_and_reset(client: httpx.Client) -> None:
    """Field change times are served, and reset forgets view and log."""
    client.post("/hooks/tok-123", json=CREATE)
    times = client.get("/_sandbox/field-times").json()["SUPPLIERS"]["7"]
    assert set(times) == {"name", "address"}
    client.post("/_sandbox/reset")
    assert client.get("/_sandbox/requests").json() == []
    assert client.get("/_sandbox/state").json()["SUPPLIERS"] == {}
