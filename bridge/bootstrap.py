"""The composition root: `build_bridge(settings)` makes every long-lived part of `bridge serve`.

Nothing connects at import time; this is the one place where the engine, the HTTP client to
Violet, the inbox's writer, the delivery worker and the hooks are created and wired. Tests call
it with the same settings a deployment would use (scaled down), plus an optional clock or HTTP
transport; nothing internal is monkeypatched.
"""

from __future__ import annotations

import asyncio
import importlib.util
import random
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache

import httpx
import structlog
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from starlette.routing import BaseRoute

from bridge.clock import utcnow
from bridge.delivery.claims import Outgoing
from bridge.delivery.config import WorkerConfig
from bridge.delivery.retention import RetentionJob
from bridge.delivery.sender import VioletSender
from bridge.delivery.worker import Worker
from bridge.hooks import Hook, HookRunner
from bridge.inbox import routes as inbox
from bridge.inbox.codec import IonEvent
from bridge.inbox.credentials import CredentialCache, Loader, database_loader
from bridge.inbox.process import WriterProcess
from bridge.inbox.store import Disposition, Stored
from bridge.inbox.writer import IngestWriter
from bridge.logs import register_secret
from bridge.metrics import Metrics
from bridge.settings import Settings
from bridge.store.db import (
    INGEST_OPTIONS,
    checkpoint,
    is_sqlite,
    make_engine,
    sqlite_file,
    worker_engine,
)
from bridge.store.migrate import upgrade

log = structlog.get_logger(__name__)

#: Module a plug-in (reconciliation) may provide: `install(bridge: Bridge) -> None`.
RECONCILE_PLUGIN = "bridge.reconcile.service"
#: SQLite: how often `serve` checkpoints the WAL in the background (see `store.db.checkpoint`).
CHECKPOINT_SECONDS = 1.0
#: Any fixed number: serialises schema migrations of processes starting together on PostgreSQL.
_MIGRATION_LOCK = 0x1B1D6E


@dataclass(kw_only=True, eq=False)
class Bridge:
    """Everything `bridge serve` runs, and the hooks other parts plug into.

    Hooks (lists: append before the app starts; see `bridge.hooks` for how they run):

    - ``on_ingested: list[Callable[[IonEvent], Awaitable[None] | None]]`` — after the commit of
      each *new* parsed ION event (not duplicates, not pass-throughs). An event older than one
      already accepted for its object arrives with ``event.superseded == True``: it was stored
      but will not be forwarded, and the object should be repaired. The event carries its
      identity (``event_id``, ``resource``, ``action``, ``entity_id``); its body was parsed where
      the ingest writer runs and is in the database, so ``data`` and ``changes`` may be None.
    - ``on_delivered: list[Callable[[Outgoing], Awaitable[None] | None]]`` — after Violet
      answered 2xx to a delivery (the row as settled).
    - ``on_startup`` / ``on_shutdown: list[Callable[[], Awaitable[None]]]`` — run by the app's
      lifespan after / before the inbox and worker start / stop (e.g. a scheduler).
    - ``routes`` — extra top-level routes (a status page); ``api_routes`` — extra routes under
      ``/api`` behind the admin bearer token (e.g. ``/reconcile/runs``).
    - ``wake()`` — call after committing deliveries yourself (``outbox.enqueue_repair``) so the
      worker sends them now instead of at its next poll.
    """

    settings: Settings
    engine: Engine
    metrics: Metrics
    writer: IngestWriter
    worker: Worker
    credentials: CredentialCache
    hooks: HookRunner
    clock: Callable[[], datetime] = utcnow
    reconcile: bool = True
    on_ingested: list[Hook[IonEvent]] = field(default_factory=list)
    on_delivered: list[Hook[Outgoing]] = field(default_factory=list)
    on_startup: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    on_shutdown: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    routes: list[BaseRoute] = field(default_factory=list)
    api_routes: list[BaseRoute] = field(default_factory=list)
    #: True from the moment a shutdown is asked for: /readyz fails so traffic moves elsewhere.
    draining: bool = False
    #: SQLite only: one connection held open for the bridge's lifetime. The engine opens a
    #: connection per transaction, and the last connection to close checkpoints and deletes
    #: the WAL file (several ms each time): this one is never the last to close.
    _sqlite_keeper: Connection | None = None
    _checkpoints: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Have the worker look for due deliveries now."""
        self.worker.wake()

    def ingested(self, stored: list[Stored]) -> None:
        """Called by the writer after each commit (on the event loop)."""
        inbox.count_stored(
            self.metrics, [(item.disposition, item.event is not None) for item in stored]
        )
        self.metrics.ingest_batch.observe(len(stored))
        self.worker.wake(pause_may_have_lifted=False)
        for item in stored:
            if item.event is not None and item.disposition is not Disposition.DUPLICATE:
                self.hooks.fire(self.on_ingested, item.event, name="on_ingested")

    def database_ready(self) -> bool:
        """Can the database be reached right now (a cheap round trip)?"""
        try:
            with self.engine.connect() as connection:
                connection.execute(text("select 1"))
        except Exception:
            return False
        return True

    async def start(self) -> None:
        if is_sqlite(self.engine):
            self._checkpoints = asyncio.create_task(self._checkpoint_loop(), name="checkpoints")
        await self.writer.start()
        await self.worker.start()
        for callback in self.on_startup:
            await callback()
        log.info("bridge.started", worker=self.worker.owner, reconcile=self.reconcile)

    async def stop(self) -> None:
        """Graceful: hooks' services first, then the worker (finish or release in-flight
        sends, close its HTTP client), then the writer (commit what is queued), then the
        engine."""
        self.draining = True
        for callback in reversed(self.on_shutdown):
            try:
                await callback()
            except Exception:
                log.exception("bridge.shutdown_hook_failed")
        await self.worker.stop()
        await self.writer.stop()
        await self.hooks.drain(self.settings.shutdown_grace_seconds)
        if self._checkpoints is not None:
            self._checkpoints.cancel()
            await asyncio.gather(self._checkpoints, return_exceptions=True)
            await self._checkpoint()
        if self._sqlite_keeper is not None:
            self._sqlite_keeper.close()
        for own in {self.worker.engine, self.writer.engine} - {self.engine}:
            await asyncio.to_thread(own.dispose)
        await asyncio.to_thread(self.engine.dispose)
        log.info("bridge.stopped")

    async def _checkpoint_loop(self) -> None:
        """SQLite: checkpoint the WAL off the commit path, every CHECKPOINT_SECONDS."""
        while True:
            await asyncio.sleep(CHECKPOINT_SECONDS)
            await self._checkpoint()

    async def _checkpoint(self) -> None:
        try:
            await asyncio.to_thread(checkpoint, self.engine)
        except Exception as exc:  # a busy or missing database: the next round tries again
            log.warning("store.checkpoint_failed", error=str(exc))


def migrate(engine: Engine) -> None:
    """Bring the schema to head; on PostgreSQL under an advisory lock, so several processes
    starting at once do not race to create the same tables."""
    if is_sqlite(engine):
        upgrade(engine)
        return
    with engine.connect() as connection:
        connection.execute(text("select pg_advisory_lock(:key)"), {"key": _MIGRATION_LOCK})
        try:
            upgrade(engine)
        finally:
            connection.execute(text("select pg_advisory_unlock(:key)"), {"key": _MIGRATION_LOCK})


def build_bridge(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = utcnow,
    credentials: Loader | None = None,
    reconcile: bool = True,
    run_migrations: bool = True,
    rng: random.Random | None = None,
) -> Bridge:
    """Build (not start) the bridge. ConfigError for settings that cannot work.

    `credentials` replaces the database's receiver credentials (tools that check signatures
    without provisioning).
    """
    config = WorkerConfig.from_settings(settings)
    register_secret(config.url, *(s.get_secret_value() for s in _secrets(settings)))
    engine = make_engine(settings.database_url, wal_autocheckpoint=False)
    if run_migrations:
        migrate(engine)
    keeper = engine.connect() if is_sqlite(engine) else None
    metrics = Metrics()
    hooks = HookRunner()
    sender = VioletSender(config, tls=_tls_context())
    on_delivered: list[Hook[Outgoing]] = []
    worker = Worker(
        worker_engine(engine),
        sender,
        config,
        metrics=metrics,
        clock=clock,
        on_delivered=on_delivered,
        hooks=hooks,
        rng=rng,
    )
    loader = credentials or database_loader(engine, settings, clock=clock)
    process = _writer_process(settings, engine)
    writer = IngestWriter(_writer_engine(engine, process), clock=clock, process=process)
    bridge = Bridge(
        settings=settings,
        engine=engine,
        metrics=metrics,
        writer=writer,
        worker=worker,
        credentials=CredentialCache(loader),
        hooks=hooks,
        clock=clock,
        reconcile=reconcile,
        on_delivered=on_delivered,
        _sqlite_keeper=keeper,
    )
    writer.on_committed = bridge.ingested
    if settings.retention_days:
        job = RetentionJob(engine, days=settings.retention_days, clock=clock, metrics=metrics)
        bridge.on_startup.append(job.start)
        bridge.on_shutdown.append(job.stop)
    if reconcile and importlib.util.find_spec(RECONCILE_PLUGIN) is not None:
        importlib.import_module(RECONCILE_PLUGIN).install(bridge)
    return bridge


def _writer_engine(engine: Engine, process: WriterProcess | None) -> Engine:
    """The engine the ingest writer's thread writes through (`BRIDGE_INGEST_WRITER=thread`).

    On PostgreSQL a pool of its own whose sessions plan without sequential scans, as the writer
    process's do (`INGEST_OPTIONS`); on SQLite `engine` itself, whose writes share one
    in-process lock. With the writer process, `engine` (the process opens its own).
    """
    if process is not None or is_sqlite(engine):
        return engine
    url = engine.url.render_as_string(hide_password=False)
    return make_engine(url, session_options=INGEST_OPTIONS)


def _writer_process(settings: Settings, engine: Engine) -> WriterProcess | None:
    """The ingest writer's own process, unless set to a thread (or the database is in memory)."""
    in_memory = is_sqlite(engine) and sqlite_file(engine.url) is None
    if settings.ingest_writer != "process" or in_memory:
        return None
    url = engine.url.render_as_string(hide_password=False)
    # Its commits never checkpoint the WAL: `serve` does, in the background (see `store.db`).
    return WriterProcess(url, wal_autocheckpoint=False)


@cache
def _tls_context() -> ssl.SSLContext:
    """Loading the CA bundle takes a quarter of a second: once per process is enough."""
    return httpx.create_ssl_context()


def _secrets(settings: Settings) -> list[SecretStr]:
    values = (settings.admin_token, settings.ion_client_secret, settings.alert_webhook_url)
    return [value for value in values if value is not None]
