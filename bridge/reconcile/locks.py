"""Reconciliation runs never overlap: not in one process, not across processes.

- In a process: an asyncio lock, tried without waiting (a run finding another under way is
  skipped; the next scheduled one catches up).
- Across processes on PostgreSQL: a session-level advisory lock (`pg_try_advisory_lock`) held on
  a dedicated connection for the run; the server drops it if the process dies. The key is derived
  from the database and schema, so bridges sharing a server do not block each other.
- Across processes on SQLite: a lease row in `bridge_state`, renewed while the run goes on and
  taken over only once expired (a crashed run blocks the next ones for one lease at most).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio.to_thread
from sqlalchemy import Connection, text, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import col

from bridge.delivery.serial import write_scope
from bridge.errors import StorageUnavailable
from bridge.store.db import is_sqlite
from bridge.store.models import KeyValue

LEASE_KEY = "reconcile.run_lock"
_FREE = datetime(1970, 1, 1, tzinfo=UTC)
_PG_KEYS = (
    "hashtext('ion-violet-bridge:reconcile')",
    "hashtext(current_database() || '.' || current_schema())",
)


class RunLock:
    """`await lock.acquire()` -> bool; `await lock.release()`; `await lock.renew()` (SQLite)."""

    def __init__(
        self, engine: Engine, *, clock: Callable[[], datetime], lease_seconds: float = 600
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.lease = timedelta(seconds=lease_seconds)
        self.owner = uuid.uuid4().hex
        self._local = asyncio.Lock()
        self._connection: Connection | None = None

    @property
    def held(self) -> bool:
        return self._local.locked()

    async def acquire(self) -> bool:
        if self._local.locked():
            return False
        await self._local.acquire()
        try:
            taken = await anyio.to_thread.run_sync(self._acquire_shared)
        except BaseException:
            self._local.release()
            raise
        if not taken:
            self._local.release()
        return taken

    async def renew(self) -> None:
        if is_sqlite(self.engine) and self._local.locked():
            await anyio.to_thread.run_sync(self._sqlite_renew)

    async def release(self) -> None:
        if not self._local.locked():
            return
        try:
            await anyio.to_thread.run_sync(self._release_shared)
        finally:
            self._local.release()

    def _acquire_shared(self) -> bool:
        if is_sqlite(self.engine):
            return self._sqlite_acquire()
        try:
            return self._pg_acquire()
        except DBAPIError as exc:
            raise StorageUnavailable(f"cannot take the reconciliation lock: {exc.orig}") from exc

    def _pg_acquire(self) -> bool:
        connection = self.engine.connect()
        try:
            taken = bool(
                connection.execute(
                    text(f"SELECT pg_try_advisory_lock({', '.join(_PG_KEYS)})")
                ).scalar()
            )
            # The lock belongs to the session, not the transaction: end the transaction so
            # the connection does not sit "idle in transaction" for the whole run.
            connection.commit()
        except BaseException:
            connection.close()
            raise
        if taken:
            self._connection = connection
        else:
            connection.close()
        return taken

    def _release_shared(self) -> None:
        if is_sqlite(self.engine):
            self._sqlite_release()
            return
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            connection.execute(text(f"SELECT pg_advisory_unlock({', '.join(_PG_KEYS)})"))
            connection.commit()
        finally:
            connection.close()

    def _sqlite_acquire(self) -> bool:
        now = self.clock()
        with write_scope(self.engine) as session:
            session.execute(
                sqlite_insert(KeyValue)
                .values(key=LEASE_KEY, value=None, updated_at=_FREE)
                .on_conflict_do_nothing()
            )
            taken: Any = session.execute(
                update(KeyValue)
                .where(col(KeyValue.key) == LEASE_KEY, col(KeyValue.updated_at) < now - self.lease)
                .values(value={"owner": self.owner}, updated_at=now)
            )
            return bool(taken.rowcount == 1)

    def _sqlite_renew(self) -> None:
        self._sqlite_set(self.clock())

    def _sqlite_release(self) -> None:
        self._sqlite_set(_FREE)

    def _sqlite_set(self, at: datetime) -> None:
        with write_scope(self.engine) as session:
            row = session.get(KeyValue, LEASE_KEY)
            if row is not None and (row.value or {}).get("owner") == self.owner:
                row.updated_at = at
                session.add(row)
