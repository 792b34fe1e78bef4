"""The HTTP app of `bridge serve`: route lists composed, the lifespan running the bridge.

POST /webhooks/ion      the inbox (bridge.inbox.routes)
GET  /healthz           liveness: the process and its writer and worker tasks are alive
GET  /readyz            readiness: not draining, and the database answers
GET  /metrics           Prometheus text format
/api/*                  admin API behind the bearer token (bridge.api)
+ Bridge.routes         whatever other parts add (the status page)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bridge.api import api_mount
from bridge.api.events import event_routes
from bridge.bootstrap import Bridge
from bridge.delivery.breaker import STATE_VALUES
from bridge.delivery.log import queue_figures
from bridge.errors import StorageError
from bridge.inbox.routes import InboxConfig, inbox_routes
from bridge.metrics import CONTENT_TYPE_LATEST
from bridge.store.db import session_scope
from bridge.store.models import DeliveryStatus

#: Statuses counted at each scrape: the index-backed small ones, never the growing SUCCEEDED.
_SCRAPED = (*DeliveryStatus.OPEN, DeliveryStatus.FAILED)


def create_app(bridge: Bridge) -> Starlette:
    """The app around `bridge`; its lifespan starts and stops the bridge."""

    async def healthz(request: Request) -> Response:
        alive = bridge.writer.running and bridge.worker.alive
        return JSONResponse(
            {"status": "ok" if alive else "broken"}, status_code=200 if alive else 503
        )

    async def readyz(request: Request) -> Response:
        if bridge.draining:
            return JSONResponse({"status": "draining"}, status_code=503)
        if not await run_in_threadpool(bridge.database_ready):
            return JSONResponse({"status": "database unavailable"}, status_code=503)
        return JSONResponse({"status": "ready"})

    def refresh_queue_gauges() -> None:
        with session_scope(bridge.engine) as session:
            figures = queue_figures(session, now=bridge.clock(), statuses=_SCRAPED)
        bridge.metrics.queue_depth.set(figures.depth)
        bridge.metrics.oldest_pending.set(figures.oldest_open_age_seconds)
        bridge.metrics.dead_letters.set(figures.by_status.get("FAILED", 0))

    async def metrics(request: Request) -> Response:
        # When the database is down, the last known figures beat a failed scrape.
        with suppress(StorageError):
            await run_in_threadpool(refresh_queue_gauges)
        bridge.metrics.breaker.set(STATE_VALUES[bridge.worker.breaker.state])
        return Response(bridge.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    # Issue 6 (bridge.operate): status page, /api/openapi.json, alerts. Idempotent; it appends
    # to bridge.routes / api_routes / lifespan hooks, so it must run before they are read below.
    from bridge.operate import install

    install(bridge)
    settings = bridge.settings
    routes: list[BaseRoute] = [
        *inbox_routes(
            config=InboxConfig(
                max_body_bytes=settings.inbox_max_body_bytes, require=settings.inbox_require
            ),
            writer=bridge.writer,
            credentials=bridge.credentials,
            metrics=bridge.metrics,
        ),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        *bridge.routes,
        api_mount(
            [
                *event_routes(bridge.engine, clock=bridge.clock, wake=bridge.wake),
                *bridge.api_routes,
            ],
            settings.admin_token,
        ),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await bridge.start()
        try:
            yield
        finally:
            await bridge.stop()

    return Starlette(routes=routes, lifespan=lifespan)
