"""Violet misbehaving, with real servers: 503s then recovery, Retry-After, 429, the circuit
breaker, 400 dead letters resent from the CLI, 410 pausing everything until resumed."""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from bridge.store.models import DeliveryStatus
from tests.harness import (
    RunningBridge,
    attempts_of,
    cli,
    event_body,
    running_bridge,
    settings_for,
    violet_standin,
    wait_until,
)

SCHEDULE = [0.3, 0.6, 1.2, 2.4]


def drained(running: RunningBridge, count: int) -> bool:
    rows = running.deliveries()
    return len(rows) >= count and all(r.status not in DeliveryStatus.OPEN for r in rows)


def gaps(running: RunningBridge, delivery_id: int) -> list[float]:
    times = [a.started_at for a in attempts_of(running, delivery_id)]
    return [(b - a).total_seconds() for a, b in itertools.pairwise(times)]


def test_503_for_a_while_then_everything_arrives_in_order(tmp_path: Path) -> None:
    """Transient failures are retried on the schedule; all arrive, in order per object."""
    with violet_standin() as violet:
        settings = settings_for(
            f"sqlite:///{tmp_path}/b.db", violet.hook_url, delivery_retry_schedule=SCHEDULE
        )
        with running_bridge(settings) as running:
            violet.world.faults.update({"status": 503, "count": 6})
            for event_id in range(1, 7):
                running.post(event_body(event_id, entity=event_id % 3))
            wait_until(lambda: drained(running, 6), what="every delivery to succeed")
            rows = running.deliveries()
            heads = [r for r in rows if r.event_id in (1, 2, 3)]
            spacing = {r.event_id: gaps(running, r.id or 0) for r in heads}
    assert all(r.status == DeliveryStatus.SUCCEEDED for r in rows)
    per_object: dict[int, list[int]] = defaultdict(list)
    for event_id in violet.event_ids():
        per_object[event_id % 3].append(event_id)
    assert sorted(violet.event_ids()) == [1, 2, 3, 4, 5, 6]
    assert all(ids == sorted(ids) for ids in per_object.values())
    for event_id, between in spacing.items():
        assert len(between) == 2, (event_id, between)
        assert SCHEDULE[0] <= between[0] < SCHEDULE[0] + 1.0
        assert SCHEDULE[1] <= between[1] < SCHEDULE[1] + 1.0


def test_retry_after_and_429_lengthen_the_wait(tmp_path: Path) -> None:
    """Retry-After beyond the schedule is honoured; a 429 waits at least the back-off floor."""
    with violet_standin() as violet:
        settings = settings_for(
            f"sqlite:///{tmp_path}/b.db",
            violet.hook_url,
            delivery_retry_schedule=SCHEDULE,
            delivery_min_backoff_seconds=1.0,
        )
        with running_bridge(settings) as running:
            violet.world.faults.update({"status": 503, "count": 1, "retry_after": 1.5})
            first = running.post(event_body(1)).json()["delivery_id"]
            wait_until(lambda: drained(running, 1), what="the first delivery")
            violet.world.faults.clear()
            violet.world.faults.update({"status": 429, "count": 1})
            second = running.post(event_body(2, entity=2)).json()["delivery_id"]
            wait_until(lambda: drained(running, 2), what="the second delivery")
            after_retry_after, after_429 = gaps(running, first), gaps(running, second)
            logged = [a.status_code for a in attempts_of(running, first)]
    assert logged == [503, 200]
    assert 1.5 <= after_retry_after[0] < 3.0
    assert 1.0 <= after_429[0] < 2.5


def test_breaker_opens_probes_and_closes_without_spending_attempts(tmp_path: Path) -> None:
    """While Violet keeps failing only probes go out; queued deliveries keep their attempts;
    a successful probe closes the breaker and the queue drains at once."""
    with violet_standin() as violet:
        settings = settings_for(
            f"sqlite:///{tmp_path}/b.db",
            violet.hook_url,
            delivery_retry_schedule=[0.2, 0.2, 0.2, 0.2],
            breaker_min_requests=4,
            breaker_failure_ratio=0.5,
            breaker_open_seconds=0.3,
        )
        with running_bridge(settings) as running:
            violet.world.faults.update({"status": 503})
            for event_id in range(1, 13):
                running.post(event_body(event_id, entity=event_id))

            def probes() -> int:
                return sum(
                    1
                    for r in running.deliveries()
                    for a in attempts_of(running, r.id or 0)
                    if a.outcome == "probe"
                )

            wait_until(lambda: probes() >= 1, what="the breaker's first probe")
            spent = [r.attempts for r in running.deliveries()]
            requests_then, probes_then = len(violet.world.requests()), probes()
            wait_until(lambda: probes() >= probes_then + 3, what="three more probes")
            metrics = running.http.get("/metrics").text
            spent_later = [r.attempts for r in running.deliveries()]
            requests_later, probes_later = len(violet.world.requests()), probes()
            violet.world.faults.clear()
            wait_until(lambda: drained(running, 12), what="the queue to drain")
            final = running.http.get("/metrics").text
    assert "bridge_breaker_state 0.0" not in metrics
    # While open, the only requests were probes, and no delivery spent an attempt.
    assert spent_later == spent
    assert requests_later - requests_then <= probes_later - probes_then + 1
    assert "bridge_breaker_state 0.0" in final
    assert sorted(violet.event_ids()) == list(range(1, 13))


def test_400_is_a_dead_letter_with_its_response_and_cli_resend_delivers_it(
    tmp_path: Path,
) -> None:
    """A permanent refusal fails the delivery at once, keeps Violet's answer, and
    `bridge events resend ID` queues a copy that arrives with x-bridge-resend-of."""
    url = f"sqlite:///{tmp_path}/b.db"
    with (
        violet_standin() as violet,
        running_bridge(settings_for(url, violet.hook_url)) as running,
    ):
        violet.world.faults.update({"status": 400, "count": 1})
        delivery_id = running.post(event_body(1)).json()["delivery_id"]
        wait_until(lambda: drained(running, 1), what="the dead letter")
        shown = cli("events", "show", str(delivery_id), "--json", database_url=url)
        assert shown.returncode == 0, shown.stderr
        detail: dict[str, Any] = json.loads(shown.stdout)
        listed = cli("events", "list", "--status", "FAILED", "--json", database_url=url)
        resent = cli("events", "resend", str(delivery_id), database_url=url)
        assert resent.returncode == 0, resent.stderr
        wait_until(lambda: drained(running, 2), what="the resend")
        rows = running.deliveries()
    assert detail["event"]["status"] == "FAILED"
    assert [(a["status_code"], a["response"]) for a in detail["attempts"]] == [(400, "fault")]
    assert [row["id"] for row in json.loads(listed.stdout)] == [delivery_id]
    assert "queued" in resent.stdout
    original, copy = rows
    assert (copy.origin, copy.resend_of, copy.status) == (
        "resend",
        original.webhook_id,
        DeliveryStatus.SUCCEEDED,
    )
    (request,) = violet.received()
    assert request["headers"]["x-bridge-resend-of"] == original.webhook_id
    assert request["headers"]["x-bridge-origin"] == "resend"


def test_410_pauses_all_sending_until_resumed(tmp_path: Path) -> None:
    """Gone means the URL was revoked: nothing more is sent (nor dead-lettered) until
    `bridge events resume`; then everything goes, in order."""
    url = f"sqlite:///{tmp_path}/b.db"
    with (
        violet_standin() as violet,
        running_bridge(settings_for(url, violet.hook_url)) as running,
    ):
        violet.world.faults.update({"status": 410, "count": 1})
        running.post(event_body(1))
        wait_until(
            lambda: "bridge_destination_paused 1.0" in running.http.get("/metrics").text,
            what="the pause",
        )
        running.post(event_body(2))
        running.post(event_body(3, entity=3))
        statuses = [(r.status, r.attempts) for r in running.deliveries()]
        assert len(violet.world.requests()) == 1
        resumed = cli("events", "resume", database_url=url)
        assert resumed.stdout.strip() == "sending resumed"
        wait_until(lambda: drained(running, 3), what="the queue after resuming")
    assert statuses == [(DeliveryStatus.PENDING, 0)] * 3
    arrived = violet.event_ids()
    assert sorted(arrived) == [1, 2, 3]
    assert arrived.index(1) < arrived.index(2)  # same object: still in order
