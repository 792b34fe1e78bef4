"""The admin API `/api/events*`: bearer guard, listing with filters and paging, resend."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from bridge.store.models import DeliveryStatus
from tests.harness import (
    RunningBridge,
    Violet,
    event_body,
    module_database_url,
    next_event_id,
    running_bridge,
    settings_for,
    violet_standin,
    wait_until,
)

__all__ = ["module_database_url"]


@pytest.fixture(scope="module")
def violet() -> Iterator[Violet]:
    with violet_standin() as standin:
        yield standin


@pytest.fixture(scope="module")
def bridge(module_database_url: str, violet: Violet) -> Iterator[RunningBridge]:
    with running_bridge(settings_for(module_database_url, violet.hook_url)) as running:
        yield running


def settled(bridge: RunningBridge, *event_ids: int) -> list[str]:
    rows = bridge.deliveries(*event_ids)
    statuses = [r.status for r in rows]
    done = rows and all(s not in DeliveryStatus.OPEN for s in statuses)
    return statuses if done else []


def fail_next(violet: Violet, count: int) -> None:
    violet.world.faults.update({"status": 400, "count": count})


def test_api_is_absent_without_an_admin_token(tmp_path: object, violet: Violet) -> None:
    """With BRIDGE_ADMIN_TOKEN unset every /api/* path is a 404, even with a bearer."""
    settings = settings_for(f"sqlite:///{tmp_path}/a.db", violet.hook_url, admin_token=None)
    with running_bridge(settings) as running:
        for path in ("/api/events", "/api/events/1", "/api/anything"):
            assert running.http.get(path, headers={"Authorization": "Bearer x"}).status_code == 404


@pytest.mark.parametrize(
    "header", [None, "Bearer wrong", "Basic e2e-admin-token", "Bearer", "e2e-admin-token"]
)
def test_wrong_or_missing_bearer_is_401(bridge: RunningBridge, header: str | None) -> None:
    """Only `Bearer <admin token>` opens the API."""
    headers = {"Authorization": header} if header is not None else {}
    answer = bridge.http.get("/api/events", headers=headers)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")


def test_list_filters_and_pages(bridge: RunningBridge, violet: Violet) -> None:
    """Newest first, filtered by resource/entity/status, paged by cursor."""
    ids = [next_event_id() for _ in range(5)]
    for event_id in ids:
        bridge.post(event_body(event_id, entity=event_id, resource="LOCATIONS"))
    wait_until(lambda: settled(bridge, *ids), what="the events delivered")
    first = bridge.admin("GET", "/api/events", params={"resource": "locations", "limit": 2})
    assert first.status_code == 200
    page = first.json()
    assert [e["event_id"] for e in page["events"]] == ids[::-1][:2]
    second = bridge.admin(
        "GET",
        "/api/events",
        params={"resource": "LOCATIONS", "limit": 2, "cursor": page["next_cursor"]},
    ).json()
    assert [e["event_id"] for e in second["events"]] == ids[::-1][2:4]
    one = bridge.admin(
        "GET", "/api/events", params={"entity_id": str(ids[0]), "status": "succeeded"}
    ).json()
    assert [e["event_id"] for e in one["events"]] == [ids[0]]
    assert one["next_cursor"] is None


@pytest.mark.parametrize(
    "params", [{"status": "NOPE"}, {"limit": "-1"}, {"since": "yesterday"}, {"cursor": "x"}]
)
def test_bad_query_parameters_are_400(bridge: RunningBridge, params: dict[str, str]) -> None:
    """Parameters the API cannot use are refused with a message, not a 500."""
    answer = bridge.admin("GET", "/api/events", params=params)
    assert answer.status_code == 400
    assert answer.json()["error"]


def test_show_has_every_attempt_and_the_kept_response(
    bridge: RunningBridge, violet: Violet
) -> None:
    """A 400 from Violet fails the delivery at once and keeps Violet's answer."""
    event_id = next_event_id()
    fail_next(violet, 1)
    delivery_id = bridge.post(event_body(event_id)).json()["delivery_id"]
    wait_until(lambda: settled(bridge, event_id) == ["FAILED"], what="a dead letter")
    for ref in (delivery_id, bridge.deliveries(event_id)[0].webhook_id):
        shown = bridge.admin("GET", f"/api/events/{ref}").json()
        assert shown["event"]["status"] == "FAILED"
        assert shown["event"]["body"] == event_body(event_id).decode()
        (attempt,) = shown["attempts"]
        assert (attempt["status_code"], attempt["outcome"], attempt["response"]) == (
            400,
            "failed",
            "fault",
        )
    assert bridge.admin("GET", "/api/events/999999").status_code == 404


def test_resend_one_is_idempotent_while_queued_and_delivers(
    bridge: RunningBridge, violet: Violet
) -> None:
    """A resend is a new delivery referencing the original; asking twice queues it once."""
    event_id = next_event_id()
    fail_next(violet, 1)
    delivery_id = bridge.post(event_body(event_id)).json()["delivery_id"]
    wait_until(lambda: settled(bridge, event_id) == ["FAILED"], what="a dead letter")
    violet.world.faults.update({"delay_ms": 300})
    try:
        first = bridge.admin("POST", f"/api/events/{delivery_id}/resend")
        second = bridge.admin("POST", f"/api/events/{delivery_id}/resend")
    finally:
        violet.world.faults.clear()
    assert (first.status_code, first.json()["created"]) == (201, True)
    assert (second.status_code, second.json()["created"]) == (200, False)
    copy = first.json()["event"]
    assert second.json()["event"]["id"] == copy["id"]
    original = bridge.deliveries(event_id)[0]
    assert (copy["origin"], copy["resend_of"]) == ("resend", original.webhook_id)
    wait_until(lambda: settled(bridge, event_id) == ["FAILED", "SUCCEEDED"], what="the resend")
    (request,) = [
        r
        for r in violet.received()
        if r["headers"].get("x-bridge-resend-of") == original.webhook_id
    ]
    assert request["headers"]["x-bridge-origin"] == "resend"
    assert request["headers"]["webhook-id"] == copy["webhook_id"]
    assert request["body"] == event_body(event_id).decode()


def test_bulk_resend_of_failed_since_a_time(bridge: RunningBridge, violet: Violet) -> None:
    """`{"status": "FAILED", "since": ...}` resends each dead letter once, however often asked."""
    ids = [next_event_id() for _ in range(3)]
    fail_next(violet, 3)
    for event_id in ids:
        bridge.post(event_body(event_id, entity=event_id))
    wait_until(lambda: settled(bridge, *ids) == ["FAILED"] * 3, what="three dead letters")
    since = bridge.deliveries(ids[0])[0].received_at.isoformat()
    answer = bridge.admin("POST", "/api/events/resend", json={"status": "FAILED", "since": since})
    assert answer.status_code == 200
    queued = answer.json()["queued"]
    assert sorted(d["event_id"] for d in queued) == ids
    wait_until(lambda: settled(bridge, *ids).count("SUCCEEDED") == 3, what="the resends")
    again = bridge.admin("POST", "/api/events/resend", json={"status": "FAILED", "since": since})
    assert again.json()["queued"] == []


@pytest.mark.parametrize(
    "body",
    [[1], {"status": 5}, {"ids": "1"}, {"limit": 0}, {"unknown": 1}, {}, {"status": "SUPERSEDED"}],
)
def test_bulk_resend_refuses_bad_requests(bridge: RunningBridge, body: object) -> None:
    """Malformed or unbounded bulk requests are 400s."""
    assert bridge.admin("POST", "/api/events/resend", json=body).status_code == 400


def test_resume_answers_whether_there_was_a_pause(bridge: RunningBridge) -> None:
    """Without a 410 there is nothing to resume."""
    answer = bridge.admin("POST", "/api/events/resume")
    assert answer.json() == {"resumed": False}


def test_unknown_api_path_is_404_and_wrong_method_405(bridge: RunningBridge) -> None:
    """Inside the guard the router's usual answers apply."""
    assert bridge.admin("GET", "/api/nothing").status_code == 404
    assert bridge.admin("DELETE", "/api/events").status_code == 405
    assert isinstance(bridge.http, httpx.Client)
