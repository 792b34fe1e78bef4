"""Periodic jobs on `serve`'s event loop (APScheduler 3), shared by reconciliation and retention.

Every job is coalesced (a backlog of missed firings runs once), runs one instance at a time (a
slow run is never stacked on itself), logs its own failure, and is let finish within a grace on
shutdown.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler

log = structlog.get_logger(__name__)

Job = Callable[[], Awaitable[Any]]


class Schedule:
    """A scheduler and the job tasks in flight (so a shutdown can let them finish).

    `component` names the failure event in the logs (`<component>.job_failed`)."""

    def __init__(self, component: str) -> None:
        self.component = component
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self.running: set[asyncio.Task[Any]] = set()

    def every(
        self, name: str, job: Job, seconds: float, *, first_at: datetime | None = None
    ) -> None:
        """Run `job` every `seconds`, the first time at `first_at` (default: one interval on)."""
        first = {} if first_at is None else {"next_run_time": first_at}
        self.scheduler.add_job(
            self.guarded(name, job),
            "interval",
            seconds=seconds,
            id=name,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=None,
            **first,
        )

    def guarded(self, name: str, job: Job) -> Callable[[], Awaitable[None]]:
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
                log.exception(f"{self.component}.job_failed", job=name)
            finally:
                if task is not None:
                    self.running.discard(task)

        return run

    def start(self) -> None:
        self.scheduler.start()

    async def stop(self, grace_seconds: float) -> None:
        """Fire nothing more; let jobs in flight finish within the grace, then cancel them."""
        self.scheduler.pause()
        if self.running:
            _, late = await asyncio.wait(set(self.running), timeout=grace_seconds)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        self.scheduler.shutdown(wait=False)
        # APScheduler 3 shuts down via call_soon; let that happen before the loop goes.
        await asyncio.sleep(0)
