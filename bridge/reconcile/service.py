"""Reconciliation assembled: one object owning the ION client and every trigger, and `install`,
which plugs it into `bridge serve` (called by `bootstrap.build_bridge`).

    bridge.on_ingested  -> targeted fetch-and-repair of the object ION just named
    bridge.on_delivered -> gap-closure measurement of delivered repairs
    bridge.on_startup   -> ION client + APScheduler jobs (runs, new-line poll, settle re-checks)
    bridge.on_shutdown  -> stop them
    bridge.api_routes   -> GET/POST /api/reconcile/runs

`bridge reconcile` uses the same `ReconcileService` without a bridge around it.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio.to_thread
import structlog
from sqlalchemy.engine import Engine

from bridge.clock import utcnow
from bridge.delivery.claims import Outgoing
from bridge.delivery.serial import write_connection, write_scope
from bridge.inbox.codec import IonEvent, parse
from bridge.inbox.store import Disposition, Incoming, store_batch
from bridge.reconcile import measure
from bridge.reconcile.catalog import resolve
from bridge.reconcile.lines import LinePoller, poll_overlap
from bridge.reconcile.locks import RunLock
from bridge.reconcile.missed import Ingest, MissedCheck
from bridge.reconcile.repairs import Repair
from bridge.reconcile.runner import Runner, RunOptions, RunResult
from bridge.reconcile.sync import Reconciler, Tally
from bridge.reconcile.targeted import Targeted
from bridge.reconcile.violet_view import tracked_resource
from bridge.reconcile.walk import Ion
from bridge.settings import Settings
from bridge.store.models import KeyValue

if TYPE_CHECKING:
    from bridge.bootstrap import Bridge

log = structlog.get_logger(__name__)

_SERVICES: weakref.WeakKeyDictionary[Any, ReconcileService] = weakref.WeakKeyDictionary()


class ReconcileService:
    """Everything reconciliation runs in one process. `async with` it (or start/stop)."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        clock: Callable[[], datetime] = utcnow,
        wake: Callable[[], None] | None = None,
        ingest: Ingest | None = None,
        ion: Ion | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.clock = clock
        self.wake = wake
        self.resources = resolve(
            settings.reconcile_resources
            or ("PURCHASE_ORDERS", "PURCHASE_ORDER_LINES", "LOCATIONS", "SUPPLIERS", "PARTS"),
            setting="BRIDGE_RECONCILE_RESOURCES",
        )
        self.gaps = measure.GapClosure()
        self._ingest = ingest or direct_ingest(engine, clock)
        self._given_ion = ion
        self._ion_context: Any = None
        self._scheduler: Any = None
        self.reconciler: Reconciler | None = None
        self.runner: Runner | None = None
        self.targeted: Targeted | None = None
        self.lines: LinePoller | None = None

    # -- life cycle ------------------------------------------------------------------------
    async def start(self) -> None:
        ion = self._given_ion
        if ion is None:
            from bridge.ion.client import IonClient

            self._ion_context = IonClient(self.settings)
            ion = await self._ion_context.__aenter__()
        settings = self.settings
        self.reconciler = reconciler = Reconciler(
            engine=self.engine,
            ion=ion,
            page_size=settings.ion_page_size,
            settle_delays=settings.reconcile_settle_delays_seconds,
            clock=self.clock,
            on_committed=self._committed,
        )
        lease = max(600.0, 10 * settings.reconcile_interval_seconds)
        self.runner = Runner(
            reconciler,
            RunLock(self.engine, clock=self.clock, lease_seconds=lease),
            resources=self.resources,
            overlap_seconds=settings.reconcile_overlap_seconds,
            alert_after_seconds=settings.reconcile_alert_after_seconds,
            delete_disappeared="DELETE" in {a.upper() for a in settings.subscribe_actions},
            steps=[
                MissedCheck(
                    reconciler, self._ingest, overlap_seconds=settings.reconcile_overlap_seconds
                )
            ],
        )
        self.targeted = Targeted(
            reconciler,
            resources=self.resources,
            debounce_seconds=settings.reconcile_debounce_seconds,
            overlap_seconds=settings.reconcile_overlap_seconds,
        )
        overlap = poll_overlap(
            settings.reconcile_overlap_seconds, settings.reconcile_new_line_poll_seconds
        )
        self.lines = LinePoller(reconciler, overlap_seconds=overlap)
        await self.targeted.start()

    async def stop(self) -> None:
        if self._scheduler is not None:
            await self._scheduler.stop(self.settings.shutdown_grace_seconds)
            self._scheduler = None
        if self.targeted is not None:
            await self.targeted.stop()
        if self._ion_context is not None:
            await self._ion_context.__aexit__(None, None, None)
            self._ion_context = None

    async def __aenter__(self) -> ReconcileService:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start_scheduled(self) -> None:
        """Start, then schedule runs, the new-line poll and settle re-checks (serve)."""
        from bridge.reconcile.scheduler import start_scheduler

        await self.start()
        self._scheduler = start_scheduler(self, self.settings)

    # -- what the triggers call --------------------------------------------------------------
    async def run(self, options: RunOptions) -> RunResult:
        if self.runner is None:
            raise RuntimeError("ReconcileService is not started")
        result = await self.runner.run(options)
        await anyio.to_thread.run_sync(self._save_gaps)
        return result

    async def poll_lines(self) -> Tally:
        if self.lines is None:
            raise RuntimeError("ReconcileService is not started")
        with structlog.contextvars.bound_contextvars(trigger="new_line_poll"):
            return await self.lines.poll()

    async def recheck(self) -> Tally:
        if self.targeted is None:
            raise RuntimeError("ReconcileService is not started")
        return await self.targeted.recheck_due()

    def on_ingested(self, event: IonEvent) -> None:
        """The bridge's `on_ingested` hook: ION named an object; fetch and judge it shortly."""
        resource = tracked_resource(event.resource)
        if resource is None or event.entity_id is None or self.targeted is None:
            return
        if event.action == "DELETE" and not event.superseded:
            return
        self.targeted.notice(resource, event.entity_id)

    def on_delivered(self, delivery: Outgoing) -> None:
        """The bridge's `on_delivered` hook: close the gap of a delivered repair."""
        self.gaps.delivered(delivery)

    def gap_closure(self) -> dict[str, Any]:
        """Per kind of repair: count, median, p95, max seconds from ION change to Violet."""
        return self.gaps.summary()

    def _committed(self, queued: list[tuple[str, Repair]]) -> None:
        self.gaps.expect(queued)
        if self.wake is not None:
            self.wake()

    def _save_gaps(self) -> None:
        summary = self.gaps.summary()
        if not summary:
            return
        with write_scope(self.engine) as session:
            row = session.get(KeyValue, measure.STATE_KEY) or KeyValue(
                key=measure.STATE_KEY, updated_at=self.clock()
            )
            row.value = summary
            row.updated_at = self.clock()
            session.add(row)


def direct_ingest(engine: Engine, clock: Callable[[], datetime]) -> Ingest:
    """The inbox's storage path without its HTTP front (a CLI run has no writer task)."""

    async def ingest(bodies: list[bytes]) -> int:
        items = [Incoming(body=b, content_type="application/json", event=parse(b)) for b in bodies]

        def write() -> int:
            with write_connection(engine) as connection:
                stored = store_batch(connection, items, now=clock())
            return sum(1 for s in stored if s.disposition is not Disposition.DUPLICATE)

        return await anyio.to_thread.run_sync(write)

    return ingest


def writer_ingest(bridge: Bridge) -> Ingest:
    """Through the running bridge's writer, so its hooks (forwarding, repairs) fire as usual."""

    async def ingest(bodies: list[bytes]) -> int:
        items = [Incoming(body=b, content_type="application/json", event=parse(b)) for b in bodies]
        stored = await asyncio.gather(*(bridge.writer.submit(item) for item in items))
        return sum(1 for s in stored if s.disposition is not Disposition.DUPLICATE)

    return ingest


def install(bridge: Bridge) -> None:
    """Plug reconciliation into `bridge serve` (called by `bootstrap.build_bridge`)."""
    settings = bridge.settings
    missing = [
        name
        for name in ("ion_api_url", "ion_token_url", "ion_client_id", "ion_client_secret")
        if getattr(settings, name) in (None, "")
    ]
    if missing:
        # Forwarding works without ION API access; reconciliation cannot. Say so once.
        log.warning("reconcile.disabled", reason="ION API settings missing", missing=missing)
        return
    service = ReconcileService(
        settings, bridge.engine, clock=bridge.clock, wake=bridge.wake, ingest=writer_ingest(bridge)
    )
    from bridge.reconcile.api import reconcile_routes

    bridge.on_ingested.append(service.on_ingested)
    bridge.on_delivered.append(service.on_delivered)
    bridge.on_startup.append(service.start_scheduled)
    bridge.on_shutdown.append(service.stop)
    bridge.api_routes.extend(reconcile_routes(service))
    _SERVICES[bridge] = service


def service_of(bridge: Bridge) -> ReconcileService | None:
    """The reconciliation service `install` attached to `bridge` (None when disabled)."""
    return _SERVICES.get(bridge)
