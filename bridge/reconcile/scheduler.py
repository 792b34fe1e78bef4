"""The reconciliation schedule inside `bridge serve` (APScheduler 3, on the app's event loop).

Three jobs, each coalesced (a backlog of missed firings runs once) with at most one instance at a
time, so a slow run is never stacked on itself:

- `reconcile`: a run every `reconcile_interval_seconds`, the first one right at start-up (on an
  empty database it records the baseline before ION's activity piles up);
- `new-lines`: the new-PO-line poll every `reconcile_new_line_poll_seconds`;
- `rechecks`: settle re-checks of new objects whose time has come, every second or so.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bridge.jobs import Schedule
from bridge.reconcile.runner import RunOptions
from bridge.settings import Settings

if TYPE_CHECKING:
    from bridge.reconcile.service import ReconcileService

#: How often due settle re-checks are looked for (cheap: one indexed query).
RECHECK_TICK_SECONDS = 1.0


def start_scheduler(service: ReconcileService, settings: Settings) -> Schedule:
    schedule = Schedule("reconcile")

    async def scheduled_run() -> None:
        await service.run(RunOptions(trigger="schedule"))

    schedule.every(
        "reconcile",
        scheduled_run,
        settings.reconcile_interval_seconds,
        first_at=datetime.now(UTC),
    )
    schedule.every("new-lines", service.poll_lines, settings.reconcile_new_line_poll_seconds)
    schedule.every(
        "rechecks",
        service.recheck,
        min(RECHECK_TICK_SECONDS, settings.reconcile_new_line_poll_seconds),
    )
    schedule.start()
    return schedule
