"""A small app made of the status page's routes over a real, migrated database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy.engine import Engine
from starlette.applications import Starlette

from bridge.sandbox.serving import serving
from bridge.store.db import session_scope
from bridge.store.models import Delivery
from bridge.ui import Sources, routes

ADMIN_TOKEN = "ui-admin-token-5f2c9a71"
NOW = datetime(2026, 11, 22, 10, 15, 42, tzinfo=UTC)


class RecordingResend:
    """Stands in for the outbox's resend: a new PENDING copy of the delivery, ids recorded."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.calls: list[int] = []

    def __call__(self, delivery_id: int) -> int:
        self.calls.append(delivery_id)
        with session_scope(self.engine) as session:
            original = session.get(Delivery, delivery_id)
            if original is None:
                raise LookupError(delivery_id)
            copy = Delivery(
                webhook_id=f"{original.webhook_id}-r{len(self.calls)}",
                origin="resend",
                resend_of=original.webhook_id,
                body=original.body,
                received_at=NOW,
                next_attempt_at=NOW,
            )
            session.add(copy)
            session.flush()
            assert copy.id is not None
            return copy.id


@pytest.fixture
def resend(engine: Engine) -> RecordingResend:
    return RecordingResend(engine)


@pytest.fixture
def make_client(engine: Engine, resend: RecordingResend) -> Iterator[Callable[..., httpx.Client]]:
    """Serve the status page app on loopback and give an HTTP client for it.

    `token=None` is a bridge without BRIDGE_ADMIN_TOKEN. A real uvicorn server rather than an
    in-process client: that is how the page is served, and uvicorn's proxy-header handling is
    what turns a TLS proxy's `X-Forwarded-Proto: https` into an https request.
    """
    with ExitStack() as stack:

        def build(token: str | None = ADMIN_TOKEN, **source_args: object) -> httpx.Client:
            sources = Sources(engine=engine, clock=lambda: NOW, **source_args)  # type: ignore[arg-type]
            app = Starlette(routes=routes(admin_token=token, sources=sources, resend=resend))
            server = stack.enter_context(serving(app))
            return stack.enter_context(httpx.Client(base_url=server.url, timeout=10))

        yield build
