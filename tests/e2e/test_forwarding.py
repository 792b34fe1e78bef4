"""ION → bridge → Violet with real servers on loopback: a scripted day of ION activity arrives
at Violet once per event, byte for byte, in order per object, even when ION repeats itself."""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict

from bridge.bootstrap import Bridge
from bridge.inbox.codec import IonEvent
from bridge.sandbox.demo import stand_ins, wait_for_ion_quiet
from bridge.sandbox.scenario import play_day
from bridge.store.models import DeliveryStatus
from tests.e2e.ion import ion_events, subscribe_bridge
from tests.harness import (
    RunningBridge,
    Violet,
    event_body,
    running_bridge,
    settings_for,
    violet_standin,
    wait_until,
)


def drained(running: RunningBridge) -> bool:
    rows = running.deliveries()
    return bool(rows) and all(r.status not in DeliveryStatus.OPEN for r in rows)


def test_scripted_day_reaches_violet_once_per_event_in_order(database_url: str) -> None:
    """Every ION event of the day is forwarded exactly once, unchanged and ordered per object;
    bodies ION sends again (two or three times) are acknowledged and not forwarded again."""
    with stand_ins() as stands:
        violet = Violet(world=stands.violet, url=stands.violet_url)
        with running_bridge(settings_for(database_url, stands.hook_url)) as running:
            subscribe_bridge(stands, f"{running.url}/webhooks/ion")
            asyncio.run(
                play_day(
                    stands.ion_url,
                    client_id=stands.client_id,
                    client_secret=stands.client_secret,
                    seed=11,
                    operations=60,
                )
            )
            wait_for_ion_quiet(stands, day_ended=time.monotonic())
            events = ion_events(stands)
            assert len(events) > 30
            assert all(e["status"] == "SUCCEEDED" for e in events)
            for event in events[:15]:  # ION's at-least-once: the same bodies again
                for _ in range(2):
                    answer = running.post(event["requestData"].encode(), token=True)
                    assert answer.json()["status"] == "duplicate"
            wait_until(lambda: drained(running), what="the outbox to drain")
            rows = running.deliveries()

    stored = {r.event_id: r for r in rows}
    assert set(stored) == {e["id"] for e in events}
    forwarded = {i for i, r in stored.items() if r.status == DeliveryStatus.SUCCEEDED}
    assert forwarded | {i for i, r in stored.items() if r.status == "SUPERSEDED"} == set(stored)
    arrived = violet.event_ids()
    assert sorted(arrived) == sorted(forwarded)  # each exactly once
    sent = {e["id"]: e["requestData"] for e in events}
    for request in violet.received():
        body = json.loads(request["body"])
        assert request["body"] == sent[body["event_id"]]
        assert request["headers"]["x-bridge-origin"] == "ion"
        assert request["headers"]["webhook-id"] == stored[body["event_id"]].webhook_id
    per_object: dict[str, list[int]] = defaultdict(list)
    for event_id in arrived:
        per_object[stored[event_id].entity_key or ""].append(event_id)
    assert all(ids == sorted(ids) for ids in per_object.values())


def test_older_event_after_a_newer_one_is_superseded_and_reported(tmp_path: object) -> None:
    """ION's retry of an older event, arriving after a newer one, is never sent to Violet;
    the ingest hook hears about it (superseded) so the object can be repaired."""
    heard: list[IonEvent] = []

    def configure(bridge: Bridge) -> None:
        bridge.on_ingested.append(heard.append)

    with violet_standin() as violet:
        settings = settings_for(f"sqlite:///{tmp_path}/b.db", violet.hook_url)
        with running_bridge(settings, configure=configure) as running:
            for event_id in (10, 12, 11, 13):
                running.post(event_body(event_id, entity=7))
            running.post(event_body(12, entity=7))  # a duplicate: not heard again
            wait_until(lambda: drained(running), what="the outbox to drain")
            statuses = {r.event_id: r.status for r in running.deliveries()}
    assert violet.event_ids() == [10, 12, 13]
    assert statuses[11] == DeliveryStatus.SUPERSEDED
    assert [(e.event_id, e.superseded) for e in heard] == [
        (10, False),
        (12, False),
        (11, True),
        (13, False),
    ]
