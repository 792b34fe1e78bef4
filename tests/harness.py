"""Running the bridge for real in tests: settings scaled down, a stored receiver credential,
the app under uvicorn on loopback, the Violet stand-in beside it, and waiting with deadlines.

Settings are the bridge's own (retry schedule, lease, breaker, back-off floor shortened), never
monkeypatched internals; credentials are stored exactly as provisioning stores them.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from bridge import crypto
from bridge.app import create_app
from bridge.bootstrap import Bridge, build_bridge
from bridge.clock import utcnow
from bridge.sandbox.serving import ServerThread
from bridge.sandbox.violet import VioletWorld
from bridge.sandbox.violet import create_app as create_violet_app
from bridge.settings import Settings, load_settings
from bridge.store.db import make_engine, session_scope
from bridge.store.models import Delivery, ReceiverCredential
from tests.waiting import wait_until  # noqa: F401  (re-exported for the tests here)

_event_ids = itertools.count(1000)
_schemas = itertools.count()


def next_event_id() -> int:
    """A fresh ION event id, so tests sharing a bridge never collide."""
    return next(_event_ids)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def module_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated database on each backend, shared by one module's tests (a bridge is slow to
    start; tests sharing one use fresh event ids and compare before/after)."""
    from sqlalchemy import create_engine, text

    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'bridge.db'}"
        return
    base: str = request.getfixturevalue("postgres_url")
    schema = f"m_{os.getpid()}_{next(_schemas)}"
    admin = create_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    yield f"{base}{separator}options=-csearch_path%3D{schema}"
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


SECRET = "e2e-shared-secret"
TOKEN = "e2e-header-token"
HEADER = "x-bridge-token"
ADMIN = "e2e-admin-token"
STORAGE_KEY = "e2e-storage-key"

#: Real settings, scaled down so a test sees retries, leases and the breaker within seconds.
FAST: dict[str, Any] = {
    "secret_key": STORAGE_KEY,
    "admin_token": ADMIN,
    "delivery_retry_schedule": [0.3, 0.6, 1.2],
    "delivery_jitter": 0.0,
    "delivery_timeout_seconds": 2.0,
    "delivery_lease_seconds": 3.0,
    "delivery_poll_seconds": 0.05,
    "delivery_min_backoff_seconds": 0.5,
    "delivery_retry_after_max_seconds": 5.0,
    "breaker_min_requests": 1000,
    "breaker_open_seconds": 0.5,
    "shutdown_grace_seconds": 2.0,
    "log_level": "warning",
}


def sign(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def event_body(event_id: int, entity: int = 1, resource: str = "SUPPLIERS", **data: Any) -> bytes:
    """An ION-shaped UPDATE body."""
    return json.dumps(
        {
            "event_id": event_id,
            "subscription_id": 1,
            "resource": resource,
            "action": "UPDATE",
            "id": entity,
            "timestamp": "2026-11-22T10:15:03.120Z",
            "changes": {"name": {"old": "a", "new": f"name-{event_id}"}},
            "data": {"id": entity, "name": f"name-{event_id}", **data},
        }
    ).encode()


def settings_for(database_url: str, violet_url: str, **overrides: Any) -> Settings:
    values = {**FAST, "database_url": database_url, "violet_webhook_url": violet_url}
    return load_settings(environ={}, overrides={**values, **overrides})


def store_credential(
    settings: Settings, *, secret: str = SECRET, token: str = TOKEN, header: str = HEADER
) -> None:
    """A receiver credential as `bridge setup` stores it (secret encrypted, token hashed)."""
    from bridge.bootstrap import migrate

    engine = make_engine(settings.database_url)
    try:
        migrate(engine)
        with session_scope(engine) as session:
            session.add(
                ReceiverCredential(
                    webhook_uri="http://127.0.0.1/webhooks/ion",
                    secret_encrypted=crypto.encrypt_secret(secret, crypto.storage_key(settings)),
                    token_sha256=crypto.hash_token(token),
                    header_name=header,
                    created_at=utcnow(),
                )
            )
    finally:
        engine.dispose()


@dataclass
class Violet:
    world: VioletWorld
    url: str

    @property
    def hook_url(self) -> str:
        return self.url + self.world.hook_path()

    def received(self) -> list[dict[str, Any]]:
        """Requests Violet answered 2xx (what it took), in arrival order."""
        return [r for r in self.world.requests() if r["status"] and r["status"] < 300]

    def event_ids(self) -> list[int]:
        """`event_id`s of the ION-shaped bodies Violet took, in arrival order."""
        ids = [_event_id(r["body"]) for r in self.received()]
        return [i for i in ids if i is not None]


def _event_id(text: str) -> int | None:
    try:
        document = json.loads(text)
    except ValueError:
        return None
    value = document.get("event_id") if isinstance(document, dict) else None
    return value if isinstance(value, int) else None


@contextmanager
def violet_standin() -> Iterator[Violet]:
    world = VioletWorld(token="demo-token")
    server = ServerThread(create_violet_app(world))
    server.start()
    try:
        yield Violet(world=world, url=server.url)
    finally:
        server.stop()


@dataclass
class RunningBridge:
    bridge: Bridge
    url: str
    http: httpx.Client

    def post(
        self,
        body: bytes,
        *,
        signature: str | bool | None = True,
        token: str | bool | None = False,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """POST to the inbox; `True` means the right proof, a string a given one, None none."""
        sent = {"content-type": "application/json", **(headers or {})}
        if signature is True:
            sent["x-ion-signature"] = sign(body)
        elif isinstance(signature, str):
            sent["x-ion-signature"] = signature
        if token is True:
            sent[HEADER] = TOKEN
        elif isinstance(token, str):
            sent[HEADER] = token
        return self.http.post("/webhooks/ion", content=body, headers=sent)

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {ADMIN}"}
        return self.http.request(method, path, headers=headers, **kwargs)

    def deliveries(self, *event_ids: int) -> list[Delivery]:
        """Stored deliveries (of these event ids, if given), oldest first."""
        from sqlmodel import col, select

        query = select(Delivery).order_by(col(Delivery.id))
        if event_ids:
            query = query.where(col(Delivery.event_id).in_(event_ids))
        with session_scope(self.bridge.engine) as session:
            return list(session.exec(query).all())

    def count(self) -> int:
        return len(self.deliveries())


@contextmanager
def running_bridge(
    settings: Settings,
    *,
    credential: bool = True,
    configure: Callable[[Bridge], None] | None = None,
) -> Iterator[RunningBridge]:
    """The bridge app under uvicorn on a free loopback port, for the block; `configure` may
    add hooks before it starts."""
    if credential:
        store_credential(settings)
    bridge = build_bridge(settings, reconcile=False)
    if configure is not None:
        configure(bridge)
    server = ServerThread(create_app(bridge))
    server.start()
    try:
        # Plain http on loopback: loading the CA bundle would only cost time.
        with httpx.Client(base_url=server.url, timeout=10, verify=False) as http:  # noqa: S501
            yield RunningBridge(bridge=bridge, url=server.url, http=http)
    finally:
        server.stop()


def attempts_of(running: RunningBridge, delivery_id: int) -> list[Any]:
    """The delivery's attempts, oldest first."""
    from sqlmodel import col, select

    from bridge.store.models import Attempt

    with session_scope(running.bridge.engine) as session:
        query = select(Attempt).where(Attempt.delivery_id == delivery_id)
        return list(session.exec(query.order_by(col(Attempt.id))).all())


def cli(*args: str, database_url: str, **env: str) -> Any:
    """Run `python -m bridge ARGS` against `database_url`; the CompletedProcess."""
    import subprocess
    import sys

    environ = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("BRIDGE_") or key.startswith("BRIDGE_TEST_")
    }
    environ.update({"BRIDGE_DATABASE_URL": database_url, **env})
    return subprocess.run(
        [sys.executable, "-m", "bridge", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
