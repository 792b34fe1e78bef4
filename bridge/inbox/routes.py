"""`POST /webhooks/ion`: where ION delivers. The answer means "durably stored", nothing less.

In order, each step refusing before the next costs anything:
1. over `inbox_max_body_bytes` → 413, judged by Content-Length and then by counting while
   streaming, so an oversize body is never read whole;
2. the body, its proofs (header token / signature) and the credentials in force are handed to
   the group-commit writer, which checks and parses them off this event loop
   (`bridge.inbox.admit`): failed proofs → 401, counted by reason, logged without secrets,
   nothing stored (after one reload of the credentials, for a rotation made meanwhile); an
   empty body or an absurd content type → 400 (nothing ION sends); a body the codec does not
   understand is a pass-through, not an error;
3. the expected status (200) only once the batch has committed, 503 if the database could not
   take it (or the credentials could not be read), so ION retries.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

import structlog
from starlette.requests import ClientDisconnect
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from bridge.errors import StorageError
from bridge.inbox.admit import Received, Refused
from bridge.inbox.credentials import CredentialCache
from bridge.inbox.store import Disposition
from bridge.inbox.verify import Credentials, Require
from bridge.inbox.writer import IngestWriter
from bridge.metrics import Metrics
from bridge.provision.state import EXPECTED_RESPONSE_CODE

log = structlog.get_logger(__name__)

PATH = "/webhooks/ion"
SIGNATURE_HEADER = "x-ion-signature"
_JSON = b"application/json"
#: How long ION should wait before retrying after a 503 (a hint; ION has its own schedule).
_RETRY_AFTER_SECONDS = b"5"


class TooLarge(Exception):
    """The body is over the limit."""


@dataclass(frozen=True, kw_only=True)
class InboxConfig:
    max_body_bytes: int
    require: Require


async def _answer(send: Send, status: int, body: bytes, *extra: tuple[bytes, bytes]) -> None:
    headers = [(b"content-type", _JSON), (b"content-length", b"%d" % len(body)), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _error(reason: str) -> bytes:
    return json.dumps({"error": reason}, separators=(",", ":")).encode()


async def read_capped(receive: Receive, declared: str | None, limit: int) -> bytes:
    """The whole body, or TooLarge as soon as it is known to exceed `limit` bytes;
    ClientDisconnect if the client went away first."""
    if (
        declared is not None
        and declared.strip().isascii()
        and declared.strip().isdigit()
        and int(declared) > limit
    ):
        raise TooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunk: bytes = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise TooLarge
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class InboxEndpoint:
    """`POST /webhooks/ion` as a plain ASGI app, bound to its collaborators.

    Plain ASGI rather than a Starlette request handler: this route is `serve`'s hot path, and a
    `Request`, its streamed body, its `Headers` and a `Response` cost per request what the
    route's own work does not need (one pass over the raw headers, one loop over `receive`,
    two `send`s). Starlette's router still dispatches to it (405 for other methods)."""

    def __init__(
        self,
        *,
        config: InboxConfig,
        writer: IngestWriter,
        credentials: CredentialCache,
        metrics: Metrics,
    ) -> None:
        self._config = config
        self._writer = writer
        self._credentials = credentials
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Names are lower-case (ASGI); the first of a repeated header wins, as in Starlette.
        headers = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in reversed(scope["headers"])
        }
        client = scope.get("client")
        try:
            body = await read_capped(
                receive, headers.get("content-length"), self._config.max_body_bytes
            )
        except TooLarge:
            return await self._rejected(send, 413, "too_large", client)
        except ClientDisconnect:
            return await _answer(send, 400, b"")
        credentials = self._credentials
        try:
            creds = await credentials.get()
        except StorageError as exc:
            return await self._unavailable(send, exc)
        received = Received(
            body=body,
            content_type=headers.get("content-type", "application/json"),
            signature=headers.get(SIGNATURE_HEADER),
            token=_token(headers, creds),
            credentials=creds,
            require=self._config.require,
        )
        try:
            try:
                stored = await self._writer.submit(received)
            except Refused as refusal:
                # A 401 against credentials read a while ago: `bridge setup` may have just
                # rotated them from another process. Reloaded at most once a second.
                fresher = await credentials.reload_if_stale() if refusal.status == 401 else None
                if fresher is None:
                    raise
                again = replace(received, credentials=fresher, token=_token(headers, fresher))
                stored = await self._writer.submit(again)
        except Refused as refusal:
            return await self._rejected(send, refusal.status, refusal.reason, client)
        except StorageError as exc:
            return await self._unavailable(send, exc)
        event = stored.event
        log.info(
            "inbox.stored",
            disposition=stored.disposition.value,
            delivery_id=stored.delivery_id,
            event_id=event.event_id if event else None,
            resource=event.resource if event else None,
            entity_id=event.entity_id if event else None,
            size=len(body),
        )
        answer = f'{{"status":"{stored.disposition.value}","delivery_id":{stored.delivery_id}}}'
        await _answer(send, EXPECTED_RESPONSE_CODE, answer.encode())

    async def _rejected(
        self, send: Send, status: int, reason: str, client: tuple[str, int] | None
    ) -> None:
        self._metrics.rejected.labels(reason).inc()
        host = client[0] if client else None
        log.warning("inbox.rejected", reason=reason, status=status, client=host)
        await _answer(send, status, _error(reason))

    async def _unavailable(self, send: Send, exc: StorageError) -> None:
        self._metrics.rejected.labels("storage_unavailable").inc()
        log.error("inbox.not_stored", error=str(exc))
        retry = (b"retry-after", _RETRY_AFTER_SECONDS)
        await _answer(send, 503, _error("storage_unavailable"), retry)


def _token(headers: dict[str, str], creds: Credentials) -> str | None:
    return next((headers[name] for name in creds.header_names if name in headers), None)


def inbox_routes(
    *,
    config: InboxConfig,
    writer: IngestWriter,
    credentials: CredentialCache,
    metrics: Metrics,
) -> list[BaseRoute]:
    """The inbox route, bound to its collaborators."""
    endpoint = InboxEndpoint(config=config, writer=writer, credentials=credentials, metrics=metrics)
    return [Route(PATH, endpoint, methods=["POST"])]


def count_stored(metrics: Metrics, dispositions: list[tuple[Disposition, bool]]) -> None:
    """Metrics for one committed batch: (disposition, parsed) per delivery, one `inc` per
    counter and batch."""
    duplicates = sum(1 for disposition, _ in dispositions if disposition is Disposition.DUPLICATE)
    superseded = sum(1 for disposition, _ in dispositions if disposition is Disposition.SUPERSEDED)
    events = sum(1 for d, parsed in dispositions if parsed and d is not Disposition.DUPLICATE)
    passthrough = len(dispositions) - duplicates - events
    if duplicates:
        metrics.duplicates.inc(duplicates)
    if superseded:
        metrics.superseded.inc(superseded)
    if events:
        metrics.received.labels("event").inc(events)
    if passthrough:
        metrics.received.labels("passthrough").inc(passthrough)
