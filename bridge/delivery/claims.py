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

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import BindParameter, Table, and_, bindparam, exists, insert, or_, update
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from bridge.store.db import is_sqlite
from bridge.store.models import Attempt, Delivery, DeliveryStatus

#: The stored response is cut to this many characters (the delivery log, not an archive).
RESPONSE_LIMIT = 4096


def _claimable_ids() -> SelectOfScalar[int | None]:
    """Ids of due head-of-object deliveries, oldest due first (`:now`, `:limit` bound later)."""
    earlier = aliased(Delivery)
    now: BindParameter[datetime] = bindparam("now")
    blocked = exists().where(
        and_(
            col(earlier.entity_key) == col(Delivery.entity_key),
            col(earlier.status).in_(DeliveryStatus.OPEN),
            col(earlier.id) < col(Delivery.id),
        )
    )
    due = or_(
        and_(col(Delivery.status) == DeliveryStatus.PENDING, col(Delivery.next_attempt_at) <= now),
        and_(col(Delivery.status) == DeliveryStatus.SENDING, col(Delivery.lease_expires_at) <= now),
    )
    return (
        select(col(Delivery.id))
        .where(due, ~blocked)
        .order_by(col(Delivery.next_attempt_at), col(Delivery.id))
        .limit(bindparam("limit"))
    )


# Built once: the worker claims on every wake-up, and building these statements costs more
# Python time than SQLite takes to run them.
_IDS = _claimable_ids()
_IDS_SKIP_LOCKED = _IDS.with_for_update(skip_locked=True)
_LEASE = {
    "status": DeliveryStatus.SENDING,
    "lease_owner": bindparam("owner"),
    "lease_expires_at": bindparam("until"),
}
_LEASE_CHOSEN = (
    update(Delivery)
    .where(col(Delivery.id).in_(bindparam("ids", expanding=True)))
    .values(**_LEASE)
    .returning(Delivery)
)
_LEASE_DUE = (
    update(Delivery)
    .where(col(Delivery.id).in_(_IDS.scalar_subquery()))
    .values(**_LEASE)
    .returning(Delivery)
)


def claim(
    session: Session, *, owner: str, limit: int, now: datetime, lease_seconds: float
) -> list[Delivery]:
    """Lease up to `limit` due head-of-object deliveries to `owner`; the caller commits."""
    if limit <= 0:
        return []
    params = {
        "now": now,
        "limit": limit,
        "owner": owner,
        "until": now + timedelta(seconds=lease_seconds),
    }
    if is_sqlite(session.get_bind().engine):
        claimed = list(session.scalars(_LEASE_DUE, params))
    else:
        chosen = list(session.scalars(_IDS_SKIP_LOCKED, params))
        if not chosen:
            return []
        claimed = list(session.scalars(_LEASE_CHOSEN, {**params, "ids": chosen}))
    claimed.sort(key=lambda d: (d.next_attempt_at, d.id or 0))
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


# SQLModel's stubs do not declare `__table__`; the mapped tables are there at runtime.
_ATTEMPTS = cast(Table, Attempt.__table__)  # type: ignore[attr-defined]
_DELIVERIES = cast(Table, Delivery.__table__)  # type: ignore[attr-defined]
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


def finish(session: Session, delivery_id: int, *, owner: str, result: AttemptResult) -> bool:
    """Record the attempt and settle the delivery; False when the lease was lost meanwhile.

    The attempt is logged either way (it happened); the delivery is only changed while `owner`
    still holds it, so a worker whose lease expired cannot overwrite its successor's result.
    """
    response = result.response_body
    pending = result.status == DeliveryStatus.PENDING
    session.exec(
        _RECORD,
        params={
            "delivery_id": delivery_id,
            "started_at": result.started_at,
            "duration_ms": result.duration_ms,
            "status_code": result.status_code,
            "response_body": response[:RESPONSE_LIMIT] if response is not None else None,
            "error": result.error,
            "outcome": result.outcome,
            "next_attempt_at": result.next_attempt_at if pending else None,
        },
    )
    finished = result.status not in DeliveryStatus.OPEN
    changed = session.exec(
        _SETTLE,
        params={
            "d_id": delivery_id,
            "d_owner": owner,
            "d_status": result.status,
            "d_attempts": result.attempts,
            "d_next": result.next_attempt_at,
            "d_completed": result.started_at if finished else None,
            "d_code": result.status_code,
            "d_error": result.error,
        },
    )
    return bool(changed.rowcount)


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
