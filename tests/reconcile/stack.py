"""The whole chain for end-to-end tests: ION stand-in -> `bridge serve` (real uvicorn, real
HTTP, provisioned with `bridge setup`'s code) -> Violet stand-in."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from bridge.app import create_app
from bridge.bootstrap import Bridge, build_bridge, migrate
from bridge.ion.client import IonClient
from bridge.provision.run import run_setup
from bridge.reconcile.service import ReconcileService, service_of
from bridge.sandbox.ion import IonWorld, Limitations
from bridge.sandbox.ion import create_app as create_ion_app
from bridge.sandbox.serving import ServerThread, free_port
from bridge.sandbox.violet import VioletWorld
from bridge.sandbox.violet import create_app as create_violet_app
from bridge.settings import Settings
from bridge.store.db import make_engine
from tests.reconcile.harness import IonUser, settings_for, wait_until, wrong

RESOURCES = ["PURCHASE_ORDERS", "PURCHASE_ORDER_LINES", "LOCATIONS", "SUPPLIERS", "PARTS"]


@dataclass
class Stack:
    ion: IonUser
    violet: VioletWorld
    settings: Settings
    bridge: Bridge
    server: ServerThread

    @property
    def service(self) -> ReconcileService:
        service = service_of(self.bridge)
        assert service is not None
        return service

    def wrong(self) -> list[Any]:
        """Tracked fields Violet has wrong right now."""
        return wrong(self.ion.truth(), self.violet.state())

    def converge(self, timeout: float) -> float:
        """Seconds until Violet holds ION's truth on every tracked field (fails after timeout)."""
        started = time.monotonic()
        wait_until(lambda: not self.wrong(), timeout, "Violet to hold ION's truth")
        return time.monotonic() - started

    def stop_bridge(self) -> None:
        self.server.stop()

    def start_bridge(self) -> None:
        """A fresh bridge process's worth of objects on the same port and database."""
        self.bridge = build_bridge(self.settings)
        self.server = ServerThread(create_app(self.bridge), port=self.server.port)
        self.server.start()

    def repair_requests(self) -> list[dict[str, Any]]:
        return [
            r for r in self.violet.requests() if r["headers"].get("x-bridge-origin") == "reconcile"
        ]


def provision(settings: Settings) -> None:
    async def setup() -> None:
        async with IonClient(settings) as ion:
            await run_setup(ion, settings, make_engine(settings.database_url), echo=lambda _: None)

    asyncio.run(setup())


@contextmanager
def bridge_stack(
    database_url: str,
    *,
    limitations: Limitations | None = None,
    settle_delay: float = 0.3,
    **overrides: Any,
) -> Iterator[Stack]:
    """ION and Violet stand-ins with the bridge served between them, provisioned, running."""
    world = IonWorld(
        limitations=limitations or Limitations(),
        webhook_retry_delays=(0.05, 0.1, 0.2),
        settle_delay_seconds=settle_delay,
    )
    violet = VioletWorld()
    with ExitStack() as stack:
        ion_server, violet_server = (
            ServerThread(create_ion_app(world)),
            ServerThread(create_violet_app(violet)),
        )
        for server in (ion_server, violet_server):
            server.start()
            stack.callback(server.stop)
        port = free_port()
        values: dict[str, Any] = {
            "violet_webhook_url": violet_server.url + violet.hook_path(),
            "public_url": f"http://127.0.0.1:{port}",
            "allow_insecure_public_url": True,
            "subscribe_resources": RESOURCES,
            "reconcile_interval_seconds": 5,
            "reconcile_new_line_poll_seconds": 1,
            "reconcile_settle_delays_seconds": [1.0, 2.5],
            "delivery_poll_seconds": 0.1,
        }
        values.update(overrides)
        settings = settings_for(ion_server.url, database_url, **values)
        engine = make_engine(database_url)
        migrate(engine)
        engine.dispose()
        provision(settings)
        bridge = build_bridge(settings)
        server = ServerThread(create_app(bridge), port=port)
        server.start()
        http = stack.enter_context(httpx.Client(base_url=ion_server.url, timeout=10))
        ion = IonUser(world=world, url=ion_server.url, http=http)
        running = Stack(ion=ion, violet=violet, settings=settings, bridge=bridge, server=server)
        stack.callback(lambda: running.server.stop())
        yield running
