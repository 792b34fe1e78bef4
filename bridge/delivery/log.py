"""The delivery log, read side: listing, one delivery with its attempts, queue figures.

Shared by `bridge events` and the admin API so both show the same thing. JSON shapes never
carry a secret: bodies are ION's data (not credentials), and nothing here knows the Violet URL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from bridge.clock import as_utc, isoformat_z
from bridge.store.models import Attempt, Delivery, DeliveryStatus

MAX_PAGE = 500
#: Delivery ids are a 32-bit INTEGER column on PostgreSQL.
MAX_ID = 2**31 - 1


@dataclass(frozen=True, kw_only=True)
class EventQuery:
    """Filters of `bridge events list` and `GET /api/events`; newest first."""

    status: str | None = None
    resource: str | None = None
    entity_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 50
    #: Paging: only deliveries with an id below this one (the previous page's last id).
    before_id: int | None = None


def list_deliveries(session: Session, query: EventQuery) -> Sequence[Delivery]:
    statement = select(Delivery).order_by(col(Delivery.id).desc())
    if query.status:
        statement = statement.where(Delivery.status == query.status.upper())
    if query.resource:
        statement = statement.where(Delivery.resource == query.resource.upper())
    if query.entity_id:
        statement = statement.where(Delivery.entity_id == query.entity_id)
    if query.since:
        statement = statement.where(Delivery.received_at >= query.since)
    if query.until:
        statement = statement.where(Delivery.received_at < query.until)
    if query.before_id is not None:
        statement = statement.where(col(Delivery.id) < query.before_id)
    return session.exec(statement.limit(max(1, min(query.limit, MAX_PAGE)))).all()


def find_delivery(session: Session, ref: str | int) -> Delivery | None:
    """A delivery by numeric id or by its `webhook-id`."""
    text = str(ref).strip()
    if text.isascii() and text.isdigit():
        number = int(text)
        # Beyond the id column's range there is nothing to find (and drivers would overflow).
        return session.get(Delivery, number) if number <= MAX_ID else None
    return session.exec(select(Delivery).where(Delivery.webhook_id == text)).first()


def attempts_of(session: Session, delivery_id: int) -> Sequence[Attempt]:
    return session.exec(
        select(Attempt).where(Attempt.delivery_id == delivery_id).order_by(col(Attempt.id))
    ).all()


@dataclass(frozen=True, kw_only=True)
class QueueFigures:
    by_status: dict[str, int]
    oldest_open_age_seconds: float

    @property
    def depth(self) -> int:
        return sum(self.by_status.get(status, 0) for status in DeliveryStatus.OPEN)


def queue_figures(
    session: Session, *, now: datetime, statuses: Sequence[str] = DeliveryStatus.ALL
) -> QueueFigures:
    """Deliveries per status (only `statuses` are counted: SUCCEEDED grows without bound, and a
    scrape every few seconds should not count it) and the age of the oldest unsettled one."""
    rows = session.exec(
        select(Delivery.status, func.count())
        .where(col(Delivery.status).in_(statuses))
        .group_by(col(Delivery.status))
    ).all()
    counts = dict.fromkeys(statuses, 0)
    counts.update({status: int(count) for status, count in rows})
    oldest = session.exec(
        select(func.min(Delivery.received_at)).where(col(Delivery.status).in_(DeliveryStatus.OPEN))
    ).one()
    age = (as_utc(now) - as_utc(oldest)).total_seconds() if oldest is not None else 0.0
    return QueueFigures(by_status=counts, oldest_open_age_seconds=max(0.0, age))


def _time(value: datetime | None) -> str | None:
    return isoformat_z(value) if value is not None else None


def delivery_json(delivery: Delivery, *, body: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": delivery.id,
        "webhook_id": delivery.webhook_id,
        "origin": delivery.origin,
        "resend_of": delivery.resend_of,
        "status": delivery.status,
        "event_id": delivery.event_id,
        "resource": delivery.resource,
        "action": delivery.action,
        "entity_id": delivery.entity_id,
        "attempts": delivery.attempts,
        "received_at": _time(delivery.received_at),
        "next_attempt_at": (
            _time(delivery.next_attempt_at) if delivery.status in DeliveryStatus.OPEN else None
        ),
        "completed_at": _time(delivery.completed_at),
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "content_type": delivery.content_type,
        "size": len(delivery.body),
    }
    if body:
        out["body"] = delivery.body.decode("utf-8", errors="replace")
    return out


def attempt_json(attempt: Attempt) -> dict[str, Any]:
    return {
        "id": attempt.id,
        "started_at": _time(attempt.started_at),
        "duration_ms": round(attempt.duration_ms, 2),
        "status_code": attempt.status_code,
        "outcome": attempt.outcome,
        "error": attempt.error,
        "response": attempt.response_body,
        "next_attempt_at": _time(attempt.next_attempt_at),
    }
