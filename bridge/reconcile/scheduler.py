"""The reconciliation schedule inside `bridge serve` (APScheduler 3, on the app's event loop).

Three jobs, each coalesced (a backlog of missed firings runs once) with at most one instance at a
time, so a slow run is never stacked on itself:

- `reconcile`: a run every `reconcile_interval_seconds`, the first one right at start-up (on an
  empty database it records the baseline before ION's activity piles up);
- `new-lines`: the new-PO-line poll every `reconcile_new_line_poll_seconds`;
- `rechecks`: settle re-checks of new objects whose time has come, every second or so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bridge.reconcile.runner import RunOptions
from bridge.settings import Settings

if TYPE_CHECKING:
    from bridge.reconcile.service import ReconcileService

log = structlog.get_logger(__name__)

#: How often due settle re-checks are looked for (cheap: one indexed query).
RECHECK_TICK_SECONDS = 1.0


Job = Callable[[], Awaitable[Any]]


class Schedule:
    """The scheduler and the job tasks in flight (so a shutdown can let them finish)."""

    def __init__(self) -> None:
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self.running: set[asyncio.Task[Any]] = set()

    def guarded(
        self, name: str, job: Callable[[], Awaitable[Any]]
    ) -> Callable[[], Awaitable[None]]:
        """A job that logs its failure instead of leaving it to APScheduler's logger."""

        async def run() -> None:
            task = asyncio.current_task()
            if task is not None:
                self.running.add(task)
            try:
                await job()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reconcile.job_failed", job=name)
            finally:
                if task is not None:
                    self.running.discard(task)

        return run

    async def stop(self, grace_seconds: float) -> None:
        """Fire nothing more; let jobs in flight finish within the grace, then cancel them (a
        cancelled run is recorded as FAILED and leaves its cursors)."""
        self.scheduler.pause()
        if self.running:
            _, late = await asyncio.wait(set(self.running), timeout=grace_seconds)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        self.scheduler.shutdown(wait=False)
        # APScheduler 3 shuts down via call_soon; let that happen before the loop goes.
        await asyncio.sleep(0)


def start_scheduler(service: ReconcileService, settings: Settings) -> Schedule:
    schedule = Schedule()
    scheduler = schedule.scheduler
    common: dict[str, Any] = {"coalesce": True, "max_instances": 1, "misfire_grace_time": None}

    async def scheduled_run() -> None:
        await service.run(RunOptions(trigger="schedule"))

    scheduler.add_job(
        schedule.guarded("reconcile", scheduled_run),
        "interval",
        seconds=settings.reconcile_interval_seconds,
        next_run_time=datetime.now(UTC),
        id="reconcile",
        **common,
    )
    scheduler.add_job(
        schedule.guarded("new-lines", service.poll_lines),
        "interval",
        seconds=settings.reconcile_new_line_poll_seconds,
        id="new-lines",
        **common,
    )
    scheduler.add_job(
        schedule.guarded("rechecks", service.recheck),
        "interval",
        seconds=min(RECHECK_TICK_SECONDS, settings.reconcile_new_line_poll_seconds),
        id="rechecks",
        **common,
    )
    scheduler.start()
    return schedule
