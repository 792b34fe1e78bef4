"""The whole bridge on loopback for end-to-end tests: Violet stand-in, `bridge serve`'s app with
its real worker and the status page installed, and a way to deliver ION events to it."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bridge.app import create_app
from bridge.bootstrap import Bridge, build_bridge
from bridge.inbox.verify import Credentials
from bridge.operate import Operations, install
from bridge.sandbox.demo import stand_ins
from bridge.sandbox.serving import serving
from bridge.sandbox.violet import VioletWorld
from bridge.settings import load_settings

ADMIN_TOKEN = "e2e-admin-token-7c1d0b55"
HEADER_TOKEN = "e2e-header-token-93af02"
VIOLET_TOKEN = "e2e-violet-capability-41d7"
_event_ids = itertools.count(9001)


@dataclass(kw_only=True)
class Stack:
    bridge: Bridge
    operations: Operations
    violet: VioletWorld
    violet_url: str
    url: str

    def deliver(self, resource: str = "PURCHASE_ORDERS", entity_id: int = 42) -> int:
        """POST one ION-style webhook to the bridge; returns its event id once stored."""
        event_id = next(_event_ids)
        body = {
            "event_id": event_id,
            "subscription_id": 12,
            "resource": resource,
            "action": "UPDATE",
            "id": entity_id,
            "timestamp": "2026-11-22T10:15:03.120Z",
            "changes": {"status": {"old": "approved", "new": "ordered"}},
            "data": {"id": entity_id, "status": "ordered"},
        }
        response = httpx.post(
            f"{self.url}/webhooks/ion",
            content=json.dumps(body),
            headers={"content-type": "application/json", "x-bridge-token": HEADER_TOKEN},
            timeout=10,
        )
        response.raise_for_status()
        return event_id

    def violet_fault(self, spec: dict[str, Any]) -> None:
        httpx.post(f"{self.violet_url}/_sandbox/faults", json=spec, timeout=10).raise_for_status()


def _credentials() -> Credentials:
    return Credentials(
        token_hashes=(hashlib.sha256(HEADER_TOKEN.encode()).hexdigest(),),
        header_names=("x-bridge-token",),
    )


@contextmanager
def running_stack(
    database_url: str, var: Path, *, reconcile: bool = False, **overrides: Any
) -> Iterator[Stack]:
    """Violet (and ION, for reconciliation) and the bridge on real uvicorn servers."""
    with stand_ins() as stands:
        world = stands.violet
        world.token = VIOLET_TOKEN
        ion: dict[str, Any] = {}
        if reconcile:
            ion = {
                "ion_api_url": stands.ion_url,
                "ion_token_url": stands.token_url,
                "ion_client_id": stands.client_id,
                "ion_client_secret": stands.client_secret,
            }
        settings = load_settings(
            environ={},
            overrides={
                "database_url": database_url,
                "violet_webhook_url": stands.hook_url,
                "admin_token": ADMIN_TOKEN,
                "delivery_poll_seconds": 0.2,
                **ion,
                **overrides,
            },
        )
        bridge = build_bridge(settings, credentials=_credentials, reconcile=reconcile)
        operations = install(bridge)
        with serving(create_app(bridge)) as server:
            yield Stack(
                bridge=bridge,
                operations=operations,
                violet=world,
                violet_url=stands.violet_url,
                url=server.url,
            )
