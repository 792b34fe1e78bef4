"""The one ION client: every part of the bridge that talks to ION goes through `IonClient`.

    async with IonClient(settings) as ion:
        data = await ion.execute("WebhookReceivers", {"filters": {...}})

`execute` runs the operation document `graphql/**/<operation>.graphql` (parsed once) with gql
over httpx and returns its `data`. Around each request: a client-credentials token (see `auth`),
one refresh when ION answers 401, and retries with exponential backoff and jitter for what is
transient (connection errors, timeouts, 5xx, 429), up to `ion_max_retries`. What is left is raised
as the bridge's own error (see `errors.translate`).

Retrying a mutation whose answer was lost can apply it twice; provisioning tolerates that (the
next `bridge setup` sees a duplicate subscription and removes it), and it is rare next to the
502s and connection resets that retries cure.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from functools import cache
from types import TracebackType
from typing import Any

import httpx
import structlog
from gql import Client, GraphQLRequest
from gql.client import AsyncClientSession
from gql.transport.exceptions import TransportServerError
from gql.transport.httpx import HTTPXAsyncTransport
from graphql import DocumentNode, ExecutionResult, parse

from bridge import __version__
from bridge.errors import IonRejected, IonUnavailable
from bridge.ion.auth import TokenSource, authorization
from bridge.ion.errors import TokenRejected, is_transient_status, translate
from bridge.logs import register_secret
from bridge.resources import graphql_document
from bridge.settings import Settings

log = structlog.get_logger(__name__)

TransportFactory = Callable[[], httpx.AsyncBaseTransport]

#: No single wait between retries is longer than this.
MAX_BACKOFF_SECONDS = 30.0


def backoff_delay(attempt: int, base: float, jitter: float) -> float:
    """Seconds before retry number `attempt` (0-based): doubling from `base`, capped, and spread
    by `jitter` in [0, 1) to between half and the whole of it, so clients do not retry in step."""
    ceiling = min(MAX_BACKOFF_SECONDS, base * 2.0**attempt)
    return ceiling * (0.5 + jitter / 2)


@cache
def parsed_document(operation: str) -> DocumentNode:
    """The operation document `operation`, read and parsed once per process."""
    return parse(graphql_document(operation))


class _Transport(HTTPXAsyncTransport):
    """gql's httpx transport, except that 401, 429 and 5xx count as transport failures even when
    the body is JSON: a gateway's error page must be retried, not reported as ION's answer."""

    def _prepare_result(self, response: httpx.Response) -> ExecutionResult:
        status = response.status_code
        if status == 401 or is_transient_status(status):
            raise TransportServerError(f"HTTP {status}", status)
        return super()._prepare_result(response)


class IonClient:
    """ION's GraphQL API with authentication, retries and error translation."""

    def __init__(
        self,
        settings: Settings,
        *,
        transport_factory: TransportFactory | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.graphql_url = settings.graphql_url
        self._settings = settings
        self._factory = transport_factory
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        register_secret(settings.require("ion_client_secret"))
        self._http: httpx.AsyncClient | None = None
        self._gql: Client | None = None
        self._session: AsyncClientSession | None = None
        self._tokens: TokenSource | None = None

    async def __aenter__(self) -> IonClient:
        timeout = self._settings.ion_timeout_seconds
        headers = {"User-Agent": f"ion-violet-bridge/{__version__}"}
        extra: dict[str, Any] = {"transport": self._factory()} if self._factory else {}
        self._http = httpx.AsyncClient(timeout=timeout, headers=headers, **extra)
        self._tokens = TokenSource(self._http, self._settings, clock=self._clock)
        extra = {"transport": self._factory()} if self._factory else {}
        transport = _Transport(url=self.graphql_url, timeout=timeout, headers=headers, **extra)
        # gql's own deadline sits above httpx's, so httpx's clearer timeout error fires first.
        self._gql = Client(transport=transport, execute_timeout=timeout + 5)
        # gql leaves connect_async/close_async unannotated.
        self._session = await self._gql.connect_async()  # type: ignore[no-untyped-call]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._gql is not None:
            await self._gql.close_async()  # type: ignore[no-untyped-call]
        if self._http is not None:
            await self._http.aclose()
        self._gql = self._session = self._http = self._tokens = None

    async def execute(
        self, operation: str, variables: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Run the operation document named `operation` and return its `data`."""
        if self._session is None or self._tokens is None:
            raise RuntimeError("IonClient is used outside `async with`")
        request = GraphQLRequest(
            parsed_document(operation), variable_values=variables, operation_name=operation
        )
        style = self._settings.ion_auth_header_style
        retries = 0
        refreshed = False
        while True:
            token: str | None = None
            try:
                token = await self._tokens.token()
                headers = {"Authorization": authorization(token, style)}
                return await self._session.execute(request, extra_args={"headers": headers})
            except Exception as exc:
                error = translate(exc, self.graphql_url)
                if isinstance(error, TokenRejected) and token is not None and not refreshed:
                    # Expired or revoked early: one new token, and the request again.
                    refreshed = True
                    self._tokens.invalidate(token)
                    log.info("ion.token_refused", operation=operation)
                    continue
                if not isinstance(error, IonUnavailable):
                    if error is exc:
                        raise  # already ours (e.g. the token endpoint refused the key)
                    raise error from exc
                if retries >= self._settings.ion_max_retries:
                    raise IonUnavailable(f"{error} (gave up after {retries + 1} attempts)") from exc
                delay = backoff_delay(
                    retries, self._settings.ion_retry_base_seconds, self._rng.random()
                )
                retries += 1
                log.warning(
                    "ion.retry",
                    operation=operation,
                    retry=retries,
                    delay_s=round(delay, 3),
                    error=str(error),
                )
            await self._sleep(delay)

    async def introspect_resource_enum(self) -> list[str]:
        """The live values of ION's `ResourceEnum` (what webhook subscriptions accept)."""
        data = await self.execute("ResourceEnumValues")
        described = data.get("__type") or {}
        values = described.get("enumValues")
        if not isinstance(values, list):
            raise IonRejected("ION's schema has no ResourceEnum type to subscribe to")
        return [str(value["name"]) for value in values]
