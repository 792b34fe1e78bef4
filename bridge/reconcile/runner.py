"""One reconciliation run: walk what changed per resource, repair, record the run.

A run is recorded in `reconcile_runs` (RUNNING, then COMPLETED or FAILED with counts, duration and
error). Each resource is walked from its cursor minus the overlap window, page by page, every page
stored (snapshots + repairs) in its own transaction; the cursor moves only once the whole walk is
stored, so a run that fails anywhere leaves every cursor where it was and the next run walks the
same ground again (the repairs already queued keep it from sending anything twice).

A resource without a cursor has never been walked: that walk records a baseline, assuming Violet
already holds what changed before the overlap window, unless `backfill` asks to send everything.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import anyio.to_thread
import structlog
from sqlmodel import Session

from bridge.clock import as_utc
from bridge.delivery.serial import write_scope
from bridge.errors import BridgeError
from bridge.reconcile import disappeared
from bridge.reconcile.catalog import SPECS
from bridge.reconcile.cursors import covered, load_cursor, newest, save_cursor
from bridge.reconcile.locks import RunLock
from bridge.reconcile.sync import Mode, Reconciler, Tally, polling_mode
from bridge.reconcile.walk import REQUESTS, Position, pages, walk_start
from bridge.store.models import ReconcileRun

log = structlog.get_logger(__name__)

#: Extra steps of a run (the missed-delivery check): get the run's tally, return counts to report.
Step = Callable[[Tally], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    trigger: str = "schedule"  # schedule | cli | api
    resources: tuple[str, ...] = ()  # empty: the configured ones
    since: datetime | None = None
    full: bool = False
    dry_run: bool = False
    backfill: bool = False


@dataclass(frozen=True, kw_only=True)
class RunResult:
    status: str  # COMPLETED | FAILED | SKIPPED
    run_id: int | None = None
    counts: dict[str, Any] = field(default_factory=dict)
    duration_ms: float = 0.0
    error: str | None = None
    #: The exit code `bridge reconcile` ends with (3 when ION refused the credentials).
    exit_code: int = 0


class Runner:
    def __init__(
        self,
        reconciler: Reconciler,
        lock: RunLock,
        *,
        resources: list[str],
        overlap_seconds: float,
        alert_after_seconds: float,
        delete_disappeared: bool,
        steps: list[Step] | None = None,
    ) -> None:
        self.reconciler = reconciler
        self.lock = lock
        self.resources = resources
        self.overlap_seconds = overlap_seconds
        self.alert_after_seconds = alert_after_seconds
        self.delete_disappeared = delete_disappeared
        self.steps = steps or []

    async def run(self, options: RunOptions) -> RunResult:
        if not await self.lock.acquire():
            log.info("reconcile.skipped", trigger=options.trigger, reason="another run holds it")
            return RunResult(status="SKIPPED")
        try:
            with structlog.contextvars.bound_contextvars(trigger=options.trigger):
                return await self._run(options)
        finally:
            await self.lock.release()

    async def _run(self, options: RunOptions) -> RunResult:
        clock = self.reconciler.clock
        started, began = clock(), time.monotonic()
        run_id = await anyio.to_thread.run_sync(self._record_start, options, started)
        tally, requests = Tally(), [0]
        token = REQUESTS.set(requests)
        counts: dict[str, Any] = {}
        error: str | None = None
        exit_code = 0
        try:
            # Missed deliveries first: once ingested, the walks see them as queued for Violet
            # and do not repair what they are about to fix anyway.
            if not options.dry_run and not options.resources:
                for step in self.steps:
                    counts.update(await step(tally))
            for resource in options.resources or tuple(self.resources):
                await self._walk(resource, options, started, tally, counts)
                await self.lock.renew()
        except asyncio.CancelledError:
            # Shutting down mid-run: record it, leave the cursors, let the cancellation go on.
            duration = (time.monotonic() - began) * 1000
            await anyio.to_thread.run_sync(
                self._record_end, run_id, "FAILED", tally.as_json(), duration, "cancelled"
            )
            raise
        except BridgeError as exc:
            error, exit_code = f"{type(exc).__name__}: {exc}", exc.exit_code
            log.warning("reconcile.failed", run_id=run_id, error=error)
        except Exception as exc:
            # Not expected, but the run must still end FAILED rather than stay RUNNING.
            error, exit_code = f"{type(exc).__name__}: {exc}", 1
            log.exception("reconcile.crashed", run_id=run_id)
        finally:
            REQUESTS.reset(token)
        duration = (time.monotonic() - began) * 1000
        counts = {**tally.as_json(), **counts, "requests": requests[0]}
        if options.dry_run:
            counts["dry_run"] = True
        if duration > self.alert_after_seconds * 1000:
            counts["slow"] = True
            log.warning("reconcile.slow", run_id=run_id, duration_ms=round(duration))
        status = "FAILED" if error else "COMPLETED"
        await anyio.to_thread.run_sync(self._record_end, run_id, status, counts, duration, error)
        log.info(
            "reconcile.run",
            run_id=run_id,
            trigger=options.trigger,
            status=status,
            duration_ms=round(duration, 1),
            requests=requests[0],
            **counts.get("kinds", {}),
        )
        return RunResult(
            status=status,
            run_id=run_id,
            counts=counts,
            duration_ms=duration,
            error=error,
            exit_code=exit_code,
        )

    async def _walk(
        self,
        resource: str,
        options: RunOptions,
        started: datetime,
        tally: Tally,
        counts: dict[str, Any],
    ) -> None:
        reconciler = self.reconciler
        cursor = await anyio.to_thread.run_sync(load_cursor, reconciler.engine, resource)
        first_walk = cursor is None
        baseline = None
        if first_walk and not options.backfill:
            baseline = started - timedelta(seconds=self.overlap_seconds)
        if options.trigger == "schedule":
            mode = polling_mode(
                started, self.overlap_seconds, baseline_before=baseline, dry_run=options.dry_run
            )
        else:  # a run asked for now judges everything it finds
            mode = Mode(baseline_before=baseline, dry_run=options.dry_run)
        since = options.since
        if since is None and not options.full and cursor is not None and cursor.position:
            since = walk_start(cursor.position.at, self.overlap_seconds)
        last: Position | None = None
        seen: set[str] = set()
        walk_started = reconciler.clock()
        walk = pages(
            reconciler.ion,
            SPECS[resource],
            key="_updated",
            page_size=reconciler.page_size,
            clock=reconciler.clock,
            since=since,
        )
        async with aclosing(walk):
            async for page in walk:
                await reconciler.sync(
                    resource, page.objects, fetched_at=page.fetched_at, tally=tally, mode=mode
                )
                seen.update(str(obj["id"]) for obj in page.objects)
                last = page.position or last
        if options.full:
            gone = await disappeared.handle(
                reconciler,
                resource,
                seen,
                walk_started=walk_started,
                delete=self.delete_disappeared,
                dry_run=options.dry_run,
            )
            if gone:
                counts.setdefault("disappeared", {})[resource] = gone
        if not options.dry_run:
            await anyio.to_thread.run_sync(
                save_cursor,
                reconciler.engine,
                resource,
                newest(cursor, covered(last, since)),
                reconciler.clock(),
            )

    def _record_start(self, options: RunOptions, started: datetime) -> int:
        with write_scope(self.reconciler.engine) as session:
            run = ReconcileRun(trigger=options.trigger, status="RUNNING", started_at=started)
            session.add(run)
            session.flush()
            if run.id is None:
                raise RuntimeError("a flushed run has no id")
            return run.id

    def _record_end(
        self,
        run_id: int,
        status: str,
        counts: dict[str, Any],
        duration: float,
        error: str | None,
    ) -> None:
        with write_scope(self.reconciler.engine) as session:
            run = _get_run(session, run_id)
            run.status = status
            run.finished_at = as_utc(self.reconciler.clock())
            run.duration_ms = duration
            run.counts = counts
            run.error = error
            session.add(run)


def _get_run(session: Session, run_id: int) -> ReconcileRun:
    run = session.get(ReconcileRun, run_id)
    if run is None:
        raise LookupError(f"reconcile run {run_id} vanished")
    return run
