"""Claiming due deliveries under a lease, and recording how each attempt ended.

A delivery is claimable when it is due (PENDING and `next_attempt_at` has come, or SENDING whose
lease ran out: its worker died) and it is the *head* of its object: no open delivery with the same
`entity_key` and a smaller id. So a later event of an object waits while an earlier one is pending
or retrying, and other objects are not held up. Deliveries without an `entity_key` are heads.

Two dialects, one rule:
- PostgreSQL: `SELECT ... FOR UPDATE SKIP LOCKED`, then mark the rows in the same transaction;
  concurrent `serve` processes skip each other's rows instead of waiting for or double-sending
  them.
- SQLite: a single `UPDATE ... WHERE id IN (SELECT ...) RETURNING` statement, atomic because
  SQLite has one writer. Meant for one `serve` process; a second process on the same file is
  still safe (WAL refuses a stale writer with "database is locked", retried on the next poll).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    Column,
    ColumnElement,
    Row,
    Select,
    Table,
    and_,
    bindparam,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlmodel import Session, col

from bridge.store.db import is_sqlite
from bridge.store.models import Attempt, Delivery, DeliveryStatus

#: The stored response is cut to this many characters (the delivery log, not an archive).
RESPONSE_LIMIT = 4096


@dataclass(slots=True, kw_only=True)
class Outgoing:
    """A claimed delivery as the worker needs it: a plain copy of the row's columns.

    Built straight from the claim's RETURNING row: an ORM instance costs ~100 µs to make, which
    at a thousand deliveries a second is a tenth of a core. The worker updates `status`,
    `attempts`, `completed_at` and `last_status_code` after settling, for the hooks.
    """

    id: int
    webhook_id: str
    origin: str
    resend_of: str | None
    event_id: int | None
    resource: str | None
    action: str | None
    entity_id: str | None
    entity_key: str | None
    content_type: str
    body: bytes
    status: str
    attempts: int
    received_at: datetime
    next_attempt_at: datetime
    completed_at: datetime | None
    last_status_code: int | None


# SQLModel's stubs do not declare `__table__`; the mapped tables are there at runtime.
_ATTEMPTS = cast(Table, Attempt.__table__)  # type: ignore[attr-defined]
_DELIVERIES = cast(Table, Delivery.__table__)  # type: ignore[attr-defined]
_OUTGOING = [_DELIVERIES.c[item.name] for item in fields(Outgoing)]


def _claimable_ids(status: str, due: Column[datetime]) -> Select[tuple[int]]:
    """Ids of head-of-object deliveries in `status` whose `due` time has come, oldest due first
    (`:now`, `:limit` bound later).

    One status per query, so the range scan runs on the `(status, next_attempt_at, id)` index in
    order and stops after `:limit` heads: the cost follows the claim's size, not the backlog's.
    The head test is, per open status, a correlated scalar subquery for the object's smallest id
    in that status: one descent of the `(entity_key, status, id)` index each, whatever the
    object's history. Unlike NOT EXISTS, which PostgreSQL turns into an anti-join planned from
    statistics, it cannot become a scan of the whole table.
    """
    table = _DELIVERIES

    def first_in(open_status: str) -> ColumnElement[int]:
        earlier = table.alias(f"earlier_{open_status.lower()}")
        smallest = (
            select(func.min(earlier.c.id))
            .where(earlier.c.entity_key == table.c.entity_key, earlier.c.status == open_status)
            .scalar_subquery()
        )
        return func.coalesce(smallest, table.c.id)

    return (
        select(table.c.id)
        .where(
            table.c.status == status,
            due <= bindparam("now"),
            or_(
                table.c.entity_key.is_(None),
                and_(*(table.c.id <= first_in(s) for s in DeliveryStatus.OPEN)),
            ),
        )
        .order_by(table.c.next_attempt_at, table.c.id)
        .limit(bindparam("limit"))
    )


# Built once: the worker claims on every wake-up, and building these statements costs more
# Python time than SQLite takes to run them. Two sources of work: SENDING deliveries whose lease
# ran out (their worker died; few, and older), and PENDING ones whose time has come.
_SOURCES = (
    _claimable_ids(DeliveryStatus.SENDING, _DELIVERIES.c.lease_expires_at),
    _claimable_ids(DeliveryStatus.PENDING, _DELIVERIES.c.next_attempt_at),
)
_SOURCES_SKIP_LOCKED = tuple(ids.with_for_update(skip_locked=True) for ids in _SOURCES)
_LEASE = {
    "status": DeliveryStatus.SENDING,
    "lease_owner": bindparam("owner"),
    "lease_expires_at": bindparam("until"),
}
_LEASE_CHOSEN = (
    update(_DELIVERIES)
    .where(_DELIVERIES.c.id.in_(bindparam("ids", expanding=True)))
    .values(**_LEASE)
    .returning(*_OUTGOING)
)
_LEASE_DUE = tuple(
    update(_DELIVERIES)
    .where(_DELIVERIES.c.id.in_(ids.scalar_subquery()))
    .values(**_LEASE)
    .returning(*_OUTGOING)
    for ids in _SOURCES
)


def claim(
    session: Session,
    *,
    owner: str,
    limit: int,
    now: datetime,
    lease_seconds: float,
    expired: bool = True,
) -> list[Outgoing]:
    """Lease up to `limit` due head-of-object deliveries to `owner`; the caller commits.

    On PostgreSQL, run it on `store.db.worker_engine` (whose sessions plan without sorts or
    sequential scans, so stale statistics cannot turn a claim into a sort of the backlog).

    `expired=False` skips looking for deliveries whose lease ran out (only a dead worker leaves
    those; the worker looks for them once a poll interval, not on every claim).
    """
    params = {
        "now": now,
        "owner": owner,
        "until": now + timedelta(seconds=lease_seconds),
    }
    connection = session.connection()
    rows: list[Row[Any]] = []
    sqlite = is_sqlite(connection.engine)
    for index in range(0 if expired else 1, len(_SOURCES)):
        left = limit - len(rows)
        if left <= 0:
            break
        if sqlite:
            # One statement: atomic, since SQLite has one writer at a time.
            rows.extend(connection.execute(_LEASE_DUE[index], {**params, "limit": left}))
            continue
        chosen = list(
            connection.execute(_SOURCES_SKIP_LOCKED[index], {**params, "limit": left}).scalars()
        )
        if chosen:
            rows.extend(connection.execute(_LEASE_CHOSEN, {**params, "ids": chosen}))
    claimed = [Outgoing(**row._mapping) for row in rows]
    claimed.sort(key=lambda d: (d.next_attempt_at, d.id))
    return claimed


@dataclass(frozen=True, kw_only=True)
class AttemptResult:
    """How one try went and what becomes of the delivery."""

    started_at: datetime
    duration_ms: float
    outcome: str  # succeeded | retry | failed | paused | probe
    status: str  # the delivery's new status
    attempts: int  # the delivery's new count of attempts against the schedule
    next_attempt_at: datetime
    status_code: int | None = None
    response_body: str | None = None
    error: str | None = None


_RECORD = insert(_ATTEMPTS)
_SETTLE = (
    update(_DELIVERIES)
    .where(
        _DELIVERIES.c.id == bindparam("d_id"),
        _DELIVERIES.c.lease_owner == bindparam("d_owner"),
        _DELIVERIES.c.status == DeliveryStatus.SENDING,
    )
    .values(
        status=bindparam("d_status"),
        attempts=bindparam("d_attempts"),
        next_attempt_at=bindparam("d_next"),
        lease_owner=None,
        lease_expires_at=None,
        completed_at=bindparam("d_completed"),
        last_status_code=bindparam("d_code"),
        last_error=bindparam("d_error"),
    )
)


_HELD = (
    select(_DELIVERIES.c.id)
    .where(
        _DELIVERIES.c.id.in_(bindparam("ids", expanding=True)),
        _DELIVERIES.c.lease_owner == bindparam("owner"),
        _DELIVERIES.c.status == DeliveryStatus.SENDING,
    )
    .with_for_update()
)


def finish_many(
    session: Session, finished: list[tuple[int, AttemptResult]], *, owner: str
) -> list[bool]:
    """Record each attempt and settle its delivery; per item, False when the lease was lost.

    The attempts are logged either way (they happened); a delivery is only changed while `owner`
    still holds it (found and, on PostgreSQL, row-locked first), so a worker whose lease expired
    cannot overwrite its successor's result. Three statements however many items: one read, one
    batch of inserts, one batch of updates.
    """
    if not finished:
        return []
    connection = session.connection()
    ids = sorted({delivery_id for delivery_id, _ in finished})
    held = set(connection.execute(_HELD, {"ids": ids, "owner": owner}).scalars())
    connection.execute(_RECORD, [_attempt_row(d_id, result) for d_id, result in finished])
    settles = [
        _settle_row(delivery_id, owner, result)
        for delivery_id, result in finished
        if delivery_id in held
    ]
    if settles:
        connection.execute(_SETTLE, settles)
    return [delivery_id in held for delivery_id, _ in finished]


def _attempt_row(delivery_id: int, result: AttemptResult) -> dict[str, Any]:
    response = result.response_body
    pending = result.status == DeliveryStatus.PENDING
    return {
        "delivery_id": delivery_id,
        "started_at": result.started_at,
        "duration_ms": result.duration_ms,
        "status_code": result.status_code,
        "response_body": response[:RESPONSE_LIMIT] if response is not None else None,
        "error": result.error,
        "outcome": result.outcome,
        "next_attempt_at": result.next_attempt_at if pending else None,
    }


def _settle_row(delivery_id: int, owner: str, result: AttemptResult) -> dict[str, Any]:
    finished = result.status not in DeliveryStatus.OPEN
    return {
        "d_id": delivery_id,
        "d_owner": owner,
        "d_status": result.status,
        "d_attempts": result.attempts,
        "d_next": result.next_attempt_at,
        "d_completed": result.started_at if finished else None,
        "d_code": result.status_code,
        "d_error": result.error,
    }


def release(session: Session, *, owner: str, ids: list[int] | None = None) -> int:
    """Hand leased deliveries back unsent (graceful shutdown); returns how many."""
    statement = update(Delivery).where(
        col(Delivery.lease_owner) == owner, col(Delivery.status) == DeliveryStatus.SENDING
    )
    if ids is not None:
        statement = statement.where(col(Delivery.id).in_(ids))
    result = session.exec(
        statement.values(status=DeliveryStatus.PENDING, lease_owner=None, lease_expires_at=None)
    )
    return int(result.rowcount)


def expedite(session: Session, *, now: datetime) -> int:
    """Make deliveries waiting out a retry due now (Violet just proved it is back)."""
    result = session.exec(
        update(Delivery)
        .where(
            col(Delivery.status) == DeliveryStatus.PENDING,
            col(Delivery.attempts) > 0,
            col(Delivery.next_attempt_at) > now,
        )
        .values(next_attempt_at=now)
    )
    return int(result.rowcount)
