"""The worker's side of the database: every read and write it makes, run in worker threads.

Kept apart from the loop so the loop reads as "claim, send, settle" while this module holds the
two rules about writing: SQLite writes are serialised in-process (`serial`), and the result of
an attempt is retried through a brief database outage, because a settled attempt that never
reaches the database is sent again once its lease runs out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import anyio.to_thread
import structlog
from sqlalchemy.engine import Engine

from bridge.delivery import claims, destination
from bridge.delivery.schedule import Outcome
from bridge.delivery.serial import write_scope
from bridge.errors import StorageError
from bridge.store.db import session_scope
from bridge.store.models import Delivery

log = structlog.get_logger(__name__)

#: Pauses between tries of a settle write (about 9 s in all, well inside any sane lease).
_RETRY_DELAYS = (0.1, 0.5, 1.0, 2.0, 5.0)
T = TypeVar("T")


class Ledger:
    """Claims, settles and releases deliveries for one worker (`owner`)."""

    def __init__(
        self, engine: Engine, *, owner: str, clock: Callable[[], datetime], lease_seconds: float
    ) -> None:
        self.engine = engine
        self.owner = owner
        self.clock = clock
        self.lease_seconds = lease_seconds

    async def claim(self, limit: int) -> list[Delivery]:
        return await anyio.to_thread.run_sync(self._claim, limit)

    async def settle(self, delivery: Delivery, result: claims.AttemptResult) -> bool:
        """Record the attempt (and a pause after a 410); False if the lease was lost."""
        return await self._retrying(self._finish, delivery, result)

    async def expedite(self) -> int:
        return await self._retrying(self._expedite)

    async def release(self) -> int:
        return await anyio.to_thread.run_sync(self._release)

    async def paused(self) -> dict[str, Any] | None:
        return await anyio.to_thread.run_sync(self._read_pause)

    async def _retrying(self, call: Callable[..., T], *args: Any) -> T:
        for delay in _RETRY_DELAYS:
            try:
                return await anyio.to_thread.run_sync(call, *args)
            except StorageError as exc:
                log.warning("delivery.write_retry", error=str(exc), retry_in_s=delay)
                await asyncio.sleep(delay)
        return await anyio.to_thread.run_sync(call, *args)

    # -- in worker threads ------------------------------------------------------------------
    def _claim(self, limit: int) -> list[Delivery]:
        with write_scope(self.engine) as session:
            return claims.claim(
                session,
                owner=self.owner,
                limit=limit,
                now=self.clock(),
                lease_seconds=self.lease_seconds,
            )

    def _finish(self, delivery: Delivery, result: claims.AttemptResult) -> bool:
        with write_scope(self.engine) as session:
            kept = claims.finish(session, delivery.id or 0, owner=self.owner, result=result)
            if kept and result.outcome == Outcome.PAUSE.value:
                destination.pause(
                    session,
                    now=self.clock(),
                    status_code=result.status_code or 410,
                    delivery_id=delivery.id,
                )
            return kept

    def _expedite(self) -> int:
        with write_scope(self.engine) as session:
            return claims.expedite(session, now=self.clock())

    def _release(self) -> int:
        with write_scope(self.engine) as session:
            return claims.release(session, owner=self.owner)

    def _read_pause(self) -> dict[str, Any] | None:
        with session_scope(self.engine) as session:
            return destination.paused(session)
