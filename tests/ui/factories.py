"""Rows for the status page tests: deliveries, attempts and runs written straight to the store."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from bridge.store.db import session_scope
from bridge.store.models import Attempt, Delivery, DeliveryStatus, ReconcileRun


def add_delivery(
    engine: Engine,
    *,
    now: datetime,
    status: str = DeliveryStatus.PENDING,
    received_ago: float = 0,
    resource: str = "PURCHASE_ORDERS",
    entity_id: str = "42",
    event_id: int | None = 9001,
    resend_of: str | None = None,
    status_code: int | None = None,
    attempts: Sequence[tuple[float, str, int | None, str | None]] = (),
) -> Delivery:
    """A delivery and its attempts: (seconds ago, outcome, status code, response body)."""
    received = now - timedelta(seconds=received_ago)
    done = status not in DeliveryStatus.OPEN
    with session_scope(engine) as session:
        delivery = Delivery(
            webhook_id=f"msg_{uuid.uuid4().hex}",
            origin="resend" if resend_of else "ion",
            resend_of=resend_of,
            event_id=event_id,
            resource=resource,
            action="UPDATE",
            entity_id=entity_id,
            entity_key=f"{resource}:{entity_id}",
            body=b'{"event_id": 9001}',
            status=status,
            attempts=len(attempts),
            received_at=received,
            next_attempt_at=received,
            completed_at=now if done else None,
            last_status_code=status_code,
        )
        session.add(delivery)
        session.flush()
        assert delivery.id is not None
        for ago, outcome, code, body in attempts:
            session.add(
                Attempt(
                    delivery_id=delivery.id,
                    started_at=now - timedelta(seconds=ago),
                    duration_ms=12.5,
                    status_code=code,
                    response_body=body,
                    outcome=outcome,
                )
            )
    return delivery


def add_run(
    engine: Engine,
    *,
    started: datetime,
    status: str = "COMPLETED",
    duration_ms: float | None = 850.0,
    counts: dict[str, Any] | None = None,
    error: str | None = None,
    trigger: str = "schedule",
) -> ReconcileRun:
    """One reconciliation run row."""
    finished = (
        started + timedelta(milliseconds=duration_ms)
        if duration_ms is not None and status != "RUNNING"
        else None
    )
    with session_scope(engine) as session:
        run = ReconcileRun(
            trigger=trigger,
            status=status,
            started_at=started,
            finished_at=finished,
            duration_ms=duration_ms if status != "RUNNING" else None,
            counts=counts,
            error=error,
        )
        session.add(run)
    return run
