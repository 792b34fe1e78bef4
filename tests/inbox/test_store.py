"""Storing ION deliveries: dedupe, per-object watermarks, group commit. Both backends."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import partial

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from bridge.delivery.serial import write_connection
from bridge.errors import StorageError
from bridge.inbox import codec
from bridge.inbox.batchstore import batch_store
from bridge.inbox.process import WriterProcess
from bridge.inbox.store import Disposition, Incoming, store_batch
from bridge.inbox.writer import IngestWriter
from bridge.store.db import make_engine, session_scope
from bridge.store.migrate import upgrade
from bridge.store.models import Delivery, DeliveryStatus, EntityWatermark
from tests.harness import (
    event_body,
    next_event_id,
    running_bridge,
    settings_for,
    violet_standin,
)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def incoming(event_id: int, entity: int = 1, resource: str = "PARTS") -> Incoming:
    body = json.dumps({"event_id": event_id, "resource": resource, "id": entity}).encode()
    return Incoming(body=body, content_type="application/json", event=codec.parse(body))


def raw(body: bytes) -> Incoming:
    return Incoming(body=body, content_type="text/plain", event=codec.parse(body))


Store = Callable[..., list[tuple[int, Disposition]]]


def store_core(engine: Engine, *items: Incoming) -> list[tuple[int, Disposition]]:
    """`store_batch` in a transaction of its own, as reconciliation stores its events."""
    with write_connection(engine) as connection:
        return [(s.delivery_id, s.disposition) for s in store_batch(connection, items, now=NOW)]


@pytest.fixture(params=["store_batch", "batch_store"])
def store(request: pytest.FixtureRequest, engine: Engine) -> Iterator[Store]:
    """Storing batches in `engine`: through `store_batch`, or as the ingest writer does
    (`batch_store`: on SQLite, the driver's own connection; on PostgreSQL, `store_batch`)."""
    if request.param == "store_batch":
        yield partial(store_core, engine)
        return
    writer_store = batch_store(engine)

    def stored(*items: Incoming) -> list[tuple[int, Disposition]]:
        return [(s.delivery_id, s.disposition) for s in writer_store(items, NOW)]

    yield stored
    writer_store.close()


def writer_for(engine: Engine, where: str) -> IngestWriter:
    """The ingest writer writing in its own thread, or in a process of its own."""
    process = None
    if where == "process":
        url = engine.url.render_as_string(hide_password=False)
        process = WriterProcess(url, wal_autocheckpoint=True)
    return IngestWriter(engine, clock=lambda: NOW, process=process)


def deliveries(engine: Engine) -> list[Delivery]:
    with session_scope(engine) as session:
        return list(session.exec(select(Delivery).order_by(col(Delivery.id))).all())


def test_new_events_are_pending_with_their_ordering_key(engine: Engine, store: Store) -> None:
    """Each new event becomes one PENDING delivery keyed by its object."""
    results = store(incoming(10, entity=1), incoming(11, entity=2))
    assert [d for _, d in results] == [Disposition.ACCEPTED, Disposition.ACCEPTED]
    rows = deliveries(engine)
    assert [(r.status, r.entity_key, r.dedupe_key, r.origin) for r in rows] == [
        (DeliveryStatus.PENDING, "PARTS:1", "ion:10", "ion"),
        (DeliveryStatus.PENDING, "PARTS:2", "ion:11", "ion"),
    ]
    assert rows[0].body == incoming(10).body


def test_duplicates_are_answered_with_the_first_delivery(engine: Engine, store: Store) -> None:
    """The same event again, in the same batch or later, is not stored twice."""
    first = store(incoming(10), incoming(10))
    again = store(incoming(10))
    assert first[1] == (first[0][0], Disposition.DUPLICATE)
    assert again == [(first[0][0], Disposition.DUPLICATE)]
    assert len(deliveries(engine)) == 1


def test_older_event_after_a_newer_one_is_superseded(engine: Engine, store: Store) -> None:
    """An event older than the object's watermark is stored but never sent."""
    store(incoming(20, entity=5))
    results = store(incoming(19, entity=5), incoming(21, entity=5), incoming(3, entity=6))
    assert [d for _, d in results] == [
        Disposition.SUPERSEDED,
        Disposition.ACCEPTED,
        Disposition.ACCEPTED,
    ]
    rows = {r.event_id: r for r in deliveries(engine)}
    assert rows[19].status == DeliveryStatus.SUPERSEDED
    assert rows[19].completed_at is not None
    with session_scope(engine) as session:
        mark = session.get(EntityWatermark, "PARTS:5")
        assert mark is not None
        assert mark.last_event_id == 21


def test_superseded_within_one_batch(engine: Engine, store: Store) -> None:
    """Order inside a batch is arrival order: a newer then an older event of one object."""
    results = store(incoming(8, entity=1), incoming(7, entity=1))
    assert [d for _, d in results] == [Disposition.ACCEPTED, Disposition.SUPERSEDED]


def test_pass_through_is_deduplicated_by_its_bytes(engine: Engine, store: Store) -> None:
    """An unparsed body is stored once per distinct byte string, without an ordering key."""
    results = store(raw(b"\xff garbage"), raw(b"\xff garbage"), raw(b"other"))
    assert [d for _, d in results] == [
        Disposition.ACCEPTED,
        Disposition.DUPLICATE,
        Disposition.ACCEPTED,
    ]
    rows = deliveries(engine)
    assert [r.body for r in rows] == [b"\xff garbage", b"other"]
    assert all(r.entity_key is None and r.dedupe_key.startswith("sha256:") for r in rows)  # type: ignore[union-attr]


def test_a_batch_costs_the_same_statements_whatever_its_size(engine: Engine) -> None:
    """One read of keys, one of watermarks, one insert (SQLite: plus one read of the new ids),
    one write of watermarks: never a statement per delivery (SQLite cannot order RETURNING, so
    a RETURNING insert there would go row by row). The ids follow arrival order."""
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count)
    try:
        store_core(engine, incoming(1, entity=1))
        single = len(statements)
        statements.clear()
        results = store_core(engine, *(incoming(i, entity=i) for i in range(100, 140)))
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == single, statements
    ids = [delivery_id for delivery_id, _ in results]
    assert ids == sorted(set(ids))
    stored = {r.id: r.event_id for r in deliveries(engine)}
    assert [stored[i] for i in ids] == list(range(100, 140))


@pytest.mark.postgres
def test_postgresql_rejects_an_oversize_value_rather_than_truncating_it(
    fresh_postgres_url: str,
) -> None:
    """The batch insert binds each column as an array; its casts carry no length, so a value
    longer than its column fails the batch instead of being cut to fit."""
    engine = make_engine(fresh_postgres_url)
    try:
        upgrade(engine)
        item = incoming(1)
        oversize = Incoming(body=item.body, content_type="x" * 201, event=item.event)
        with pytest.raises(StorageError):
            store_core(engine, oversize)
        store_core(engine, item)
        assert [r.content_type for r in deliveries(engine)] == ["application/json"]
    finally:
        engine.dispose()


@pytest.mark.parametrize("where", ["thread", "process"])
def test_group_commit_answers_each_request_after_its_batch(engine: Engine, where: str) -> None:
    """Concurrent submissions are committed in batches and each learns its own fate."""

    async def run() -> list[Disposition]:
        writer = writer_for(engine, where)
        await writer.start()
        try:
            items = [incoming(i, entity=i % 7) for i in range(1, 201)] + [incoming(5)]
            stored = await asyncio.gather(*(writer.submit(item) for item in items))
        finally:
            await writer.stop()
        return [s.disposition for s in stored]

    dispositions = asyncio.run(run())
    assert dispositions[:200] == [Disposition.ACCEPTED] * 200
    assert dispositions[200] is Disposition.DUPLICATE
    assert len(deliveries(engine)) == 200


@pytest.mark.parametrize("where", ["thread", "process"])
def test_two_writers_racing_store_each_event_once(database_url: str, where: str) -> None:
    """Two processes' writers receiving the same events store each exactly once, in order."""
    from bridge.store.db import make_engine

    engines = [make_engine(database_url), make_engine(database_url)]

    async def run() -> list[Disposition]:
        writers = [writer_for(e, where) for e in engines]
        for writer in writers:
            await writer.start()
        try:
            jobs = [
                writer.submit(incoming(i, entity=i % 3)) for i in range(1, 81) for writer in writers
            ]
            stored = await asyncio.gather(*jobs)
        finally:
            for writer in writers:
                await writer.stop()
        return [s.disposition for s in stored]

    try:
        dispositions = asyncio.run(run())
    finally:
        for e in engines:
            e.dispose()
    engine = make_engine(database_url)
    rows = deliveries(engine)
    engine.dispose()
    assert len(rows) == 80
    assert dispositions.count(Disposition.DUPLICATE) == 80
    forwarded = [r.event_id for r in rows if r.status == DeliveryStatus.PENDING]
    for entity in range(3):
        ids = [r.id for r in rows if r.entity_id == str(entity) and r.event_id in forwarded]
        events = [r.event_id for r in sorted(rows, key=lambda r: r.id or 0) if r.id in ids]
        assert events == sorted(events)


def test_the_thread_writer_on_postgresql_has_sessions_of_its_own(database_url: str) -> None:
    """`BRIDGE_INGEST_WRITER=thread`: on PostgreSQL the writer's thread writes through a pool
    of its own whose sessions plan without sequential scans, as the writer process's do; on
    SQLite it shares the bridge's engine (one in-process write lock). Either way a delivery
    posted to the inbox is stored, and the writer's own pool is closed with the bridge."""
    with violet_standin() as violet:
        settings = settings_for(database_url, violet.hook_url, ingest_writer="thread")
        with running_bridge(settings) as running:
            writer = running.bridge.writer
            assert writer.process is None
            postgres = not database_url.startswith("sqlite")
            assert (writer.engine is not running.bridge.engine) is postgres
            if postgres:
                with writer.engine.connect() as connection:
                    shown = connection.execute(text("SHOW enable_seqscan")).scalar()
                assert shown == "off"
            event_id = next_event_id()
            answer = running.post(event_body(event_id))
            assert answer.status_code == 200, answer.text
            assert [d.event_id for d in running.deliveries(event_id)] == [event_id]
        assert writer.engine.pool.checkedin() == 0
