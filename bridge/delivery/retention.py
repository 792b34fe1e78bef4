"""Retention: the delivery log and the run history do not grow without end.

Every ION delivery is kept with its body and every attempt, which is what makes the delivery log,
`show` and resend work; at a steady few events a second that is millions of rows a year. Rows older
than `retention_days` are deleted, in batches of `BATCH` per transaction so neither the inbox nor
the worker waits long for the write lock:

- deliveries that are over and need nothing more: SUCCEEDED (Violet has them) and SUPERSEDED
  (never to be sent), with their attempts;
- finished reconciliation runs.

Never deleted: anything open (PENDING, SENDING) and dead letters (FAILED): they were accepted and
never delivered, so they stay until an operator resends them. The age of a settled delivery is
its `next_attempt_at`, which the settle sets to the moment it was settled (a SUPERSEDED one: the
moment it was received), so the claim index `(status, next_attempt_at, id)` finds old rows without
a table scan.

A delivery's dedupe key goes with it: an ION retry of a pruned event would be accepted again.
Hence the floor `settings.MIN_RETENTION_DAYS`, at the longest retry horizon of the webhook senders
we know of (Svix ~27 h, Standard Webhooks' example ~3 days; ION's own is not published: ion.md).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

import structlog
from sqlalchemy import ColumnElement, Table, delete, func, select
from sqlalchemy.engine import Connection, Engine

from bridge.delivery.serial import write_connection
from bridge.errors import StorageError
from bridge.jobs import Schedule
from bridge.metrics import Metrics
from bridge.store.db import connection_scope
from bridge.store.models import Attempt, Delivery, DeliveryStatus, ReconcileRun

#: Settled deliveries old enough to go.
PRUNABLE = (DeliveryStatus.SUCCEEDED, DeliveryStatus.SUPERSEDED)
#: Rows deleted per transaction.
BATCH = 1000
#: How often `serve` prunes, and how long after its start the first time.
PRUNE_EVERY_SECONDS = 3600.0
FIRST_PRUNE_AFTER_SECONDS = 60.0
#: On shutdown, how long a prune in flight may take to finish its current batch.
STOP_GRACE_SECONDS = 10.0

log = structlog.get_logger(__name__)

_D = cast(Table, Delivery.__table__)  # type: ignore[attr-defined]
_A = cast(Table, Attempt.__table__)  # type: ignore[attr-defined]
_R = cast(Table, ReconcileRun.__table__)  # type: ignore[attr-defined]


@dataclass(frozen=True, kw_only=True)
class Pruned:
    """What a prune removed (or, dry, would remove)."""

    deliveries: int
    attempts: int
    runs: int
    cutoff: datetime

    @property
    def total(self) -> int:
        return self.deliveries + self.attempts + self.runs


def _old_ids(connection: Connection, status: str, cutoff: datetime, limit: int) -> list[int]:
    statement = (
        select(_D.c.id)
        .where(_D.c.status == status, _D.c.next_attempt_at < cutoff)
        .order_by(_D.c.next_attempt_at, _D.c.id)
        .limit(limit)
    )
    return list(connection.execute(statement).scalars())


def _delete_batch(engine: Engine, status: str, cutoff: datetime) -> tuple[int, int]:
    """One transaction: up to BATCH old deliveries of `status` and their attempts."""
    with write_connection(engine) as connection:
        ids = _old_ids(connection, status, cutoff, BATCH)
        if not ids:
            return 0, 0
        attempts = connection.execute(delete(_A).where(_A.c.delivery_id.in_(ids))).rowcount
        deliveries = connection.execute(
            delete(_D).where(_D.c.id.in_(ids), _D.c.status == status)
        ).rowcount
        return int(deliveries), int(attempts)


def _finished_runs(cutoff: datetime) -> list[ColumnElement[bool]]:
    return [_R.c.status != "RUNNING", _R.c.finished_at.is_not(None), _R.c.finished_at < cutoff]


def prune(
    engine: Engine, *, now: datetime, days: float, stop: threading.Event | None = None
) -> Pruned:
    """Delete what is older than `days` (see the module docstring); batch after batch until
    nothing old is left or `stop` is set. Safe while `serve` runs; a failed batch leaves the
    ones before it."""
    cutoff = now - timedelta(days=days)
    deliveries = attempts = 0
    for status in PRUNABLE:
        while not (stop and stop.is_set()):
            removed, their_attempts = _delete_batch(engine, status, cutoff)
            deliveries += removed
            attempts += their_attempts
            if removed < BATCH:
                break
    runs = 0
    if not (stop and stop.is_set()):
        with write_connection(engine) as connection:
            runs = int(connection.execute(delete(_R).where(*_finished_runs(cutoff))).rowcount)
    return Pruned(deliveries=deliveries, attempts=attempts, runs=runs, cutoff=cutoff)


def count(engine: Engine, *, now: datetime, days: float) -> Pruned:
    """What `prune` would delete now (a dry run)."""
    cutoff = now - timedelta(days=days)
    old = _D.c.status.in_(PRUNABLE) & (_D.c.next_attempt_at < cutoff)
    with connection_scope(engine) as connection:
        deliveries = connection.execute(
            select(func.count()).select_from(_D).where(old)
        ).scalar_one()
        attempts = connection.execute(
            select(func.count()).select_from(_A.join(_D, _A.c.delivery_id == _D.c.id)).where(old)
        ).scalar_one()
        runs = connection.execute(
            select(func.count()).select_from(_R).where(*_finished_runs(cutoff))
        ).scalar_one()
    return Pruned(deliveries=int(deliveries), attempts=int(attempts), runs=int(runs), cutoff=cutoff)


class RetentionJob:
    """`serve`'s prune: a minute after start, then every `every_seconds` (`bridge.jobs`). A
    shutdown stops a prune in flight after its current batch."""

    def __init__(
        self,
        engine: Engine,
        *,
        days: float,
        clock: Callable[[], datetime],
        metrics: Metrics,
        every_seconds: float = PRUNE_EVERY_SECONDS,
        first_after_seconds: float = FIRST_PRUNE_AFTER_SECONDS,
    ) -> None:
        self.engine = engine
        self.days = days
        self.clock = clock
        self.metrics = metrics
        self.every_seconds = every_seconds
        self.first_after_seconds = first_after_seconds
        self._stop = threading.Event()
        self._schedule: Schedule | None = None

    async def start(self) -> None:
        self._stop.clear()
        self._schedule = Schedule("retention")
        first = datetime.now(UTC) + timedelta(seconds=self.first_after_seconds)
        self._schedule.every("retention", self.run_once, self.every_seconds, first_at=first)
        self._schedule.start()

    async def stop(self) -> None:
        self._stop.set()
        if self._schedule is not None:
            await self._schedule.stop(STOP_GRACE_SECONDS)
            self._schedule = None

    async def run_once(self) -> Pruned | None:
        """One prune now; None when the database refused (logged; the next run tries again)."""
        started = time.monotonic()
        try:
            pruned = await asyncio.to_thread(
                prune, self.engine, now=self.clock(), days=self.days, stop=self._stop
            )
        except StorageError as exc:
            log.warning("retention.prune_failed", error=str(exc))
            return None
        for kind in ("deliveries", "attempts", "runs"):
            self.metrics.pruned.labels(kind).inc(getattr(pruned, kind))
        if pruned.total:
            log.info(
                "retention.pruned",
                deliveries=pruned.deliveries,
                attempts=pruned.attempts,
                runs=pruned.runs,
                older_than=pruned.cutoff.isoformat(),
                duration_ms=round((time.monotonic() - started) * 1000, 1),
            )
        return pruned
