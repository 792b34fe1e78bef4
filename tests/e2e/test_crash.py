"""`bridge serve` as a subprocess: kill -9 mid-stream loses nothing acknowledged; SIGTERM drains;
two processes on one PostgreSQL database share the work and send nothing twice."""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from bridge.store.db import make_engine, session_scope
from bridge.store.models import Delivery
from tests.e2e.serve import ServeProcess
from tests.harness import (
    HEADER,
    TOKEN,
    Violet,
    event_body,
    settings_for,
    sign,
    store_credential,
    violet_standin,
    wait_until,
)


@pytest.fixture
def violet() -> Iterator[Violet]:
    with violet_standin() as standin:
        yield standin


_clients = threading.local()


def post(url: str, event_id: int, entity: int) -> bool:
    """One signed ION delivery; True when the bridge acknowledged it."""
    client = getattr(_clients, "client", None)
    if client is None:
        # Plain http on loopback: no TLS, and skipping the CA bundle keeps clients cheap.
        client = _clients.client = httpx.Client(timeout=5, verify=False)  # noqa: S501
    body = event_body(event_id, entity=entity)
    headers = {"x-ion-signature": sign(body), HEADER: TOKEN, "content-type": "application/json"}
    try:
        answer = client.post(f"{url}/webhooks/ion", content=body, headers=headers)
    except httpx.HTTPError:
        return False
    return answer.status_code == 200


def send_stream(
    url: str, ids: list[int], acked: set[int], *, threads: int = 4, objects: int = 0
) -> list[threading.Thread]:
    """Post `ids` from a few threads at once (ION delivers concurrently); acks go in `acked`.
    With `objects`, events are spread over that many objects; else one object per event."""
    lock = threading.Lock()

    def run(share: list[int]) -> None:
        for event_id in share:
            if post(url, event_id, entity=event_id % objects if objects else event_id):
                with lock:
                    acked.add(event_id)

    workers = [
        threading.Thread(target=run, args=(ids[i::threads],), daemon=True) for i in range(threads)
    ]
    for worker in workers:
        worker.start()
    return workers


def test_kill_9_mid_stream_loses_nothing_acknowledged(tmp_path: Path, violet: Violet) -> None:
    """Every delivery answered 200 before a SIGKILL reaches Violet after the restart."""
    url = f"sqlite:///{tmp_path}/bridge.db"
    store_credential(settings_for(url, violet.hook_url))
    # Violet slower than ION posts (8 sends in flight at 100 ms: 80/s), so work is queued or in
    # flight at the kill whatever the speed of the machine.
    violet.world.faults.update({"delay_ms": 100})
    acked: set[int] = set()
    ids = list(range(1, 151))
    with ServeProcess(
        database_url=url, violet_url=violet.hook_url, log_dir=tmp_path, name="a"
    ) as first:
        senders = send_stream(first.url, ids, acked)
        wait_until(lambda: len(acked) >= 40, timeout=30, what="40 acknowledged deliveries")
        first.kill()
        for sender in senders:
            sender.join(timeout=30)
    acked_before_kill = set(acked)
    assert 40 <= len(acked_before_kill) < len(ids)
    assert not set(violet.event_ids()) >= acked_before_kill  # some were still to be sent
    with ServeProcess(
        database_url=url, violet_url=violet.hook_url, log_dir=tmp_path, name="b"
    ) as second:
        for event_id in ids:  # ION retries whatever was not acknowledged
            if event_id not in acked:
                assert post(second.url, event_id, entity=event_id % 5)
        wait_until(
            lambda: set(violet.event_ids()) >= set(ids), timeout=60, what="every event at Violet"
        )
    assert set(violet.event_ids()) >= acked_before_kill


def test_sigterm_finishes_or_releases_in_flight_work(tmp_path: Path, violet: Violet) -> None:
    """A graceful stop exits 0 and whatever it did not send is sent after the next start."""
    url = f"sqlite:///{tmp_path}/bridge.db"
    store_credential(settings_for(url, violet.hook_url))
    violet.world.faults.update({"delay_ms": 300})
    with ServeProcess(
        database_url=url, violet_url=violet.hook_url, log_dir=tmp_path, name="a"
    ) as first:
        for event_id in range(1, 21):
            assert post(first.url, event_id, entity=event_id)
        wait_until(lambda: violet.world.requests(), what="sending to have started")
        assert first.terminate() == 0
    violet.world.faults.clear()
    with ServeProcess(database_url=url, violet_url=violet.hook_url, log_dir=tmp_path, name="b"):
        wait_until(
            lambda: set(violet.event_ids()) >= set(range(1, 21)), what="every event at Violet"
        )


@pytest.mark.postgres
def test_two_serve_processes_share_one_postgres_and_send_nothing_twice(
    fresh_postgres_url: str, tmp_path: Path, violet: Violet
) -> None:
    """Deliveries arriving at either process reach Violet exactly once, in order per object."""
    store_credential(settings_for(fresh_postgres_url, violet.hook_url))
    violet.world.faults.update({"delay_ms": 5})
    ids = list(range(1, 121))
    acked: set[int] = set()
    with (
        ServeProcess(
            database_url=fresh_postgres_url, violet_url=violet.hook_url, log_dir=tmp_path, name="a"
        ) as first,
        ServeProcess(
            database_url=fresh_postgres_url, violet_url=violet.hook_url, log_dir=tmp_path, name="b"
        ) as second,
    ):
        senders = send_stream(first.url, ids[0::2], acked, threads=2, objects=5)
        senders += send_stream(second.url, ids[1::2], acked, threads=2, objects=5)
        # ION repeating itself, to the other process.
        senders += send_stream(second.url, ids[0:40:2], set(), threads=1, objects=5)
        for sender in senders:
            sender.join(timeout=60)
        assert acked == set(ids)
        # Concurrent senders deliver some events of an object out of order: those older than
        # one already accepted are superseded (never sent); every other one must arrive.
        engine = make_engine(fresh_postgres_url)
        with session_scope(engine) as session:
            rows = session.exec(select(Delivery.event_id, Delivery.status)).all()
        engine.dispose()
        expected = {event_id for event_id, status in rows if status != "SUPERSEDED"}
        assert len(rows) == len(ids)
        wait_until(
            lambda: set(violet.event_ids()) >= expected, timeout=60, what="every event at Violet"
        )
    arrived = violet.event_ids()
    assert set(arrived) == expected
    assert Counter(arrived).most_common(1)[0][1] == 1, "an event was sent twice"
    per_object: dict[int, list[int]] = defaultdict(list)
    for event_id in arrived:
        per_object[event_id % 5].append(event_id)
    assert all(sent == sorted(sent) for sent in per_object.values())
