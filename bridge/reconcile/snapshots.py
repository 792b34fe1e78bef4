"""Per object, what the reconciler knows: ION's last fetched state and Violet's modelled record.

Violet's record is never written by a delivery callback; it is *derived* from the deliveries
table, which already says what was sent and what Violet accepted (`SUCCEEDED`). `Snapshot.view`
stores the record folded up to a marker (the completion time and id of the last delivery folded
in), so a read only folds what completed since, and any process (serve or a CLI run) computes the
same answer. Deliveries of one object complete one at a time (the outbox sends an object's
deliveries in order), so completion order is the order Violet applied them in.

    Snapshot.view = {"record": {path: value} | null, "through": {"at": iso, "id": n} | null}

`through` null means "fold every delivery of the object": nothing was assumed about it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, update
from sqlmodel import Session, col, select

from bridge.clock import as_utc, parse_iso
from bridge.inbox.codec import entity_key
from bridge.reconcile import violet_view
from bridge.reconcile.violet_view import Record
from bridge.store.models import Delivery, DeliveryStatus, EntityWatermark, Snapshot

Marker = tuple[datetime, int]

#: Deliveries whose body may still change Violet's record: sent, or waiting to be.
_RELEVANT = (DeliveryStatus.SUCCEEDED, *DeliveryStatus.OPEN)

#: Singular spellings (today's ION docs) of the plural resource names used inside the bridge.
SINGULAR = {plural: singular for singular, plural in violet_view._SINGULAR.items()}


@dataclass(frozen=True, kw_only=True)
class Sent:
    """A delivery of one object, as far as Violet's record is concerned."""

    id: int
    status: str
    origin: str
    resource: str  # the spelling the delivery was queued under (its ordering key)
    completed_at: datetime | None
    body: object  # the parsed JSON body (None when unparseable)
    received_at: datetime | None = None

    @property
    def marker(self) -> Marker:
        return (as_utc(self.completed_at or datetime.min), self.id)


@dataclass(frozen=True, kw_only=True)
class KnownView:
    """Violet's record as folded so far, and up to which completed delivery."""

    record: Record | None
    through: Marker | None
    #: The resource spelling ION's own deliveries of the object use (None: none seen yet).
    spelling: str | None = None

    def as_json(self) -> dict[str, Any]:
        through = None
        if self.through is not None:
            through = {"at": as_utc(self.through[0]).isoformat(), "id": self.through[1]}
        return {"record": self.record, "through": through, "spelling": self.spelling}

    @classmethod
    def from_json(cls, value: Mapping[str, Any] | None) -> KnownView:
        if not value:
            return cls(record=None, through=None)
        through = value.get("through")
        marker = (parse_iso(through["at"]), int(through["id"])) if through else None
        return cls(record=value.get("record"), through=marker, spelling=value.get("spelling"))


def settle(known: KnownView, sent: Iterable[Sent]) -> tuple[KnownView, Record | None]:
    """(what Violet holds now, what it will hold once the queued deliveries are applied)."""
    done = sorted(
        (s for s in sent if s.status == DeliveryStatus.SUCCEEDED and s.completed_at is not None),
        key=lambda s: s.marker,
    )
    fresh = [s for s in done if known.through is None or s.marker > known.through]
    record = violet_view.fold(known.record, (s.body for s in fresh))
    through = fresh[-1].marker if fresh else known.through
    # The outbox sends an object's open deliveries in id order.
    queued = sorted((s for s in sent if s.status in DeliveryStatus.OPEN), key=lambda s: s.id)
    predicted = violet_view.fold(record, (s.body for s in queued))
    ion = [s for s in sent if s.origin == "ion"]
    spelled = max(ion, key=lambda s: s.id).resource if ion else known.spelling
    return KnownView(record=record, through=through, spelling=spelled), predicted


def newer_event(sent: Iterable[Sent], fetched_at: datetime) -> bool:
    """True when ION delivered an event of the object after the fetch began: the fetched state
    may be older than what that event tells Violet, and its own targeted fetch will follow."""
    return any(
        s.origin == "ion" and s.received_at is not None and as_utc(s.received_at) > fetched_at
        for s in sent
    )


def spelling(resource: str, known: KnownView) -> str:
    """The resource spelling repairs of an object are queued under: the one ION's own deliveries
    of it used, so a repair is ordered behind them (they share the `entity_key`)."""
    return known.spelling or resource


def load_snapshots(
    session: Session, resource: str, ids: Iterable[str], *, lock: bool = False
) -> dict[str, Snapshot]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    query = select(Snapshot).where(
        Snapshot.resource == resource, col(Snapshot.entity_id).in_(wanted)
    )
    if lock:
        # One lock order for every writer (PostgreSQL), so two reconcilers cannot deadlock.
        query = query.order_by(col(Snapshot.entity_id)).with_for_update()
    return {row.entity_id: row for row in session.exec(query).all()}


def lock_watermarks(session: Session, keys: Iterable[tuple[str, str]]) -> None:
    """Lock, in the inbox's order (sorted entity keys), the ordering rows of every object a
    batch may repair, before any repair is queued: queuing locks them one by one, in batch
    order, which could deadlock against an inbox batch locking the same rows sorted."""
    wanted = sorted(
        {
            entity_key(name, entity_id)
            for resource, entity_id in keys
            for name in (resource, SINGULAR.get(resource, resource))
        }
    )
    if wanted:
        session.exec(
            select(EntityWatermark.entity_key)
            .where(col(EntityWatermark.entity_key).in_(wanted))
            .order_by(col(EntityWatermark.entity_key))
            .with_for_update()
        ).all()


def load_sent(
    session: Session, resource: str, folded: Mapping[str, datetime | None]
) -> dict[str, list[Sent]]:
    """Every delivery that can still change Violet's record of each object, by entity id.

    `folded` maps each object to the completion time its stored record is folded up to (None:
    nothing folded yet). Deliveries completed before that are part of the record already and are
    not read again; an object's history would otherwise be read on every fetch, growing forever.
    """
    out: dict[str, list[Sent]] = {entity_id: [] for entity_id in folded}
    fresh = [entity_id for entity_id, at in folded.items() if at is None]
    known = {entity_id: at for entity_id, at in folded.items() if at is not None}
    if fresh:
        _read_sent(session, resource, fresh, col(Delivery.status).in_(_RELEVANT), out)
    if known:
        since = min(known.values())
        recent = or_(
            col(Delivery.status).in_(DeliveryStatus.OPEN),
            and_(
                col(Delivery.status) == DeliveryStatus.SUCCEEDED,
                col(Delivery.completed_at) >= since,
            ),
        )
        _read_sent(session, resource, list(known), recent, out)
    return out


def _read_sent(
    session: Session,
    resource: str,
    ids: list[str],
    relevant: ColumnElement[bool],
    out: dict[str, list[Sent]],
) -> None:
    spellings = {resource, SINGULAR.get(resource, resource)}
    keys = [entity_key(name, entity_id) for name in spellings for entity_id in sorted(ids)]
    rows = session.exec(select(Delivery).where(col(Delivery.entity_key).in_(keys), relevant)).all()
    for row in rows:
        if row.entity_id in out and row.id is not None:
            out[row.entity_id].append(
                Sent(
                    id=row.id,
                    status=row.status,
                    origin=row.origin,
                    resource=row.resource or resource,
                    completed_at=row.completed_at,
                    body=_parse(row.body),
                    received_at=row.received_at,
                )
            )


def due_rechecks(session: Session, now: datetime, limit: int = 500) -> dict[str, list[str]]:
    """Objects whose settle re-check is due, by resource."""
    rows = session.exec(
        select(Snapshot.resource, Snapshot.entity_id)
        .where(col(Snapshot.recheck_at).is_not(None), col(Snapshot.recheck_at) <= now)
        .order_by(col(Snapshot.recheck_at))
        .limit(limit)
    ).all()
    out: dict[str, list[str]] = {}
    for resource, entity_id in rows:
        out.setdefault(resource, []).append(entity_id)
    return out


def clear_rechecks(session: Session, resource: str, ids: Iterable[str]) -> None:
    """No more settle re-checks for these objects (ION no longer has them)."""
    session.exec(
        update(Snapshot)
        .where(col(Snapshot.resource) == resource, col(Snapshot.entity_id).in_(sorted(ids)))
        .values(recheck_at=None)
    )


def _parse(body: bytes | None) -> object:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None
