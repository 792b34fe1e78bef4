"""Fixtures for the sandbox tests: the ION stand-in served for real, and a webhook receiver."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bridge.sandbox.ion import TOKEN_PATHS, IonWorld, create_app
from bridge.sandbox.serving import serving
from tests.conftest import require_shared
from tests.waiting import wait_until


def shared_ion_schema() -> Path:
    """The shared ION schema folder: a failure in CI when it is missing, a skip elsewhere."""
    return require_shared("ion-schema")


CLIENT_ID, CLIENT_SECRET = "sandbox-client", "sandbox-secret"  # IonWorld's default API key
RECEIVER_MUTATION = """
mutation($input: CreateWebhookReceiverInput!) {
  createWebhookReceiver(input: $input) {
    webhookReceiver { id _etag sharedSecret expectedResponseCode active contentType }
  }
}"""
SUBSCRIPTION_MUTATION = """
mutation($input: CreateWebhookSubscriptionInput!) {
  createWebhookSubscription(input: $input) { webhookSubscription { id _etag active } }
}"""


class IonStandin:
    """A running ION stand-in with a client holding a live token."""

    def __init__(self, world: IonWorld, url: str) -> None:
        self.world = world
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=10.0)
        self.token = self.fetch_token()

    def fetch_token(self, client_id: str = CLIENT_ID, secret: str = CLIENT_SECRET) -> str:
        form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
        answer = self.http.post(TOKEN_PATHS[0], data=form)
        assert answer.status_code == 200, answer.text
        token: str = answer.json()["access_token"]
        return token

    def post_graphql(self, query: str, variables: dict[str, Any] | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        body = {"query": query, "variables": variables or {}}
        return self.http.post("/graphql", json=body, headers=headers)

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The whole JSON answer (`data` and maybe `errors`); the HTTP status must be 200."""
        answer = self.post_graphql(query, variables)
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """`data` of an answer that must have no errors."""
        result = self.graphql(query, variables)
        assert "errors" not in result, result["errors"]
        data: dict[str, Any] = result["data"]
        return data

    def sandbox(self, method: str, path: str, body: Any = None) -> Any:
        answer = self.http.request(method, f"/_sandbox/{path}", json=body)
        assert answer.status_code < 300, answer.text
        return answer.json()

    def subscribe(
        self, url: str, pairs: list[tuple[str, str]], **receiver_fields: Any
    ) -> dict[str, Any]:
        """A receiver for `url` with one subscription per (resource, action); the receiver."""
        fields = {"name": "test receiver", "webhookUri": url, **receiver_fields}
        created = self.data(RECEIVER_MUTATION, {"input": fields})
        hook: dict[str, Any] = created["createWebhookReceiver"]["webhookReceiver"]
        for resource, action in pairs:
            subscription = {"resource": resource, "action": action, "receiverId": hook["id"]}
            self.data(SUBSCRIPTION_MUTATION, {"input": subscription})
        return hook

    def events(self) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = self.sandbox("GET", "webhooks")
        return events

    def settled_events(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """The webhook events once `count` exist and none is still being sent or retried."""

        def settled() -> list[dict[str, Any]] | None:
            events = self.events()
            pending = any(e["status"] in {"SENDING", "RETRYING"} for e in events)
            return events if len(events) >= count and not pending else None

        result: list[dict[str, Any]] = wait_until(settled, timeout, f"{count} settled events")
        return result


def make_world(**overrides: Any) -> IonWorld:
    """A world tuned for tests: fast retries and a short settle delay."""
    settings: dict[str, Any] = {"webhook_retry_delays": (0.05, 0.1), "settle_delay_seconds": 0.1}
    return IonWorld(**{**settings, **overrides})


@contextmanager
def standin_for(world: IonWorld) -> Iterator[IonStandin]:
    """Serve `world` on loopback for the block, with a client holding a token."""
    with serving(create_app(world)) as server:
        standin = IonStandin(world, server.url)
        try:
            yield standin
        finally:
            standin.http.close()


@pytest.fixture
def ion_standin() -> Iterator[IonStandin]:
    """The ION stand-in served on loopback, with a token; its world has fast retries."""
    with standin_for(make_world()) as standin:
        yield standin


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """A webhook receiver: records each POST and answers with the next scripted status."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.statuses: list[int] = []  # answered in order; 200 once they run out
        self.gate: threading.Event | None = None  # when set up, requests wait for it
        self.url = ""
        self._changed = threading.Condition()

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        with self._changed:
            self.deliveries.append(Delivery(dict(request.headers), body))
            status = self.statuses.pop(0) if self.statuses else 200
            self._changed.notify_all()
        if self.gate is not None:
            await asyncio.to_thread(self.gate.wait, 10.0)
        return PlainTextResponse(f"answered {status}", status_code=status)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/hook", self._handle, methods=["POST"])])

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Delivery]:
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.deliveries) >= count, timeout):
                pytest.fail(f"receiver got {len(self.deliveries)} deliveries, expected {count}")
            return list(self.deliveries)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A tiny webhook receiver served on loopback at `receiver.url`."""
    hook = Receiver()
    with serving(hook.app()) as server:
        hook.url = f"{server.url}/hook"
        yield hook
        if hook.gate is not None:
            hook.gate.set()
