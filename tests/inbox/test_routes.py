"""`POST /webhooks/ion` over real HTTP: proofs, limits, odd bodies, dedupe, storage failures."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bridge.bootstrap import Bridge
from bridge.errors import StorageUnavailable
from bridge.inbox.credentials import CredentialCache, database_loader
from bridge.inbox.verify import Credentials
from bridge.store.models import DeliveryStatus
from tests.harness import (
    RunningBridge,
    Violet,
    event_body,
    module_database_url,
    next_event_id,
    running_bridge,
    settings_for,
    sign,
    store_credential,
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
    settings = settings_for(module_database_url, violet.hook_url, inbox_max_body_bytes=4096)
    with running_bridge(settings) as running:
        yield running


def bodies_at_violet(violet: Violet, body: bytes) -> list[dict[str, object]]:
    text_ = body.decode("utf-8", errors="replace")
    return [r for r in violet.world.requests() if r["body"] == text_]


def test_signed_event_is_stored_and_answered_200(bridge: RunningBridge) -> None:
    """A correctly signed event is acknowledged with its stored delivery's id."""
    event_id = next_event_id()
    answer = bridge.post(event_body(event_id))
    assert answer.status_code == 200
    assert answer.json()["status"] == "accepted"
    rows = bridge.deliveries(event_id)
    assert [(r.id, r.body) for r in rows] == [(answer.json()["delivery_id"], event_body(event_id))]


def test_header_token_alone_is_enough_by_default(bridge: RunningBridge) -> None:
    """With inbox_require=any the provisioned header token is a sufficient proof."""
    answer = bridge.post(event_body(next_event_id()), signature=None, token=True)
    assert answer.status_code == 200


def test_failed_proofs_get_401_counted_and_nothing_is_stored(bridge: RunningBridge) -> None:
    """Wrong, missing or garbled signatures/tokens are refused, counted by reason, not stored."""
    cases = [
        ({}, "missing_proof"),
        ({"x-ion-signature": "0" * 64}, "bad_signature"),
        ({"x-ion-signature": sign(b"another body")}, "bad_signature"),
        ({"x-ion-signature": "not hex at all"}, "bad_signature"),
        ({"x-bridge-token": "not-the-token"}, "bad_token"),
        ({"x-ion-signature": b"sha256=\xe9\xff", "x-bridge-token": b"\xe9t\xe9"}, "bad_token"),
    ]
    before = bridge.count()
    for headers, reason in cases:
        answer = bridge.http.post(
            "/webhooks/ion",
            content=event_body(next_event_id()),
            headers={"content-type": "application/json", **headers},  # type: ignore[dict-item]
        )
        assert (answer.status_code, answer.json()) == (401, {"error": reason})
    assert bridge.count() == before
    metrics = bridge.http.get("/metrics").text
    assert 'bridge_webhooks_rejected_total{reason="bad_signature"} 3.0' in metrics
    assert 'bridge_webhooks_rejected_total{reason="bad_token"} 2.0' in metrics


def test_oversize_body_gets_413_by_length_or_by_stream(bridge: RunningBridge) -> None:
    """Over the limit is refused whether announced by Content-Length or sent chunked."""
    before = bridge.count()
    big = b"{" + b" " * 5000 + b"}"
    assert bridge.post(big).status_code == 413

    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b" " * 1000

    answer = bridge.http.post(
        "/webhooks/ion", content=chunks(), headers={"x-ion-signature": sign(b" " * 10_000)}
    )
    assert answer.status_code == 413
    assert bridge.count() == before


def test_wrong_method_and_path(bridge: RunningBridge) -> None:
    """GET on the inbox is 405, an unknown path 404."""
    assert bridge.http.get("/webhooks/ion").status_code == 405
    assert bridge.http.post("/webhooks/other", content=b"{}").status_code == 404


def test_empty_authentic_body_is_400_and_not_stored(bridge: RunningBridge) -> None:
    """A signed empty body is nothing ION sends: refused, not stored."""
    before = bridge.count()
    assert bridge.post(b"").status_code == 400
    assert bridge.count() == before


def test_unparseable_authentic_bodies_are_forwarded_unchanged(
    bridge: RunningBridge, violet: Violet
) -> None:
    """Bodies the codec does not understand are stored and reach Violet byte for byte."""
    unique = next_event_id()
    bodies = [
        b"\xff\xfe not utf-8 \x80 %d" % unique,
        b"plain text %d" % unique,
        b'{"event_id": 99999999999999999999999%d, "resource": "PARTS", "id": 1}' % unique,
        b'{"event_id": "7", "resource": ["PARTS"], "id": null, "n": %d}' % unique,
        b"[%d, 2, 3]" % unique,
    ]
    for body in bodies:
        answer = bridge.post(body, headers={"content-type": "text/plain; charset=latin-1"})
        assert answer.json()["status"] == "accepted"
    for body in bodies:
        wait_until(lambda b=body: bodies_at_violet(violet, b), what="the pass-through")
        (request,) = bodies_at_violet(violet, body)
        assert request["headers"]["content-type"] == "text/plain; charset=latin-1"  # type: ignore[index]
    stored = {r.body: r for r in bridge.deliveries() if r.body in bodies}
    assert set(stored) == set(bodies)
    assert all(r.entity_key is None and r.event_id is None for r in stored.values())


def test_unexpected_types_in_a_real_event_are_kept(bridge: RunningBridge) -> None:
    """A body with a usable event_id but odd field types is stored and deduplicated by id."""
    event_id = next_event_id()
    body = json.dumps(
        {"event_id": event_id, "resource": "PARTS", "id": [1], "changes": 5, "data": "x"}
    ).encode()
    assert bridge.post(body).json()["status"] == "accepted"
    assert bridge.post(body).json()["status"] == "duplicate"
    assert [r.dedupe_key for r in bridge.deliveries(event_id)] == [f"ion:{event_id}"]


def test_the_same_event_twice_or_thrice_is_forwarded_once(
    bridge: RunningBridge, violet: Violet
) -> None:
    """ION's retries are acknowledged without being forwarded again."""
    event_id = next_event_id()
    answers = [bridge.post(event_body(event_id)) for _ in range(3)]
    assert [a.json()["status"] for a in answers] == ["accepted", "duplicate", "duplicate"]
    assert len({a.json()["delivery_id"] for a in answers}) == 1
    wait_until(lambda: event_id in violet.event_ids(), what="the event at Violet")
    assert violet.event_ids().count(event_id) == 1
    assert bridge.deliveries(event_id)[0].status in DeliveryStatus.ALL


def test_health_readiness_and_metrics(bridge: RunningBridge) -> None:
    """Liveness and readiness answer 200 while running; metrics speak Prometheus text."""
    assert bridge.http.get("/healthz").json() == {"status": "ok"}
    assert bridge.http.get("/readyz").json() == {"status": "ready"}
    bridge.post(event_body(next_event_id()))
    answer = bridge.http.get("/metrics")
    assert answer.headers["content-type"].startswith("text/plain")
    assert 'bridge_webhooks_received_total{kind="event"}' in answer.text
    assert "bridge_queue_depth" in answer.text
    assert "bridge_breaker_state 0.0" in answer.text


@pytest.mark.postgres
def test_database_unavailable_gives_503_never_200(
    fresh_postgres_url: str, postgres_url: str, violet: Violet
) -> None:
    """With the bridge's schema gone, deliveries get 503 (ION retries); once back, 200."""
    settings = settings_for(fresh_postgres_url, violet.hook_url)
    schema = fresh_postgres_url.rsplit("%3D", 1)[1]
    admin = create_engine(postgres_url)
    with running_bridge(settings) as running:
        assert running.post(event_body(1)).status_code == 200
        with admin.begin() as connection:
            connection.execute(text(f'ALTER SCHEMA "{schema}" RENAME TO "{schema}_away"'))
        try:
            answers = [running.post(event_body(i)) for i in range(2, 5)]
            assert [a.status_code for a in answers] == [503, 503, 503]
            assert answers[0].headers["retry-after"] == "5"
            assert running.http.get("/readyz").status_code in (200, 503)
        finally:
            with admin.begin() as connection:
                connection.execute(text(f'ALTER SCHEMA "{schema}_away" RENAME TO "{schema}"'))
        assert running.post(event_body(2)).status_code == 200
        assert [r.event_id for r in running.deliveries()] == [1, 2]
    admin.dispose()


def test_a_sqlite_table_it_cannot_write_gives_503_never_200(tmp_path: Path, violet: Violet) -> None:
    """The same on SQLite, where the writer process stores on the driver's own connection:
    with the deliveries table gone, 503; once it is back, the writer opens a new connection
    and the same deliveries are stored."""
    path = tmp_path / "bridge.db"
    with running_bridge(settings_for(f"sqlite:///{path}", violet.hook_url)) as running:
        assert running.post(event_body(1)).status_code == 200
        with sqlite3.connect(path) as db:
            db.execute("ALTER TABLE deliveries RENAME TO deliveries_away")
        db.close()
        try:
            answers = [running.post(event_body(i)) for i in range(2, 5)]
            assert [a.status_code for a in answers] == [503, 503, 503]
            assert answers[0].json() == {"error": "storage_unavailable"}
            assert answers[0].headers["retry-after"] == "5"
        finally:
            with sqlite3.connect(path) as db:
                db.execute("ALTER TABLE deliveries_away RENAME TO deliveries")
            db.close()
        assert [running.post(event_body(i)).status_code for i in range(2, 5)] == [200] * 3
        assert [r.event_id for r in running.deliveries()] == [1, 2, 3, 4]


def test_no_credentials_means_every_delivery_is_refused(tmp_path: object, violet: Violet) -> None:
    """An unprovisioned bridge stores nothing, however the request is signed."""
    settings = settings_for(f"sqlite:///{tmp_path}/empty.db", violet.hook_url)
    with running_bridge(settings, credential=False) as running:
        answer = running.post(event_body(1), token=True)
        assert (answer.status_code, answer.json()) == (401, {"error": "no_credentials"})
        assert running.deliveries() == []


def test_a_secret_rotated_by_another_process_is_honoured_at_once(
    tmp_path: object, violet: Violet
) -> None:
    """`bridge setup --rotate-secret` runs in another process while `serve` holds the old
    credentials. A delivery signed with the new secret that fails the check reloads them and is
    stored, without waiting for the cache to expire. Within a second of the last load a failed
    check does not reload, so a flood of forged requests costs at most one query a second."""
    now = [1_000.0]

    def configure(bridge: Bridge) -> None:
        loader = database_loader(bridge.engine, bridge.settings, clock=bridge.clock)
        bridge.credentials = CredentialCache(loader, clock=lambda: now[0])

    settings = settings_for(f"sqlite:///{tmp_path}/rotation.db", violet.hook_url)
    with running_bridge(settings, configure=configure) as running:
        assert running.post(event_body(1)).status_code == 200  # the credentials load now
        store_credential(settings, secret="rotated-secret", token="rotated-token")
        signed = sign(event_body(2), "rotated-secret")
        now[0] += 0.5
        answer = running.post(event_body(2), signature=signed)
        assert (answer.status_code, answer.json()) == (401, {"error": "bad_signature"})
        now[0] += 1.0  # past the reload-after-failure interval, well within the cache's TTL
        answer = running.post(event_body(2), signature=signed)
        assert answer.status_code == 200
        assert running.post(event_body(3), signature=None, token="rotated-token").status_code == 200
        assert running.post(event_body(4)).status_code == 200  # the old secret, in its grace
        assert [r.event_id for r in running.deliveries()] == [1, 2, 3, 4]


def test_a_reload_the_database_cannot_answer_is_a_503(tmp_path: object, violet: Violet) -> None:
    """A failed check reloads the credentials; if the database cannot be read then, the answer
    is 503 with Retry-After (ION retries), not a 500, and nothing is stored."""
    now = [1_000.0]
    database_down = [False]

    def configure(bridge: Bridge) -> None:
        load = database_loader(bridge.engine, bridge.settings, clock=bridge.clock)

        def loader() -> Credentials:
            if database_down[0]:
                raise StorageUnavailable("database unavailable: connection refused")
            return load()

        bridge.credentials = CredentialCache(loader, clock=lambda: now[0])

    settings = settings_for(f"sqlite:///{tmp_path}/reload.db", violet.hook_url)
    with running_bridge(settings, configure=configure) as running:
        assert running.post(event_body(1)).status_code == 200
        database_down[0] = True
        now[0] += 2.0
        answer = running.post(event_body(2), signature="0" * 64)
        assert (answer.status_code, answer.json()) == (503, {"error": "storage_unavailable"})
        assert answer.headers["retry-after"] == "5"
        database_down[0] = False
        now[0] += 2.0
        assert running.post(event_body(2)).status_code == 200
        assert [r.event_id for r in running.deliveries()] == [1, 2]


def test_count_stored_counts_each_disposition_once_per_delivery() -> None:
    """One committed batch's metrics: events, pass-throughs, duplicates and superseded."""
    from bridge.inbox.routes import count_stored
    from bridge.inbox.store import Disposition
    from bridge.metrics import Metrics

    metrics = Metrics()
    count_stored(
        metrics,
        [
            (Disposition.ACCEPTED, True),
            (Disposition.ACCEPTED, True),
            (Disposition.ACCEPTED, False),
            (Disposition.DUPLICATE, True),
            (Disposition.DUPLICATE, False),
            (Disposition.SUPERSEDED, True),
        ],
    )
    value = metrics.registry.get_sample_value
    assert value("bridge_webhooks_received_total", {"kind": "event"}) == 3
    assert value("bridge_webhooks_received_total", {"kind": "passthrough"}) == 1
    assert value("bridge_webhooks_duplicates_total") == 2
    assert value("bridge_webhooks_superseded_total") == 1
    count_stored(metrics, [(Disposition.ACCEPTED, True)])
    assert value("bridge_webhooks_received_total", {"kind": "event"}) == 4
    assert value("bridge_webhooks_received_total", {"kind": "passthrough"}) == 1
