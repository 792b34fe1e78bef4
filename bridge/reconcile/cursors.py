"""Where each walk stopped, per resource (`cursors` table).

A cursor row exists once a resource's walk has completed at least once (that first walk is the
baseline); its position is the newest (`_updated`, `id`) stored, or none when the resource was
empty. Cursors only move forward, and only after what they cover is durably stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine

from bridge.clock import as_utc
from bridge.delivery.serial import write_scope
from bridge.reconcile.walk import Position
from bridge.store.db import session_scope
from bridge.store.models import Cursor

#: The new-line poll keeps its own cursor, on `_created`.
LINES_CREATED = "PURCHASE_ORDER_LINES@_created"
#: The missed-delivery check's cursor over ION's webhook events, on `_updated`.
WEBHOOK_EVENTS = "WEBHOOK_EVENTS@_updated"


@dataclass(frozen=True, kw_only=True)
class CursorState:
    """A stored cursor: `position` None means the walk completed and found nothing yet."""

    position: Position | None


def load_cursor(engine: Engine, name: str) -> CursorState | None:
    """The cursor named `name`, or None when that walk has never completed."""
    with session_scope(engine) as session:
        row = session.get(Cursor, name)
        if row is None:
            return None
        if row.updated_after is None or row.last_id is None:
            return CursorState(position=None)
        return CursorState(position=Position(at=as_utc(row.updated_after), id=row.last_id))


def newest(old: CursorState | None, walked: Position | None) -> Position | None:
    """The position to store: never behind the old one (a `--since` walk may start earlier)."""
    before = old.position if old is not None else None
    if before is None:
        return walked
    if walked is None:
        return before
    return max(before, walked)


def covered(walked: Position | None, since: datetime | None) -> Position | None:
    """How far a walk got: its last row, or, when a walk bounded by `since` found nothing, `since`.

    Without the second case an empty `--since` walk would store "no position", and the next run
    would walk the whole resource again as if nothing had been seen before `since`.
    """
    if walked is None and since is not None:
        return Position(at=as_utc(since), id=0)
    return walked


def save_cursor(engine: Engine, name: str, position: Position | None, now: datetime) -> None:
    with write_scope(engine) as session:
        row = session.get(Cursor, name) or Cursor(resource=name, updated_at=now)
        row.updated_after = position.at if position is not None else None
        row.last_id = position.id if position is not None else None
        row.updated_at = now
        session.add(row)
