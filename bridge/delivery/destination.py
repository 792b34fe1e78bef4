"""Whether Violet's URL may be used: a 410 Gone pauses all sending until someone resumes it.

410 means the capability URL was revoked (a new one was generated in Violet's Webhooks page).
Retrying every delivery against it would only turn the whole queue into dead letters, so the
bridge stops, keeps the queue as it is, and says so loudly. The flag lives in the database
(`bridge_state`) so every `serve` process sees it and the CLI can clear it:

- `bridge events resume` or `POST /api/events/resume` clears it;
- so does any resend (`bridge events resend`, the resend API): resending is an operator saying
  "Violet is fine again".
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from bridge.clock import isoformat_z
from bridge.store.models import KeyValue

PAUSE_KEY = "delivery.destination_paused"


def pause(
    session: Session, *, now: datetime, status_code: int, delivery_id: int | None
) -> dict[str, Any]:
    """Mark the destination paused (idempotent: the first pause's time is kept)."""
    row = session.get(KeyValue, PAUSE_KEY)
    if row is not None and row.value:
        return row.value
    value: dict[str, Any] = {
        "since": isoformat_z(now),
        "status_code": status_code,
        "delivery_id": delivery_id,
        "reason": "Violet answered 410 Gone: the webhook URL was revoked",
    }
    if row is None:
        session.add(KeyValue(key=PAUSE_KEY, value=value, updated_at=now))
    else:
        row.value = value
        row.updated_at = now
        session.add(row)
    return value


def paused(session: Session) -> dict[str, Any] | None:
    """The pause record, or None when sending is allowed."""
    row = session.get(KeyValue, PAUSE_KEY)
    return row.value if row is not None and row.value else None


def resume(session: Session, *, now: datetime) -> bool:
    """Clear the pause; True if there was one."""
    row = session.get(KeyValue, PAUSE_KEY)
    if row is None or not row.value:
        return False
    row.value = None
    row.updated_at = now
    session.add(row)
    return True
