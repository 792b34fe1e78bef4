"""Write transactions for the inbox and the worker, taken one at a time per SQLite database.

SQLite lets one writer in at a time; a thread that finds the lock taken is put to sleep by
SQLite's busy handler in growing steps (1, 2, 5, 10 … 100 ms) and may oversleep the moment the
lock is free. With the ingest writer, the claim and up to `delivery_concurrency` completions all
writing, those naps dominated end-to-end latency. A lock per database instead wakes the next
writer the instant the previous one commits: a Python lock between the threads of a process, and
an `flock` on `<database>-bridge.lock` between processes (the ingest writer's own process and
`serve`). PostgreSQL takes row locks and needs none.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from weakref import WeakKeyDictionary

from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from bridge.store.db import connection_scope, is_sqlite, session_scope, sqlite_file

#: The lock file beside a SQLite database: `<database>-bridge.lock`.
LOCK_SUFFIX = "-bridge.lock"

_locks: WeakKeyDictionary[Engine, _WriteLock] = WeakKeyDictionary()
_guard = threading.Lock()


class _WriteLock:
    """The threads of this process, then the processes, one at a time (see the module)."""

    def __init__(self, database: str | None) -> None:
        self.threads = threading.Lock()
        self._fd: int | None = None
        if database is not None:
            self._fd = os.open(f"{database}{LOCK_SUFFIX}", os.O_RDWR | os.O_CREAT, 0o600)

    @contextmanager
    def held(self) -> Iterator[None]:
        with self.threads:
            if self._fd is None:
                yield
                return
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def __del__(self) -> None:
        if self._fd is not None:
            os.close(self._fd)


def _lock_for(engine: Engine) -> _WriteLock:
    with _guard:
        lock = _locks.get(engine)
        if lock is None:
            lock = _locks[engine] = _WriteLock(sqlite_file(engine.url))
        return lock


@contextmanager
def serialised(engine: Engine) -> Iterator[None]:
    """Holds the database's write lock on SQLite; nothing on PostgreSQL."""
    if not is_sqlite(engine):
        yield
        return
    with _lock_for(engine).held():
        yield


@contextmanager
def write_scope(engine: Engine) -> Iterator[Session]:
    """`session_scope`, serialised per engine on SQLite."""
    with serialised(engine), session_scope(engine) as session:
        yield session


@contextmanager
def write_connection(engine: Engine) -> Iterator[Connection]:
    """`connection_scope` (Core, no ORM session), serialised per engine on SQLite."""
    with serialised(engine), connection_scope(engine) as connection:
        yield connection
