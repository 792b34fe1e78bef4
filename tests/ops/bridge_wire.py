"""A demo wiring "through the bridge": ION → bridge (provisioned by `setup`) → Violet.

Used by the log test until `bridge demo` runs the bridge itself: the same stand-ins and scripted
day as the demo, with the bridge in between, the status page installed and an alert channel.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlmodel import col, func, select

from bridge.app import create_app
from bridge.bootstrap import build_bridge
from bridge.ion.client import IonClient
from bridge.operate import install
from bridge.provision.run import run_setup
from bridge.sandbox.demo import Settle, StandIns, Wire
from bridge.sandbox.serving import ServerThread, free_port
from bridge.settings import Settings, load_settings
from bridge.store.db import session_scope
from bridge.store.models import Delivery, DeliveryStatus
from bridge.ui.drift import DriftReport
from tests.waiting import wait_until

ADMIN_TOKEN = "wire-admin-token-2b9e6f10"
VIOLET_TOKEN = "wire-violet-capability-5e0c"


@dataclass
class WireRecord:
    """What a wired run exposed, for the test to look at afterwards."""

    settings: Settings | None = None
    output: list[str] = field(default_factory=list)  # what `setup` printed
    drift: DriftReport | None = None  # the status page's drift check, right after setup


def bridge_wire(
    tmp: Path, record: WireRecord, alert_url: str, during: Callable[[str, StandIns], None]
) -> Wire:
    """A `Wire` for `run_wiring`; `during(bridge_url, stands)` runs once the day was played."""

    @contextmanager
    def wire(stands: StandIns) -> Iterator[Settle]:
        stands.violet.token = VIOLET_TOKEN  # a capability token worth looking for in the logs
        port = free_port()
        settings = load_settings(
            environ={},
            overrides={
                "ion_api_url": stands.ion_url,
                "ion_token_url": stands.token_url,
                "ion_client_id": stands.client_id,
                "ion_client_secret": stands.client_secret,
                "violet_webhook_url": stands.hook_url,
                "public_url": f"http://127.0.0.1:{port}",
                "allow_insecure_public_url": True,
                "database_url": f"sqlite:///{tmp / 'bridge.db'}",
                "admin_token": ADMIN_TOKEN,
                "alert_webhook_url": alert_url,
                "alert_min_interval_seconds": 0,
                "delivery_poll_seconds": 0.1,
                "reconcile_interval_seconds": 2,
                "log_level": "debug",
            },
        )
        record.settings = settings
        bridge = build_bridge(settings)
        operations = install(bridge)
        asyncio.run(_setup(settings, bridge.engine, record.output))
        server = ServerThread(create_app(bridge), port=port)
        server.start()

        def settle() -> None:
            _wait_for_empty_queue(bridge.engine)  # the day is forwarded before the operator acts
            during(server.url, stands)
            _wait_for_empty_queue(bridge.engine)
            assert operations.drift is not None
            record.drift = operations.drift.refresh_now()
            # The watch scans every few seconds; look once more now rather than wait for it.
            operations.watch.scan()
            assert operations.alerts.flush(10)

        try:
            yield settle
        finally:
            server.stop()

    return wire


async def _setup(settings: Settings, engine: object, output: list[str]) -> None:
    async with IonClient(settings) as ion:
        await run_setup(ion, settings, engine, echo=output.append)  # type: ignore[arg-type]


def _wait_for_empty_queue(engine: object, timeout: float = 30.0) -> None:
    def drained() -> bool:
        with session_scope(engine) as session:  # type: ignore[arg-type]
            open_ = session.exec(
                select(func.count()).where(col(Delivery.status).in_(DeliveryStatus.OPEN))
            ).one()
        return bool(open_ == 0)

    wait_until(drained, timeout, "the bridge's queue to drain")


def exercise(url: str, stands: StandIns) -> None:
    """What an operator meets in a day: wrong and right sign-in, the page, the API, a delivery
    Violet refuses (dead letter, alert) and its resend, a reconciliation run on demand."""
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.Client(base_url=url, timeout=30) as client:
        assert client.post("/login", data={"token": "not-the-token"}).status_code == 401
        client.post("/login", data={"token": ADMIN_TOKEN})
        assert client.get("/").status_code == 200
        wrong = {"Authorization": "Bearer wrong"}
        assert client.get("/api/events", headers=wrong).status_code == 401
        events = client.get("/api/events", headers=auth).json()["events"]
        assert events
        faults = f"{stands.violet_url}/_sandbox/faults"
        # Refuse until told otherwise: a reconciliation repair may go out in between as well.
        httpx.post(faults, json={"status": 400}, timeout=10).raise_for_status()
        first = client.post(f"/api/events/{events[0]['id']}/resend", headers=auth).json()
        _wait_for_status(client, auth, first["event"]["id"], DeliveryStatus.FAILED)
        httpx.delete(faults, timeout=10).raise_for_status()
        again = client.post(f"/api/events/{first['event']['id']}/resend", headers=auth).json()
        _wait_for_status(client, auth, again["event"]["id"], DeliveryStatus.SUCCEEDED)
        client.post("/api/reconcile/runs?wait=true", headers=auth, json={})
        assert client.get("/api/reconcile/runs", headers=auth).json()["runs"]
        assert client.get("/api/openapi.json", headers=auth).status_code == 200


def _wait_for_status(
    client: httpx.Client, auth: dict[str, str], delivery_id: int, status: str
) -> None:
    def reached() -> bool:
        shown = client.get(f"/api/events/{delivery_id}", headers=auth).json()
        return bool(shown["event"]["status"] == status)

    wait_until(reached, 30, f"delivery {delivery_id} to reach {status}")
