"""Plugs the on-call tools into a built Bridge: the status page, `/api/openapi.json`, the
provisioning drift cache and the alert watch.

    bridge = build_bridge(settings)
    install(bridge)            # before create_app(bridge): it adds routes and lifespan hooks
    app = create_app(bridge)

Everything is added through the Bridge's documented extension points (`routes`, `api_routes`,
`on_startup`, `on_shutdown`), so the forwarding code knows nothing about any of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from weakref import WeakKeyDictionary

from sqlalchemy.engine import Engine

from bridge.alerts import Alerts, AlertWatch
from bridge.bootstrap import Bridge
from bridge.delivery import destination, replay
from bridge.openapi import openapi_routes
from bridge.settings import Settings
from bridge.store.db import session_scope
from bridge.ui import routes as ui_routes
from bridge.ui.drift import DriftCache
from bridge.ui.page import Sources

#: How often the alert watch looks, and how stale the drift shown on the page may get.
WATCH_INTERVAL_SECONDS = 10.0
DRIFT_TTL_SECONDS = 300.0


@dataclass(frozen=True, kw_only=True)
class Operations:
    """What `install` created, for tests and for the demo."""

    drift: DriftCache | None
    alerts: Alerts
    watch: AlertWatch


def ion_drift_check(settings: Settings, engine: Engine) -> DriftCache | None:
    """A drift cache asking ION through the provisioning code, or None without ION settings."""
    if not (settings.ion_api_url and settings.ion_client_id and settings.ion_client_secret):
        return None

    def check() -> Sequence[str]:
        # Runs on the cache's own thread: a private event loop, a private ION client.
        from bridge.ion.client import IonClient
        from bridge.provision.status import collect_ion_status

        async def ask() -> Sequence[str]:
            async with IonClient(settings) as ion:
                section = await collect_ion_status(ion, settings, engine)
            if section["in_sync"]:
                return []
            found = [str(step) for step in section["setup_would"]]
            found += [f"unknown resource {name}" for name in section["unknown_resources"]]
            return found or ["ION differs from the configuration (see `bridge status`)"]

        return asyncio.run(ask())

    return DriftCache(check, ttl_seconds=DRIFT_TTL_SECONDS)


#: Bridges already equipped: `install` is idempotent (the app and a test may both call it).
_INSTALLED: WeakKeyDictionary[Bridge, Operations] = WeakKeyDictionary()


def install(bridge: Bridge, *, drift: DriftCache | None = None) -> Operations:
    """Add the status page, the OpenAPI route and the alerting to `bridge` (once)."""
    if bridge in _INSTALLED:
        return _INSTALLED[bridge]
    settings = bridge.settings
    drift = drift if drift is not None else ion_drift_check(settings, bridge.engine)

    def breaker_state() -> str:
        return bridge.worker.breaker.state.value

    def resend(delivery_id: int) -> None:
        with session_scope(bridge.engine) as session:
            report = replay.resend(session, now=bridge.clock(), refs=[delivery_id])
        if report.missing:
            raise LookupError(delivery_id)

    def paused() -> bool:
        with session_scope(bridge.engine) as session:
            return destination.paused(session) is not None

    sources = Sources(
        engine=bridge.engine,
        breaker_state=lambda: "paused" if paused() else breaker_state(),
        drift=drift,
        clock=bridge.clock,
    )
    bridge.routes.extend(
        ui_routes(
            admin_token=settings.admin_token, sources=sources, resend=resend, wake=bridge.wake
        )
    )
    bridge.api_routes.extend(openapi_routes())

    alerts = Alerts.from_settings(settings)
    watch = AlertWatch(
        bridge.engine,
        alerts,
        overrun_after_seconds=settings.reconcile_alert_after_seconds,
        breaker_state=breaker_state,
        drift=drift,
        clock=bridge.clock,
    )
    if alerts.enabled:

        async def start_watch() -> None:
            watch.start(WATCH_INTERVAL_SECONDS)

        async def stop_watch() -> None:
            await asyncio.to_thread(watch.stop)
            await asyncio.to_thread(alerts.close)

        bridge.on_startup.append(start_watch)
        bridge.on_shutdown.append(stop_watch)
    operations = Operations(drift=drift, alerts=alerts, watch=watch)
    _INSTALLED[bridge] = operations
    return operations
