"""How the ingest writer stores a batch: `batch_store(engine)`, held for the writer's life.

On PostgreSQL, `store_batch` in a Core transaction (`CoreStore`).

On SQLite, the same plan (`bridge.inbox.store.Plan`: dedupe, watermarks, one row per new
delivery) and the same statements, compiled once by SQLAlchemy from the same tables, executed on
the `sqlite3` connection the writer holds for its whole life (`SqliteStore`). Its store step
costs ~100 µs for a batch of one delivery, ~140 µs for two and ~260 µs for five, against ~285,
~350 and ~500 µs through SQLAlchemy's connection, transaction and statements (side by side on
`make bench`'s machine, 2026-12-03). At a moderate rate a batch is one to three deliveries and
each request waits for its batch: the writer process spent more of a batch in SQLAlchemy's
per-statement and per-transaction work than in SQLite, and its CPU at 1,200 deliveries/s fell
from ~0.6 to ~0.4 of a core (README, "Performance and reliability").

- The transaction is `BEGIN IMMEDIATE`: the lookups and the writes are one transaction under
  SQLite's write lock, taken after the bridge's own (`bridge.delivery.serial`).
- Rows are inserted one statement each, and each id is the driver's `lastrowid`: exact, in
  arrival order, and no dearer than one `executemany` and a lookup of the ids.
- A driver error rolls back and is reported as SQLAlchemy's would be (`storage_error`):
  OperationalError → StorageUnavailable (503), IntegrityError → a race the writer retries. After
  any error but IntegrityError the connection is closed, and the next batch opens a new one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import ClauseElement, insert
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql.compiler import SQLCompiler

from bridge.delivery.serial import serialised, write_connection
from bridge.inbox.store import (
    DELIVERIES,
    FIND,
    MARKS,
    NEW_MARK,
    RAISE_MARK,
    Incoming,
    Plan,
    Stored,
    batch_keys,
    bind_keys,
    store_batch,
)
from bridge.store.db import is_sqlite, storage_error


class BatchStore(Protocol):
    """Stores one batch in one transaction; one result per item, in order."""

    def __call__(self, items: Sequence[Incoming], now: datetime) -> list[Stored]: ...

    def close(self) -> None:
        """Let go of what it holds (a connection)."""


def batch_store(engine: Engine) -> BatchStore:
    return SqliteStore(engine) if is_sqlite(engine) else CoreStore(engine)


class CoreStore:
    """`store_batch` in a transaction of its own, through SQLAlchemy."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def __call__(self, items: Sequence[Incoming], now: datetime) -> list[Stored]:
        with write_connection(self._engine) as connection:
            return store_batch(connection, items, now=now)

    def close(self) -> None:
        pass


class _Statement:
    """A statement compiled for SQLite once: its SQL, and how to bind a mapping of values."""

    def __init__(
        self,
        statement: ClauseElement,
        dialect: Dialect,
        columns: Sequence[str] | None = None,
    ) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=columns)
        assert isinstance(compiled, SQLCompiler)  # a statement's, with positional binds
        self.sql = compiled.string
        self._names = tuple(compiled.positiontup or ())
        self._processors: tuple[Callable[[Any], Any] | None, ...] = tuple(
            compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in self._names
        )

    def params(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(
            value if process is None else process(value)
            for process, value in zip(
                self._processors, map(values.__getitem__, self._names), strict=True
            )
        )


class SqliteStore:
    """`store(items, now)`: one batch in one transaction on the writer's own connection."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        dialect = engine.dialect
        self._dialect = dialect
        self._find = _Statement(FIND["sqlite"], dialect)
        self._marks = _Statement(MARKS["sqlite"], dialect)
        self._new_mark = _Statement(NEW_MARK, dialect)
        self._raise_mark = _Statement(RAISE_MARK, dialect)
        self._inserts: dict[tuple[str, ...], _Statement] = {}
        self._held: PoolProxiedConnection | None = None

    def __call__(self, items: Sequence[Incoming], now: datetime) -> list[Stored]:
        with serialised(self._engine):
            db = self._connection()
            try:
                db.execute("BEGIN IMMEDIATE")
                stored = self._write(db, items, now)
                db.commit()
            except sqlite3.Error as exc:
                self._failed(db, exc)
                wrapped = DBAPIError.instance(None, None, exc, sqlite3.Error, hide_parameters=True)
                assert isinstance(wrapped, DBAPIError)  # a driver error, as given
                raise storage_error(wrapped) from wrapped
            except BaseException:
                self._failed(db, None)
                raise
        return stored

    def close(self) -> None:
        """Give the connection back to the engine's pool."""
        held, self._held = self._held, None
        if held is not None:
            held.close()

    def _write(
        self, db: sqlite3.Connection, items: Sequence[Incoming], now: datetime
    ) -> list[Stored]:
        dedupe_keys, entity_keys = batch_keys(items)
        existing = self._lookup(db, self._find, dedupe_keys)
        marks = self._lookup(db, self._marks, entity_keys)
        plan = Plan(items, existing, marks, now)
        ids: list[int] = []
        if plan.rows:
            statement = self._insert(tuple(plan.rows[0]))
            cursor = db.cursor()
            for row in plan.rows:
                cursor.execute(statement.sql, statement.params(row))
                assert cursor.lastrowid is not None  # an INSERT's
                ids.append(cursor.lastrowid)
        raised, created = plan.watermarks()
        if raised:
            db.executemany(self._raise_mark.sql, map(self._raise_mark.params, raised))
        if created:
            db.executemany(self._new_mark.sql, map(self._new_mark.params, created))
        return plan.stored(ids)

    def _insert(self, columns: tuple[str, ...]) -> _Statement:
        """The INSERT of a delivery's columns (`delivery_values`' keys, always the same)."""
        statement = self._inserts.get(columns)
        if statement is None:
            statement = _Statement(insert(DELIVERIES), self._dialect, columns)
            self._inserts[columns] = statement
        return statement

    @staticmethod
    def _lookup(db: sqlite3.Connection, statement: _Statement, keys: list[str]) -> dict[str, int]:
        if not keys:
            return {}
        return dict(
            db.execute(statement.sql, statement.params({"keys": bind_keys(keys, "sqlite")}))
        )

    def _connection(self) -> sqlite3.Connection:
        if self._held is None:
            try:
                self._held = self._engine.raw_connection()
            except DBAPIError as exc:
                raise storage_error(exc) from exc
        connection = self._held.driver_connection
        assert isinstance(connection, sqlite3.Connection)
        return connection

    def _failed(self, db: sqlite3.Connection, exc: sqlite3.Error | None) -> None:
        """Roll back; after anything but a lost race, close the connection too."""
        try:
            db.rollback()
        except sqlite3.Error:
            exc = None
        if isinstance(exc, sqlite3.IntegrityError):
            return
        held, self._held = self._held, None
        if held is not None:
            held.invalidate()
