"""The outbox: what the bridge owes Violet, written in the caller's transaction.

Every function takes an open `Session` and never commits: the caller's unit of work decides, so a
repair can be enqueued in the same transaction that records why it was needed (procrastinate's
"enqueue joins the caller's transaction"). Claiming and completing live in `claims`.

Ordering: deliveries sharing an `entity_key` go out one at a time in `id` order (see
`claims.claim`). Inserts for one object are serialised by the lock on its watermark row, so on
PostgreSQL a later-committed delivery cannot carry a smaller id than an earlier one of the same
object.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from bridge.inbox.codec import entity_key
from bridge.store.models import Delivery, DeliveryStatus, EntityWatermark


class Origin:
    """Values of `Delivery.origin`, sent to Violet as `x-bridge-origin`."""

    ION = "ion"
    RECONCILE = "reconcile"
    RESEND = "resend"


#: Bulk resends are bounded: one call never queues more than this.
RESEND_LIMIT = 1000
#: Statuses a bulk resend may select (SUPERSEDED is never replayed: it would go back in time).
RESENDABLE = (DeliveryStatus.FAILED, DeliveryStatus.SUCCEEDED)


def new_webhook_id() -> str:
    """A fresh `webhook-id` (Standard Webhooks style `msg_` prefix)."""
    return f"msg_{uuid.uuid4().hex}"


def delivery_values(
    *,
    origin: str,
    body: bytes,
    content_type: str,
    now: datetime,
    status: str = DeliveryStatus.PENDING,
    dedupe_key: str | None = None,
    event_id: int | None = None,
    resource: str | None = None,
    action: str | None = None,
    entity_id: str | None = None,
    resend_of: str | None = None,
) -> dict[str, Any]:
    """The columns of a new delivery, due now (for Core inserts on the hot path)."""
    key = entity_key(resource, entity_id) if resource and entity_id is not None else None
    return {
        "webhook_id": new_webhook_id(),
        "origin": origin,
        "resend_of": resend_of,
        "dedupe_key": dedupe_key,
        "event_id": event_id,
        "resource": resource,
        "action": action,
        "entity_id": entity_id,
        "entity_key": key,
        "content_type": content_type,
        "body": body,
        "status": status,
        "attempts": 0,
        "received_at": now,
        "next_attempt_at": now,
        "completed_at": now if status not in DeliveryStatus.OPEN else None,
    }


def new_delivery(**fields: Any) -> Delivery:
    """A delivery row (see `delivery_values`), not yet added to any session."""
    return Delivery(**delivery_values(**fields))


def lock_entity(session: Session, key: str) -> None:
    """Serialise writers of one object on its watermark row (PostgreSQL; SQLite has one writer)."""
    session.exec(
        select(EntityWatermark.entity_key)
        .where(EntityWatermark.entity_key == key)
        .with_for_update()
    ).all()


def enqueue_repair(
    session: Session,
    *,
    resource: str,
    entity_id: str | int,
    action: str,
    body: bytes,
    now: datetime,
    content_type: str = "application/json",
) -> Delivery:
    """Queue a repair event (origin `reconcile`) behind the open deliveries of the same object.

    Joins the caller's transaction; call `Bridge.wake()` after committing to send it at once.
    """
    resource = resource.strip().upper()
    lock_entity(session, entity_key(resource, entity_id))
    delivery = new_delivery(
        origin=Origin.RECONCILE,
        body=body,
        content_type=content_type,
        now=now,
        resource=resource,
        action=action.strip().upper(),
        entity_id=str(entity_id),
    )
    session.add(delivery)
    session.flush()
    return delivery


def resend(session: Session, original: Delivery, *, now: datetime) -> tuple[Delivery, bool]:
    """A new delivery of `original`'s bytes (origin `resend`); (delivery, created).

    Idempotent while it is in flight: if a resend of `original` is still open, that one is
    returned instead of queueing another copy.
    """
    open_copy = session.exec(
        select(Delivery).where(
            Delivery.resend_of == original.webhook_id,
            col(Delivery.status).in_(DeliveryStatus.OPEN),
        )
    ).first()
    if open_copy is not None:
        return open_copy, False
    if original.entity_key:
        lock_entity(session, original.entity_key)
    copy = new_delivery(
        origin=Origin.RESEND,
        body=original.body,
        content_type=original.content_type,
        now=now,
        event_id=original.event_id,
        resource=original.resource,
        action=original.action,
        entity_id=original.entity_id,
        resend_of=original.webhook_id,
    )
    session.add(copy)
    session.flush()
    return copy, True


def resend_candidates(
    session: Session,
    *,
    status: str,
    since: datetime | None = None,
    limit: int = RESEND_LIMIT,
) -> Sequence[Delivery]:
    """Deliveries a bulk resend should copy: originals (not resends) in `status` since `since`,
    not already resent by a copy that is open or succeeded (so running it twice is harmless)."""
    if status not in RESENDABLE:
        raise ValueError(f"only {', '.join(RESENDABLE)} deliveries can be resent in bulk")
    copy = aliased(Delivery)
    already = exists().where(
        and_(
            col(copy.resend_of) == col(Delivery.webhook_id),
            col(copy.status) != DeliveryStatus.FAILED,
        )
    )
    query = (
        select(Delivery)
        .where(Delivery.status == status, Delivery.origin != Origin.RESEND, ~already)
        .order_by(col(Delivery.id))
        .limit(min(limit, RESEND_LIMIT))
    )
    if since is not None:
        query = query.where(Delivery.received_at >= since)
    return session.exec(query).all()
