"""Fetched objects in, repairs out: the one path every reconciliation trigger goes through.

The scheduled walk, the new-line poll, a targeted fetch after a webhook and a settle re-check all
hand their fetched objects to `Reconciler.sync`, which

1. finds the objects that embed a changed location, supplier or part (ION fires nothing for them)
   and fetches them too;
2. in ONE transaction: decides each object's repair against Violet's predicted record, queues
   the repairs in the outbox and stores the snapshots.

Because the snapshot of a changed location and the repairs of the POs shipping to it commit
together, a run that fails half-way leaves nothing that would hide the change from the next run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import anyio.to_thread
from sqlalchemy.engine import Engine

from bridge.delivery.serial import write_scope
from bridge.reconcile import batch, snapshots
from bridge.reconcile.catalog import SPECS, references_to
from bridge.reconcile.repairs import Repair
from bridge.reconcile.walk import Ion, Obj, pages
from bridge.sandbox import tracked
from bridge.store.db import is_sqlite, session_scope


@dataclass(frozen=True, kw_only=True)
class Mode:
    """How a batch is judged."""

    #: Objects never seen before whose last change is older than this are assumed right in
    #: Violet (a first run records a baseline instead of flooding Violet); None: assume nothing.
    baseline_before: datetime | None = None
    #: Repairs of objects ION changed after this are left to the targeted fetch their webhook
    #: sets off (a walk racing ION's delivery would send what the delivery is about to carry);
    #: None: judge everything. The overlap window (or the next re-check) brings them back.
    defer_after: datetime | None = None
    dry_run: bool = False


@dataclass
class Tally:
    """Per-resource counts of one run (or one targeted fetch)."""

    fetched: dict[str, int] = field(default_factory=dict)
    changed: dict[str, int] = field(default_factory=dict)
    repaired: dict[str, int] = field(default_factory=dict)
    kinds: dict[str, int] = field(default_factory=dict)
    repairs: list[Repair] = field(default_factory=list)
    _repaired: set[tuple[str, str]] = field(default_factory=set, repr=False)

    def add(self, resource: str, outcome: batch.Outcome) -> None:
        for counter, value in ((self.fetched, outcome.fetched), (self.changed, outcome.changed)):
            counter[resource] = counter.get(resource, 0) + value
        for repair in outcome.repairs:
            # Counted once per object: a dry run (which queues nothing) meets the same PO as
            # the referrer of its supplier, of its location and in its own walk.
            key = (repair.resource, repair.entity_id)
            if key in self._repaired:
                continue
            self._repaired.add(key)
            self.repaired[resource] = self.repaired.get(resource, 0) + 1
            self.kinds[repair.kind] = self.kinds.get(repair.kind, 0) + 1
            self.repairs.append(repair)

    def as_json(self) -> dict[str, Any]:
        names = sorted({*self.fetched, *self.changed, *self.repaired})
        return {
            "resources": {
                name: {
                    "fetched": self.fetched.get(name, 0),
                    "changed": self.changed.get(name, 0),
                    "repaired": self.repaired.get(name, 0),
                }
                for name in names
            },
            "kinds": dict(sorted(self.kinds.items())),
        }


#: Called after a batch committed with the repairs it queued (webhook ids, for measuring).
Committed = Callable[[list[tuple[str, Repair]]], None]


#: How recent a change must be for a poll to leave it to ION's delivery still under way.
WEBHOOK_GRACE_SECONDS = 3.0


def polling_mode(now: datetime, overlap_seconds: float, **kwargs: Any) -> Mode:
    """The mode of a trigger ION's deliveries may be racing (a scheduled walk, a poll, a
    re-check): recent changes are deferred, by at most half the overlap so a later walk sees
    them again."""
    grace = timedelta(seconds=min(WEBHOOK_GRACE_SECONDS, overlap_seconds / 2))
    return Mode(defer_after=now - grace, **kwargs)


class Reconciler:
    """Shared by every trigger: the ION client, the database and one in-process write lock."""

    def __init__(
        self,
        *,
        engine: Engine,
        ion: Ion,
        page_size: int,
        settle_delays: tuple[float, ...],
        clock: Callable[[], datetime],
        on_committed: Committed | None = None,
    ) -> None:
        self.engine = engine
        self.ion = ion
        self.page_size = page_size
        self.settle_delays = settle_delays
        self.clock = clock
        self.on_committed = on_committed
        #: Decide-and-store sections of concurrent triggers run one at a time in a process.
        self.write_lock = asyncio.Lock()

    async def fetch(self, resource: str, base: dict[str, Any]) -> list[Obj]:
        """Every object of `resource` matching `base`, walked by id."""
        out: list[Obj] = []
        walk = pages(
            self.ion,
            SPECS[resource],
            key=None,
            page_size=self.page_size,
            clock=self.clock,
            base=base,
        )
        async with aclosing(walk):
            async for page in walk:
                out.extend(page.objects)
        return out

    async def fetch_ids(self, resource: str, ids: Iterable[str]) -> list[Obj]:
        wanted = sorted({int(i) for i in ids})
        out: list[Obj] = []
        for start in range(0, len(wanted), self.page_size):
            chunk = wanted[start : start + self.page_size]
            out.extend(await self.fetch(resource, {"id": {"in": chunk}}))
        return out

    async def sync(
        self,
        resource: str,
        objects: list[Obj],
        *,
        fetched_at: datetime,
        tally: Tally,
        mode: Mode | None = None,
    ) -> None:
        """Decide and store one fetched batch (plus the objects embedding its changed ones)."""
        mode = mode or Mode()
        batches = [(resource, objects, fetched_at)]
        changed = await anyio.to_thread.run_sync(self._changed_targets, resource, objects, mode)
        if changed:
            for reference in references_to(resource):
                started = self.clock()
                ids = sorted(int(i) for i in changed)
                referrers = []
                for start in range(0, len(ids), self.page_size):
                    chunk = ids[start : start + self.page_size]
                    base = {reference.column: {"in": chunk}}
                    referrers.extend(await self.fetch(reference.referrer, base))
                batches.append((reference.referrer, referrers, started))
        async with self.write_lock:
            outcomes = await anyio.to_thread.run_sync(self._store, batches, mode)
        queued: list[tuple[str, Repair]] = []
        for (name, _, _), outcome in zip(batches, outcomes, strict=True):
            tally.add(name, outcome)
            queued.extend(outcome.queued)
        if queued and self.on_committed is not None:
            self.on_committed(queued)

    def _changed_targets(self, resource: str, objects: list[Obj], mode: Mode) -> list[str]:
        """Ids of linked objects whose embedded fields differ from their last snapshot."""
        if not references_to(resource) or not objects:
            return []
        with session_scope(self.engine) as session:
            known = snapshots.load_snapshots(session, resource, (str(o["id"]) for o in objects))
        out = []
        for obj in objects:
            snapshot = known.get(str(obj["id"]))
            if snapshot is None:
                if not batch.is_baseline(obj, mode.baseline_before):
                    out.append(str(obj["id"]))
            elif tracked.tracked_values(resource, snapshot.state or {}) != (
                tracked.tracked_values(resource, obj)
            ):
                out.append(str(obj["id"]))
        return out

    def _store(
        self,
        batches: list[tuple[str, list[Obj], datetime]],
        mode: Mode,
    ) -> list[batch.Outcome]:
        now = self.clock()
        window = timedelta(seconds=max(self.settle_delays, default=0))
        with write_scope(self.engine) as session:
            if not is_sqlite(self.engine):
                snapshots.lock_watermarks(
                    session,
                    ((name, str(obj["id"])) for name, objects, _ in batches for obj in objects),
                )
            outcomes = [
                batch.store_batch(
                    session,
                    resource,
                    objects,
                    fetched_at=fetched_at,
                    now=now,
                    baseline_before=mode.baseline_before,
                    defer_after=mode.defer_after,
                    settle_delays=self.settle_delays,
                    settle_window=window,
                    enqueue=not mode.dry_run,
                    lock_rows=not is_sqlite(self.engine),
                )
                for resource, objects, fetched_at in batches
            ]
            if mode.dry_run:
                # A dry run decides everything and keeps nothing.
                session.rollback()
            return outcomes
