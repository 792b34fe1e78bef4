"""The ingest writer's SQLite batches on the driver's own connection (`SqliteStore`): the same
rows as `store_batch` writes, one transaction a batch, and the driver's errors reported as
SQLAlchemy's are, so the writer's race retry and its 503s work the same."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from bridge.delivery.serial import write_connection
from bridge.errors import StorageError, StorageUnavailable
from bridge.inbox import codec
from bridge.inbox.batchstore import SqliteStore
from bridge.inbox.store import Disposition, Incoming, store_batch
from bridge.inbox.writer import lost_a_race
from bridge.store.db import make_engine
from bridge.store.migrate import upgrade

NOW = datetime(2026, 12, 3, 19, 30, 15, 123456, tzinfo=UTC)


def incoming(event_id: int, entity: int = 1) -> Incoming:
    body = json.dumps({"event_id": event_id, "resource": "PARTS", "id": entity}).encode()
    return Incoming(body=body, content_type="application/json", event=codec.parse(body))


def passthrough(body: bytes) -> Incoming:
    return Incoming(body=body, content_type="text/plain", event=codec.parse(body))


def sqlite_engine(path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    return engine


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = sqlite_engine(tmp_path / "bridge.db")
    yield engine
    engine.dispose()


@pytest.fixture
def store(engine: Engine) -> Iterator[SqliteStore]:
    store = SqliteStore(engine)
    yield store
    store.close()


def stored_rows(path: Path) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """Every delivery's and watermark's stored values, as SQLite holds them (not as read back
    through SQLAlchemy's types); the deliveries without their random `webhook_id`."""
    with sqlite3.connect(path) as db:
        db.row_factory = sqlite3.Row
        deliveries = [
            tuple(row[k] for k in row.keys() if k != "webhook_id")  # noqa: SIM118 -- a Row iterates values
            for row in db.execute("SELECT * FROM deliveries ORDER BY id")
        ]
        marks = [tuple(row) for row in db.execute("SELECT * FROM entity_watermarks ORDER BY 1")]
    db.close()
    return deliveries, marks


BATCHES = [
    [incoming(10, entity=1), incoming(12, entity=2), passthrough(b"\xff not json")],
    [incoming(11, entity=1), incoming(10), incoming(13, entity=2), incoming(13, entity=2)],
    [passthrough(b"\xff not json"), incoming(9, entity=3), incoming(14, entity=1)],
]


def test_it_writes_what_store_batch_writes(tmp_path: Path) -> None:
    """The same batches stored both ways leave the same values in the database, byte for byte
    (dates in SQLAlchemy's text form, bodies as blobs), and the same results."""
    core, driver = sqlite_engine(tmp_path / "core.db"), sqlite_engine(tmp_path / "driver.db")
    store = SqliteStore(driver)
    try:
        for batch in BATCHES:
            with write_connection(core) as connection:
                expected = store_batch(connection, batch, now=NOW)
            assert store(batch, NOW) == expected
    finally:
        store.close()
        core.dispose()
        driver.dispose()
    assert stored_rows(tmp_path / "driver.db") == stored_rows(tmp_path / "core.db")
    deliveries, marks = stored_rows(tmp_path / "driver.db")
    assert len(deliveries) == 7
    assert [mark[:2] for mark in marks] == [("PARTS:1", 14), ("PARTS:2", 13), ("PARTS:3", 9)]


def test_a_batch_is_one_transaction(engine: Engine, store: SqliteStore) -> None:
    """A delivery the database refuses fails its whole batch: nothing of the batch is stored,
    no watermark moves, and it is reported as a constraint (a race, which the writer retries,
    then writes the batch one delivery at a time). The next batch is stored as usual."""
    store([incoming(1, entity=1)], NOW)
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "CREATE TRIGGER refuse_7 BEFORE INSERT ON deliveries WHEN NEW.dedupe_key = 'ion:7' "
            "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        )
    with pytest.raises(StorageError) as raised:
        store([incoming(5, entity=1), incoming(6, entity=2), incoming(7, entity=3)], NOW)
    assert not isinstance(raised.value, StorageUnavailable)
    assert "refused by the test" in str(raised.value)
    assert lost_a_race(raised.value)
    deliveries, marks = stored_rows(Path(str(engine.url.database)))
    assert [row[4] for row in deliveries] == [1]  # event_id
    assert [mark[:2] for mark in marks] == [("PARTS:1", 1)]
    results = store([incoming(5, entity=1), incoming(6, entity=2)], NOW)
    assert [s.disposition for s in results] == [Disposition.ACCEPTED, Disposition.ACCEPTED]
    deliveries, marks = stored_rows(Path(str(engine.url.database)))
    assert [row[4] for row in deliveries] == [1, 5, 6]
    assert [mark[:2] for mark in marks] == [("PARTS:1", 5), ("PARTS:2", 6)]


def test_a_database_it_cannot_use_is_unavailable_until_it_can(
    engine: Engine, store: SqliteStore
) -> None:
    """A driver error that is not one delivery's fault (here the table gone) is a 503's
    StorageUnavailable, with the driver's one-line message. The store lets go of its
    connection, and once the database is usable again the next batch is stored."""
    store([incoming(1)], NOW)
    path = Path(str(engine.url.database))
    with sqlite3.connect(path) as db:
        db.execute("ALTER TABLE deliveries RENAME TO deliveries_away")
    db.close()
    with pytest.raises(StorageUnavailable, match="no such table: deliveries"):
        store([incoming(2)], NOW)
    with sqlite3.connect(path) as db:
        db.execute("ALTER TABLE deliveries_away RENAME TO deliveries")
    db.close()
    assert [s.disposition for s in store([incoming(2), incoming(1)], NOW)] == [
        Disposition.ACCEPTED,
        Disposition.DUPLICATE,
    ]
    assert engine.pool.checkedout() == 1
    store.close()
    assert engine.pool.checkedout() == 0


def test_it_holds_one_connection_for_its_life(engine: Engine, store: SqliteStore) -> None:
    """One connection from the engine's pool, taken by the first batch and kept."""
    assert engine.pool.checkedout() == 0
    for event_id in range(1, 6):
        store([incoming(event_id)], NOW)
    assert engine.pool.checkedout() == 1
    store.close()
    assert engine.pool.checkedout() == 0
