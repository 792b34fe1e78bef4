"""What the status page shows, read from the database in one short unit of work.

Each function returns plain frozen values, so the templates never touch the ORM and a slow page
never holds a transaction open while it renders.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, func, literal_column
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from bridge.clock import as_utc
from bridge.store.models import Attempt, Delivery, DeliveryStatus, ReconcileRun
from bridge.ui.chart import ChartWindow

#: How much of a Violet response the page shows; the full text is in `bridge events show`.
RESPONSE_PREVIEW = 500


@dataclass(frozen=True, kw_only=True)
class Destination:
    last_success: datetime | None
    last_error_at: datetime | None
    last_error: str | None


@dataclass(frozen=True, kw_only=True)
class Queue:
    depth: int
    oldest_pending_age: float | None  # seconds
    failed: int


@dataclass(frozen=True, kw_only=True)
class Failure:
    id: int
    webhook_id: str
    resource: str | None
    entity_id: str | None
    event_id: int | None
    attempts: int
    failed_at: datetime | None
    status_code: int | None
    response: str
    #: The newest resend of this delivery and its status, if it was resent.
    resent_as: int | None
    resent_status: str | None


@dataclass(frozen=True, kw_only=True)
class Run:
    id: int
    trigger: str
    status: str
    started_at: datetime
    duration_ms: float | None
    counts: dict[str, Any]
    error: str | None


def destination(session: Session) -> Destination:
    """When Violet last accepted a delivery, and the last thing that went wrong."""
    last_ok = session.exec(
        select(func.max(Attempt.started_at)).where(Attempt.outcome == "succeeded")
    ).one()
    bad = session.exec(
        select(Attempt)
        .where(Attempt.outcome != "succeeded")
        .order_by(col(Attempt.started_at).desc(), col(Attempt.id).desc())
        .limit(1)
    ).first()
    error = None
    if bad is not None:
        error = f"HTTP {bad.status_code}" if bad.status_code else (bad.error or "error")
    return Destination(
        last_success=as_utc(last_ok) if last_ok else None,
        last_error_at=as_utc(bad.started_at) if bad else None,
        last_error=error,
    )


def queue(session: Session, now: datetime) -> Queue:
    """Deliveries still owed to Violet, and how long the oldest has waited."""
    depth, oldest = session.exec(
        select(func.count(), func.min(Delivery.received_at)).where(
            col(Delivery.status).in_(DeliveryStatus.OPEN)
        )
    ).one()
    failed = session.exec(
        select(func.count()).where(Delivery.status == DeliveryStatus.FAILED)
    ).one()
    age = (now - as_utc(oldest)).total_seconds() if oldest else None
    return Queue(depth=int(depth), oldest_pending_age=age, failed=int(failed))


def failures(session: Session, limit: int = 20) -> list[Failure]:
    """The newest dead letters, each with Violet's last answer and what became of a resend."""
    rows = session.exec(
        select(Delivery)
        .where(Delivery.status == DeliveryStatus.FAILED)
        .order_by(col(Delivery.completed_at).desc(), col(Delivery.id).desc())
        .limit(limit)
    ).all()
    result = []
    for row in rows:
        last = session.exec(
            select(Attempt)
            .where(Attempt.delivery_id == row.id)
            .order_by(col(Attempt.id).desc())
            .limit(1)
        ).first()
        resend = session.exec(
            select(Delivery)
            .where(Delivery.resend_of == row.webhook_id)
            .order_by(col(Delivery.id).desc())
            .limit(1)
        ).first()
        response = (last.response_body or last.error or "") if last else (row.last_error or "")
        assert row.id is not None  # rows read back from the database have ids
        result.append(
            Failure(
                id=row.id,
                webhook_id=row.webhook_id,
                resource=row.resource,
                entity_id=row.entity_id,
                event_id=row.event_id,
                attempts=row.attempts,
                failed_at=as_utc(row.completed_at) if row.completed_at else None,
                status_code=row.last_status_code,
                response=response[:RESPONSE_PREVIEW],
                resent_as=resend.id if resend else None,
                resent_status=resend.status if resend else None,
            )
        )
    return result


def runs(session: Session, limit: int = 10) -> list[Run]:
    """The newest reconciliation runs."""
    rows = session.exec(
        select(ReconcileRun)
        .order_by(col(ReconcileRun.started_at).desc(), col(ReconcileRun.id).desc())
        .limit(limit)
    ).all()
    return [
        Run(
            id=row.id or 0,
            trigger=row.trigger,
            status=row.status,
            started_at=as_utc(row.started_at),
            duration_ms=row.duration_ms,
            counts=dict(row.counts or {}),
            error=row.error,
        )
        for row in rows
    ]


def _minute(session: Session) -> ColumnElement[str]:
    """The attempt's start, truncated to the minute as 'YYYY-MM-DD HH:MM' UTC, in SQL."""
    if session.get_bind().dialect.name == "sqlite":
        # SQLite keeps UTC datetimes as ISO text: the first 16 characters are the minute.
        return func.substr(col(Attempt.started_at), 1, 16)
    return func.to_char(
        func.timezone("UTC", col(Attempt.started_at)),
        literal_column("'YYYY-MM-DD HH24:MI'", String),
    )


def per_minute(session: Session, window: ChartWindow) -> dict[tuple[str, str], int]:
    """Attempts per (minute, outcome) inside the window, counted by the database."""
    minute = _minute(session).label("minute")
    rows = session.exec(
        select(minute, Attempt.outcome, func.count())
        .where(col(Attempt.started_at) >= window.first)
        .where(col(Attempt.started_at) < window.first + timedelta(minutes=window.minutes))
        .group_by(minute, Attempt.outcome)
    ).all()
    return {(str(m), str(outcome)): int(n) for m, outcome, n in rows}
