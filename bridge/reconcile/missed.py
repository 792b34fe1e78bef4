"""Missed deliveries: what ION sent (or gave up sending) that the bridge never stored.

ION keeps an audit trail of every delivery (`webhookEvents`, with the body it sent in
`requestData`). Events to the bridge's receiver that ION marked FAILED, or that the bridge has no
record of (matched by event id, the inbox's dedupe key `ion:<event_id>`), are ingested from
`requestData` through the inbox's own path: deduplicated, ordered per object (an old one is
recorded as superseded and its object repaired instead), forwarded. This recovers events lost
while the bridge was down for longer than ION kept retrying.

The walk is incremental on the events' `_updated` (a status change, e.g. RETRYING -> FAILED,
moves an event forward), with the run's overlap window.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from contextlib import aclosing
from typing import Any

import anyio.to_thread
import structlog
from sqlmodel import col, select

from bridge.provision.credentials import current_row
from bridge.reconcile.catalog import ResourceSpec
from bridge.reconcile.cursors import WEBHOOK_EVENTS, load_cursor, newest, save_cursor
from bridge.reconcile.sync import Reconciler, Tally
from bridge.reconcile.walk import Position, pages, walk_start
from bridge.store.db import session_scope
from bridge.store.models import Delivery

log = structlog.get_logger(__name__)

EVENTS = ResourceSpec(
    resource="WEBHOOK_EVENTS", document="ReconcileWebhookEvents", field="webhookEvents"
)

#: Store these raw bodies through the inbox's path; returns how many were new.
Ingest = Callable[[list[bytes]], Awaitable[int]]


def missing_bodies(events: Sequence[dict[str, Any]], stored: set[str]) -> list[tuple[str, bytes]]:
    """(dedupe key, body) of each event the bridge has not stored, in event order."""
    out: list[tuple[str, bytes]] = []
    for event in events:
        text = event.get("requestData")
        if not isinstance(text, str) or not text:
            continue
        key = f"ion:{_event_id(text, event)}"
        if key not in stored:
            out.append((key, text.encode("utf-8")))
    return out


def _event_id(text: str, event: dict[str, Any]) -> Any:
    """The body's own `event_id` (what the inbox dedupes on), else the audit row's id."""
    try:
        body = json.loads(text)
    except ValueError:
        return event.get("id")
    return body.get("event_id", event.get("id")) if isinstance(body, dict) else event.get("id")


class MissedCheck:
    """A run step: ingest what ION sent the bridge's receiver but the bridge never stored."""

    def __init__(self, reconciler: Reconciler, ingest: Ingest, *, overlap_seconds: float) -> None:
        self.reconciler = reconciler
        self.ingest = ingest
        self.overlap = overlap_seconds

    async def __call__(self, tally: Tally) -> dict[str, Any]:
        reconciler = self.reconciler
        receiver = await anyio.to_thread.run_sync(self._receiver_id)
        if receiver is None:
            return {"missed": {"checked": 0, "recovered": 0, "note": "no receiver provisioned"}}
        cursor = await anyio.to_thread.run_sync(load_cursor, reconciler.engine, WEBHOOK_EVENTS)
        since = None
        if cursor is not None and cursor.position is not None:
            since = walk_start(cursor.position.at, self.overlap)
        checked = recovered = 0
        last: Position | None = None
        walk = pages(
            reconciler.ion,
            EVENTS,
            key="_updated",
            page_size=reconciler.page_size,
            clock=reconciler.clock,
            since=since,
            base={"subscription": {"receiverId": {"eq": receiver}}},
        )
        async with aclosing(walk):
            async for page in walk:
                events = page.objects
                checked += len(events)
                stored = await anyio.to_thread.run_sync(self._stored_keys, events)
                bodies = missing_bodies(events, stored)
                if bodies:
                    recovered += await self.ingest([body for _, body in bodies])
                    log.warning(
                        "reconcile.missed_recovered",
                        count=len(bodies),
                        keys=[key for key, _ in bodies[:20]],
                    )
                last = page.position or last
        await anyio.to_thread.run_sync(
            save_cursor, reconciler.engine, WEBHOOK_EVENTS, newest(cursor, last), reconciler.clock()
        )
        return {"missed": {"checked": checked, "recovered": recovered}}

    def _receiver_id(self) -> int | None:
        with session_scope(self.reconciler.engine) as session:
            row = current_row(session)
            return row.ion_receiver_id if row is not None else None

    def _stored_keys(self, events: Sequence[dict[str, Any]]) -> set[str]:
        keys = []
        for event in events:
            text = event.get("requestData")
            if isinstance(text, str) and text:
                keys.append(f"ion:{_event_id(text, event)}")
        if not keys:
            return set()
        with session_scope(self.reconciler.engine) as session:
            found = session.exec(
                select(Delivery.dedupe_key).where(col(Delivery.dedupe_key).in_(keys))
            ).all()
        return {key for key in found if key is not None}
