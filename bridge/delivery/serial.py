"""Write transactions for the inbox and the worker, taken one at a time per SQLite database.

SQLite lets one writer in at a time; a thread that finds the lock taken is put to sleep by
SQLite's busy handler in growing steps (1, 2, 5, 10 … 100 ms) and may oversleep the moment the
lock is free. With the ingest writer, the claim and up to `delivery_concurrency` completions all
writing, those naps dominated end-to-end latency. A Python lock per database instead wakes the
next writer the instant the previous one commits. PostgreSQL takes row locks and needs none.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from weakref import WeakKeyDictionary

from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from bridge.store.db import connection_scope, is_sqlite, session_scope

_locks: WeakKeyDictionary[Engine, threading.Lock] = WeakKeyDictionary()
_guard = threading.Lock()


def _lock_for(engine: Engine) -> threading.Lock:
    with _guard:
        lock = _locks.get(engine)
        if lock is None:
            lock = _locks[engine] = threading.Lock()
        return lock


@contextmanager
def _serialised(engine: Engine) -> Iterator[None]:
    """Holds the engine's write lock on SQLite; nothing on PostgreSQL."""
    if not is_sqlite(engine):
        yield
        return
    with _lock_for(engine):
        yield


@contextmanager
def write_scope(engine: Engine) -> Iterator[Session]:
    """`session_scope`, serialised per engine on SQLite."""
    with _serialised(engine), session_scope(engine) as session:
        yield session


@contextmanager
def write_connection(engine: Engine) -> Iterator[Connection]:
    """`connection_scope` (Core, no ORM session), serialised per engine on SQLite."""
    with _serialised(engine), connection_scope(engine) as connection:
        yield connection
