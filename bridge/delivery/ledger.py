"""The worker's side of the database: every read and write it makes, run in worker threads.

Kept apart from the loop so the loop reads as "send, then exchange results for new work" while
this module holds the rules about writing: SQLite writes are serialised in-process (`serial`),
and an exchange is one transaction, so a failed one leaves nothing half-written and the worker
simply tries it again with the same results (a result that never reaches the database is sent
again once its lease runs out: at least once, never lost).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anyio.to_thread
import structlog
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bridge.delivery import claims, destination
from bridge.delivery.claims import Outgoing
from bridge.delivery.schedule import Outcome
from bridge.delivery.serial import write_scope
from bridge.store.db import session_scope

log = structlog.get_logger(__name__)


@dataclass(frozen=True, kw_only=True)
class Settlement:
    """A finished attempt waiting to be written: the delivery and how its attempt ended."""

    delivery: Outgoing
    result: claims.AttemptResult


@dataclass(frozen=True, kw_only=True)
class Exchange:
    """What one `exchange` wrote and took: per settlement whether the lease was still held
    (in order), how many waiting retries were made due, and the newly claimed deliveries."""

    kept: list[bool]
    expedited: int
    claimed: list[Outgoing]


class Ledger:
    """Claims, settles and releases deliveries for one worker (`owner`)."""

    def __init__(
        self,
        engine: Engine,
        *,
        owner: str,
        clock: Callable[[], datetime],
        lease_seconds: float,
        expired_every: float = 1.0,
    ) -> None:
        self.engine = engine
        self.owner = owner
        self.clock = clock
        self.lease_seconds = lease_seconds
        #: When the last claim looked for expired leases (monotonic seconds).
        self._expired_checked = float("-inf")
        #: How often claims look for expired leases (a dead worker's deliveries), seconds.
        self.expired_every = expired_every

    async def exchange(
        self,
        settled: list[Settlement],
        *,
        limit: int,
        expedite: bool = False,
        release: list[int] | None = None,
    ) -> Exchange:
        """In one transaction: record every finished attempt, hand back the claimed but unsent
        deliveries in `release`, make waiting retries due if `expedite` (Violet just proved it
        is back), then claim up to `limit` due deliveries.

        One commit for however many sends finished meanwhile: under load the worker writes in
        batches by itself, as the inbox does. StorageError leaves everything as it was.
        """
        return await anyio.to_thread.run_sync(
            self._exchange, settled, limit, expedite, release or []
        )

    async def release(self) -> int:
        return await anyio.to_thread.run_sync(self._release)

    async def paused(self) -> dict[str, Any] | None:
        return await anyio.to_thread.run_sync(self._read_pause)

    # -- in worker threads ------------------------------------------------------------------
    def _record(self, session: Session, settled: list[Settlement]) -> list[bool]:
        kept = claims.finish_many(
            session, [(item.delivery.id, item.result) for item in settled], owner=self.owner
        )
        for item, held in zip(settled, kept, strict=True):
            if held and item.result.outcome == Outcome.PAUSE.value:
                destination.pause(
                    session,
                    now=self.clock(),
                    status_code=item.result.status_code or 410,
                    delivery_id=item.delivery.id,
                )
        return kept

    def _exchange(
        self, settled: list[Settlement], limit: int, expedite: bool, release: list[int]
    ) -> Exchange:
        with write_scope(self.engine) as session:
            kept = self._record(session, settled)
            if release:
                claims.release(session, owner=self.owner, ids=release)
            expedited = claims.expedite(session, now=self.clock()) if expedite else 0
            checked = time.monotonic()
            expired = limit > 0 and checked - self._expired_checked >= self.expired_every
            claimed = claims.claim(
                session,
                owner=self.owner,
                limit=limit,
                now=self.clock(),
                lease_seconds=self.lease_seconds,
                expired=expired,
            )
            if expired:
                self._expired_checked = checked
            return Exchange(kept=kept, expedited=expedited, claimed=claimed)

    def _release(self) -> int:
        with write_scope(self.engine) as session:
            return claims.release(session, owner=self.owner)

    def _read_pause(self) -> dict[str, Any] | None:
        with session_scope(self.engine) as session:
            return destination.paused(session)
