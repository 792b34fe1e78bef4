"""Test helpers for reconciliation: the ION stand-in served for real, an ION user making
changes through its GraphQL API, the outbox read back, and Violet's record modelled from it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from bridge.clock import utcnow
from bridge.reconcile import violet_view
from bridge.sandbox.ion import TOKEN_PATHS, IonWorld, Limitations, create_app
from bridge.sandbox.scenario import load_document
from bridge.sandbox.serving import serving
from bridge.settings import Settings, load_settings
from bridge.store.db import session_scope
from bridge.store.models import Delivery, DeliveryStatus
from tests.waiting import wait_until  # noqa: F401  (re-exported for the tests here)

CLIENT_ID, CLIENT_SECRET = "sandbox-client", "sandbox-secret"
TYPENAMES = {
    "PURCHASE_ORDERS": "PurchaseOrder",
    "PURCHASE_ORDER_LINES": "PurchaseOrderLine",
    "LOCATIONS": "Location",
    "SUPPLIERS": "Supplier",
}


@dataclass
class IonUser:
    """Someone changing things in ION through its API (and the stand-in's parts routes)."""

    world: IonWorld
    url: str
    http: httpx.Client

    def __post_init__(self) -> None:
        form = {"grant_type": "client_credentials", "client_id": CLIENT_ID}
        form["client_secret"] = CLIENT_SECRET
        token = self.http.post(TOKEN_PATHS[0], data=form).json()["access_token"]
        self.headers = {"Authorization": f"Bearer {token}"}

    def run(self, operation: str, variables: dict[str, Any]) -> dict[str, Any]:
        body = {"query": load_document(operation), "variables": variables}
        answer = self.http.post("/graphql", json=body, headers=self.headers)
        payload = answer.json()
        assert "errors" not in payload, payload
        data: dict[str, Any] = payload["data"]
        return data

    def create(self, resource: str, **values: Any) -> int:
        if resource == "PARTS":
            answer = self.http.post("/_sandbox/parts", json=values)
            assert answer.status_code == 201, answer.text
            return int(answer.json()["id"])
        typename = TYPENAMES[resource]
        data = self.run(f"ScenarioCreate{typename}", {"input": values})
        node = next(iter(data.values()))[typename[0].lower() + typename[1:]]
        return int(node["id"])

    def update(self, resource: str, entity_id: int, **values: Any) -> None:
        if resource == "PARTS":
            answer = self.http.patch(f"/_sandbox/parts/{entity_id}", json=values)
            assert answer.status_code == 200, answer.text
            return
        typename = TYPENAMES[resource]
        field = typename[0].lower() + typename[1:]
        for _ in range(5):  # ION's own follow-up writes (roll-ups, late fields) move the etag
            etag = self.run(f"Scenario{typename}Etag", {"id": entity_id})[field]["_etag"]
            body = {
                "query": load_document(f"ScenarioUpdate{typename}"),
                "variables": {"input": {**values, "id": entity_id, "etag": etag}},
            }
            payload = self.http.post("/graphql", json=body, headers=self.headers).json()
            if "errors" not in payload:
                return
            assert "etag" in str(payload["errors"]), payload
        pytest.fail(f"could not update {resource} {entity_id}: the etag kept moving")

    def truth(self) -> dict[str, dict[str, dict[str, Any]]]:
        truth: dict[str, dict[str, dict[str, Any]]] = self.http.get("/_sandbox/truth").json()
        return truth

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self.http.get("/_sandbox/stats").json()
        return stats

    def reset_stats(self) -> None:
        self.http.post("/_sandbox/stats/reset")

    def faults(self, **faults: Any) -> None:
        answer = self.http.post("/_sandbox/faults", json=faults)
        assert answer.status_code == 200, answer.text

    def clear_faults(self) -> None:
        self.http.delete("/_sandbox/faults")


def make_world(**overrides: Any) -> IonWorld:
    """All four limitations on, quick retries and a short settle delay."""
    values: dict[str, Any] = {
        "limitations": Limitations(),
        "webhook_retry_delays": (0.05, 0.1),
        "settle_delay_seconds": 0.2,
    }
    values.update(overrides)
    return IonWorld(**values)


@contextmanager
def ion_user(world: IonWorld) -> Iterator[IonUser]:
    with serving(create_app(world)) as server, httpx.Client(base_url=server.url) as http:
        yield IonUser(world=world, url=server.url, http=http)


def settings_for(ion_url: str, database_url: str, **overrides: Any) -> Settings:
    """Bridge settings pointing at the stand-in, with test-sized timings."""
    values: dict[str, Any] = {
        "ion_api_url": ion_url,
        "ion_token_url": ion_url + TOKEN_PATHS[0],
        "ion_client_id": CLIENT_ID,
        "ion_client_secret": CLIENT_SECRET,
        "ion_retry_base_seconds": 0.01,
        "ion_max_retries": 2,
        "database_url": database_url,
        "reconcile_overlap_seconds": 5,
        "reconcile_settle_delays_seconds": [1.0],
        "reconcile_debounce_seconds": 0.05,
        "log_level": "warning",
    }
    values.update(overrides)
    return load_settings({}, overrides=values)


def fresh_database(folder: Any) -> str:
    """A migrated SQLite database in `folder` (for tests that need only one backend)."""
    from bridge.store.db import make_engine
    from bridge.store.migrate import upgrade

    url = f"sqlite:///{folder / 'bridge.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


def repairs(engine: Engine) -> list[dict[str, Any]]:
    """The repair events in the outbox, oldest first, as parsed bodies."""
    with session_scope(engine) as session:
        rows = session.exec(
            select(Delivery).where(Delivery.origin == "reconcile").order_by(col(Delivery.id))
        ).all()
        return [json.loads(row.body) for row in rows]


def deliver_all(engine: Engine) -> None:
    """Pretend Violet accepted every open delivery (what the worker would record)."""
    with session_scope(engine) as session:
        for row in session.exec(
            select(Delivery).where(col(Delivery.status).in_(DeliveryStatus.OPEN))
        ).all():
            row.status, row.completed_at = DeliveryStatus.SUCCEEDED, utcnow()
            session.add(row)


def modelled_violet(
    engine: Engine, baseline: dict[str, dict[str, dict[str, Any]]] | None = None
) -> dict[str, dict[str, dict[str, Any]]]:
    """Violet's view after every delivery in the outbox, on top of `baseline` (by id order)."""
    records: dict[tuple[str, str], Any] = {
        (resource, entity_id): dict(fields)
        for resource, objects in (baseline or {}).items()
        for entity_id, fields in objects.items()
    }
    with session_scope(engine) as session:
        rows = session.exec(
            select(Delivery)
            .where(Delivery.status != DeliveryStatus.SUPERSEDED)
            .order_by(col(Delivery.id))
        ).all()
        bodies = [json.loads(row.body) for row in rows]
    for body in bodies:
        target = violet_view.body_target(body)
        if target is not None:
            records[target] = violet_view.apply(records.get(target), body)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for (resource, entity_id), record in records.items():
        if record is not None:
            out.setdefault(resource, {})[entity_id] = record
    return out


def wrong(truth: dict[str, dict[str, dict[str, Any]]], view: dict[str, Any]) -> list[Any]:
    """(resource, id, field, truth, view) for every tracked field Violet has wrong."""
    from bridge.sandbox import tracked

    out = []
    for resource, objects in truth.items():
        for entity_id, fields in objects.items():
            held = view.get(resource, {}).get(entity_id)
            for field, value in fields.items():
                seen = None if held is None else held.get(field)
                if tracked.normalize(seen) != tracked.normalize(value):
                    out.append((resource, entity_id, field, value, seen))
    return out
