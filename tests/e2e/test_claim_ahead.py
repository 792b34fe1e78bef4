"""The worker's reserve: deliveries claimed ahead of its free slots, so a finished send starts the
next at once. Whatever stops sending hands the reserve back, and a reserved delivery whose lease
could run out before its send ends is handed back rather than sent (another worker would take it
over and Violet would get it twice)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from bridge.clock import utcnow
from bridge.delivery import destination
from bridge.store.db import session_scope
from bridge.store.models import DeliveryStatus
from tests.harness import (
    RunningBridge,
    Violet,
    event_body,
    running_bridge,
    settings_for,
    violet_standin,
    wait_until,
)


def paused(running: RunningBridge) -> bool:
    return "bridge_destination_paused 1.0" in running.http.get("/metrics").text


def resume(running: RunningBridge) -> None:
    """What `bridge events resume` does; the worker re-reads the pause every poll."""
    with session_scope(running.bridge.engine) as session:
        destination.resume(session, now=utcnow())


def leased(running: RunningBridge) -> list[int]:
    return [r.event_id or 0 for r in running.deliveries() if r.status == DeliveryStatus.SENDING]


def queue_while_paused(running: RunningBridge, violet: Violet, event_ids: range) -> None:
    """Pause sending with a 410, then store `event_ids` (an object each) behind the pause."""
    violet.world.faults.update({"status": 410, "count": 1})
    running.post(event_body(event_ids[0], entity=event_ids[0]))
    wait_until(lambda: paused(running), what="the pause")
    for event_id in event_ids[1:]:
        running.post(event_body(event_id, entity=event_id))


def test_a_410_hands_the_reserve_back_and_nothing_is_lost(tmp_path: Path) -> None:
    """Resumed with 20 queued, the worker sends 8 and reserves 8; Violet's 410 pauses it again
    and the reserve goes back unsent. Resumed once more, every event arrives exactly once."""
    url = f"sqlite:///{tmp_path}/b.db"
    with (
        violet_standin() as violet,
        running_bridge(settings_for(url, violet.hook_url, delivery_concurrency=8)) as running,
    ):
        queue_while_paused(running, violet, range(1, 21))
        # Slow 410s: the eight sends are all out before the first answer comes back.
        violet.world.faults.update({"status": 410, "count": None, "delay_ms": 300})
        resume(running)
        wait_until(lambda: len(violet.world.requests()) >= 1 + 8, what="eight sends")
        wait_until(lambda: paused(running), what="the second pause")
        wait_until(lambda: not leased(running), what="the reserve to be handed back")
        sent_while_refused = len(violet.world.requests()) - 1
        violet.world.faults.clear()
        resume(running)
        wait_until(
            lambda: all(r.status == DeliveryStatus.SUCCEEDED for r in running.deliveries()),
            what="every delivery after resuming",
        )
    assert sent_while_refused == 8  # the sends in flight, none of the reserve
    arrived = violet.event_ids()
    assert sorted(arrived) == list(range(1, 21))


def test_a_reserved_delivery_that_could_outlive_its_lease_is_not_sent(tmp_path: Path) -> None:
    """One slot each, a 2.5 s lease and Violet taking 1.5 s: the delivery reserved behind the
    first send would start with 1 s of lease left, another worker would take it over when the
    lease ran out mid-send, and Violet would get it twice. It is handed back and claimed
    afresh instead: every event arrives exactly once."""
    url = f"sqlite:///{tmp_path}/b.db"
    slow: dict[str, object] = {
        "delivery_concurrency": 1,
        "delivery_timeout_seconds": 2.0,
        "delivery_lease_seconds": 2.5,
    }
    with violet_standin() as violet:
        first = settings_for(url, violet.hook_url, **slow)
        with running_bridge(first) as a:
            queue_while_paused(a, violet, range(1, 4))
            violet.world.faults.update({"delay_ms": 1500})
            resume(a)
            # Worker A holds two: one in flight and one in its reserve.
            wait_until(lambda: len(leased(a)) == 2, what="a send and a reserved delivery")
            with running_bridge(settings_for(url, violet.hook_url, **slow), credential=False):
                wait_until(
                    lambda: all(r.status == DeliveryStatus.SUCCEEDED for r in a.deliveries()),
                    timeout=20,
                    what="every delivery",
                )
    arrived = violet.event_ids()
    assert Counter(arrived) == dict.fromkeys(range(1, 4), 1), arrived
