"""Judging and storing one batch of fetched objects, inside the caller's transaction.

Per object: Violet's record so far plus everything queued for it (`snapshots.settle`) is compared
with ION's state (`repairs.decide`); a needed repair is queued in the outbox behind the object's
forwarded events; the snapshot keeps the fetched state, the folded record and the next settle
re-check. Nothing here commits.

A fetch that started before the one already stored is stale (a targeted fetch and a scheduled
walk can race), and so is one that started before ION delivered another event of the object:
both are counted but ignored, so Violet is never sent an older state (the newer fetch, or the
targeted fetch that event sets off, judges the object instead).

Logged at info, each with the trigger the caller bound (`structlog.contextvars`): every repair
queued (what and since when, not the values), every repair deferred to ION's delivery, and
every stale object skipped. Together they say why an object was repaired when it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlmodel import Session

from bridge.clock import as_utc, parse_iso
from bridge.delivery.outbox import enqueue_repair
from bridge.inbox.codec import build_event
from bridge.reconcile.repairs import NEW_LINE, Repair, decide
from bridge.reconcile.snapshots import (
    KnownView,
    load_sent,
    load_snapshots,
    newer_event,
    settle,
    spelling,
)
from bridge.sandbox import tracked
from bridge.store.models import Snapshot

log = structlog.get_logger(__name__)

Obj = dict[str, Any]


@dataclass
class Outcome:
    fetched: int = 0
    changed: int = 0
    repairs: list[Repair] = field(default_factory=list)
    #: (webhook id, repair) of each repair queued in the outbox.
    queued: list[tuple[str, Repair]] = field(default_factory=list)


def timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_iso(value)
    except ValueError:
        return None


def is_baseline(obj: Obj, baseline_before: datetime | None) -> bool:
    """True when a never-seen object is old enough to be assumed right in Violet already."""
    if baseline_before is None:
        return False
    changed = timestamp(obj.get("_updated")) or timestamp(obj.get("_created"))
    return changed is not None and changed < baseline_before


def _deferred(obj: Obj, repair: Repair, defer_after: datetime | None) -> bool:
    """Leave this repair to the targeted fetch ION's delivery of the object will set off?

    Only when the object itself changed after `defer_after` and that change is the newest the
    repair carries. A newer change of a linked object (its ship-to location, say) is no part of
    the object's delivery. The linked object's own targeted fetch passes its change on only
    while its snapshot still differs, and the batch that defers here may store that snapshot
    (a walk or re-check that fetched this object as a referrer): the repair would then wait for
    the next scheduled run. A new line has no delivery coming at all.
    """
    if defer_after is None or repair.kind == NEW_LINE:
        return False
    updated = timestamp(obj.get("_updated"))
    if updated is None or updated <= defer_after:
        return False
    return repair.changed_at is None or repair.changed_at <= updated


def next_recheck(
    created: datetime | None, fetched_at: datetime, delays: Sequence[float]
) -> tuple[datetime | None, int]:
    """(when to fetch a new object again, how many settle delays have passed).

    New objects fill in after creation (ION's fourth limitation): each object is fetched again at
    `_created` + each delay, until the last has passed.
    """
    if created is None:
        return None, len(delays)
    times = sorted(created + timedelta(seconds=delay) for delay in delays)
    passed = sum(1 for at in times if at <= fetched_at)
    return (times[passed] if passed < len(times) else None), passed


def store_batch(
    session: Session,
    resource: str,
    objects: Sequence[Obj],
    *,
    fetched_at: datetime,
    now: datetime,
    baseline_before: datetime | None,
    defer_after: datetime | None = None,
    settle_delays: Sequence[float],
    settle_window: timedelta,
    enqueue: bool,
    lock_rows: bool,
) -> Outcome:
    outcome = Outcome()
    latest = {str(obj["id"]): obj for obj in objects}
    snapshots = load_snapshots(session, resource, latest, lock=lock_rows)
    views = {key: KnownView.from_json(row.view) for key, row in snapshots.items()}
    sent = load_sent(session, resource, {key: _folded(views.get(key)) for key in latest})
    for entity_id, obj in latest.items():
        outcome.fetched += 1
        snapshot = snapshots.get(entity_id)
        if snapshot is not None and as_utc(snapshot.updated_at) > fetched_at:
            log.info("reconcile.stale", resource=resource, entity_id=entity_id, newer="fetch")
            continue
        if newer_event(sent[entity_id], fetched_at):
            log.info("reconcile.stale", resource=resource, entity_id=entity_id, newer="event")
            continue
        truth = tracked.tracked_values(resource, obj)
        if snapshot is None:
            assumed = is_baseline(obj, baseline_before)
            known = KnownView(
                record=dict(truth) if assumed else None,
                through=(fetched_at, 0) if assumed else None,
            )
        else:
            known = views[entity_id]
        known, predicted = settle(known, sent[entity_id])
        if _changed(resource, snapshot, obj, truth):
            outcome.changed += 1
        repair = decide(resource, obj, predicted, settle_window=settle_window)
        if repair is not None and _deferred(obj, repair, defer_after):
            # ION's delivery of this change may still be on its way; it will bring its own
            # targeted fetch.
            log.info("reconcile.deferred", resource=resource, entity_id=entity_id, kind=repair.kind)
            continue
        if repair is not None:
            # Which trigger (`trigger`, bound by the caller) repaired what, and since when:
            # enough to tell a targeted repair from one left to the next scheduled run. A dry
            # run queues nothing: its lines say what it would have sent.
            log.info(
                "reconcile.repair" if enqueue else "reconcile.would_repair",
                resource=resource,
                entity_id=entity_id,
                kind=repair.kind,
                fields=list(repair.fields),
                changed_at=repair.changed_at.isoformat() if repair.changed_at else None,
            )
            # The values themselves are ION's business data: only when debugging.
            log.debug(
                "reconcile.repair_values",
                resource=resource,
                entity_id=entity_id,
                violet=[predicted.get(path) if predicted else None for path in repair.fields],
                ion=[truth.get(path) for path in repair.fields],
            )
            outcome.repairs.append(repair)
            if enqueue:
                webhook_id = _enqueue(session, repair, known, obj, now)
                outcome.queued.append((webhook_id, repair))
        _save(session, resource, entity_id, snapshot, obj, known, fetched_at, now, settle_delays)
    return outcome


def _changed(resource: str, snapshot: Snapshot | None, obj: Obj, truth: dict[str, Any]) -> bool:
    if snapshot is None or not snapshot.state:
        return True
    if snapshot.state.get("_updated") != obj.get("_updated"):
        return True
    return tracked.tracked_values(resource, snapshot.state) != truth


def _folded(view: KnownView | None) -> datetime | None:
    return view.through[0] if view is not None and view.through is not None else None


def _enqueue(session: Session, repair: Repair, known: KnownView, obj: Obj, now: datetime) -> str:
    resource = spelling(repair.resource, known)
    body = build_event(
        resource=resource, action=repair.action, entity_id=obj["id"], data=repair.data, now=now
    )
    delivery = enqueue_repair(
        session,
        resource=resource,
        entity_id=repair.entity_id,
        action=repair.action,
        body=body,
        now=now,
    )
    return delivery.webhook_id


def _save(
    session: Session,
    resource: str,
    entity_id: str,
    snapshot: Snapshot | None,
    obj: Obj,
    known: KnownView,
    fetched_at: datetime,
    now: datetime,
    settle_delays: Sequence[float],
) -> None:
    recheck_at, passed = next_recheck(timestamp(obj.get("_created")), fetched_at, settle_delays)
    if snapshot is None:
        snapshot = Snapshot(
            resource=resource, entity_id=entity_id, first_seen_at=now, updated_at=fetched_at
        )
    snapshot.state = dict(obj)
    snapshot.view = known.as_json()
    snapshot.ion_updated = timestamp(obj.get("_updated"))
    # `updated_at` is when the stored state was fetched (the request's start): the stale guard.
    snapshot.updated_at = fetched_at
    snapshot.recheck_at = recheck_at
    snapshot.recheck_count = passed
    session.add(snapshot)
