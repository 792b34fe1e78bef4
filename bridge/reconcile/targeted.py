"""Fetch-and-repair at once when ION has told us about an object it cannot describe to Violet.

ION's delivery for an object arrives and is forwarded, but may not carry what Violet needs: a
changed foreign key arrives as a bare id, a new object lacks the fields filled in a moment later,
and an UPDATE's change list silently leaves out fields that went from empty to populated. Which
of these happened cannot be told from the body (the missing field is, by definition, missing),
so every CREATE/UPDATE of a tracked resource schedules a fetch of the object; the repair decision
then stays quiet when the forwarded event was enough.

Notices are debounced: the first one opens a short window, and everything noticed during it is
fetched together, one query per resource (`id in [...]`), so a burst of writes to one object (or
to many) costs one request, not one each. The same path re-checks new objects when their settle
delays come due (`Snapshot.recheck_at`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import anyio.to_thread
import structlog

from bridge.delivery.serial import write_scope
from bridge.errors import BridgeError
from bridge.reconcile.snapshots import clear_rechecks, due_rechecks
from bridge.reconcile.sync import Reconciler, Tally, polling_mode
from bridge.store.db import session_scope

log = structlog.get_logger(__name__)


MAX_BATCHES_IN_FLIGHT = 3


class Targeted:
    """Debounced fetches of the objects ION just told us about."""

    def __init__(
        self,
        reconciler: Reconciler,
        *,
        resources: list[str],
        debounce_seconds: float,
        overlap_seconds: float = 300.0,
        on_tally: Callable[[str, Tally], None] | None = None,
    ) -> None:
        self.reconciler = reconciler
        self.resources = set(resources)
        self.debounce = debounce_seconds
        self.overlap = overlap_seconds
        self.on_tally = on_tally
        self._pending: dict[str, set[str]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[Tally]] = set()
        #: Batches fetched side by side: under a burst a new window need not wait for the last
        #: one's fetch (the stale-fetch guard keeps overlapping judgements safe).
        self._slots = asyncio.Semaphore(MAX_BATCHES_IN_FLIGHT)
        self._idle = asyncio.Event()
        self._idle.set()

    def notice(self, resource: str, entity_id: str) -> None:
        """Fetch this object soon (safe to call from a sync hook on the event loop)."""
        if resource not in self.resources:
            return
        self._pending.setdefault(resource, set()).add(entity_id)
        self._idle.clear()
        self._wake.set()

    @property
    def pending(self) -> int:
        return sum(len(ids) for ids in self._pending.values())

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="reconcile-targeted")

    async def stop(self) -> None:
        tasks = [*self._inflight, *([self._task] if self._task is not None else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._task = None

    async def settled(self) -> None:
        """Wait until everything noticed so far has been fetched and judged (for tests)."""
        await self._idle.wait()

    async def _loop(self) -> None:
        while True:
            await self._wake.wait()
            # The debounce: let the rest of a burst of writes arrive before fetching.
            await asyncio.sleep(self.debounce)
            await self._slots.acquire()
            self._wake.clear()
            batch, self._pending = self._pending, {}
            task = asyncio.create_task(self.fetch(batch, trigger="webhook"))
            self._inflight.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Tally]) -> None:
        self._inflight.discard(task)
        self._slots.release()
        if not self._pending and not self._inflight:
            self._idle.set()

    async def fetch(self, batch: dict[str, set[str]], *, trigger: str) -> Tally:
        """Fetch and judge these objects now; failures are logged (the schedule catches up)."""
        tally = Tally()

        async def one(resource: str, ids: set[str]) -> None:
            try:
                fetched_at = self.reconciler.clock()
                objects = await self.reconciler.fetch_ids(resource, ids)
                # A re-check may race ION's delivery of a fresh change; a targeted fetch was
                # set off by that delivery and judges everything it sees.
                mode = polling_mode(fetched_at, self.overlap) if trigger == "recheck" else None
                await self.reconciler.sync(
                    resource, objects, fetched_at=fetched_at, tally=tally, mode=mode
                )
                gone = ids - {str(obj["id"]) for obj in objects}
                if gone:
                    # Deleted in ION since: nothing to re-check any more.
                    await anyio.to_thread.run_sync(self._forget_rechecks, resource, gone)
            except (BridgeError, OSError) as exc:
                log.warning(
                    "reconcile.targeted_failed", resource=resource, count=len(ids), error=str(exc)
                )

        # Resources are fetched side by side; their stores still take turns (the write lock).
        with structlog.contextvars.bound_contextvars(trigger=trigger):
            await asyncio.gather(*(one(resource, ids) for resource, ids in batch.items()))
        if tally.repairs:
            log.info("reconcile.targeted", trigger=trigger, **tally.kinds)
        if self.on_tally is not None:
            self.on_tally(trigger, tally)
        return tally

    def _forget_rechecks(self, resource: str, ids: set[str]) -> None:
        with write_scope(self.reconciler.engine) as session:
            clear_rechecks(session, resource, ids)

    async def recheck_due(self) -> Tally:
        """Fetch the new objects whose settle re-check has come (ION's late fields)."""
        now = self.reconciler.clock()

        def due() -> dict[str, list[str]]:
            with session_scope(self.reconciler.engine) as session:
                return due_rechecks(session, now)

        found = await anyio.to_thread.run_sync(due)
        batch = {name: set(ids) for name, ids in found.items() if name in self.resources}
        return await self.fetch(batch, trigger="recheck") if batch else Tally()
