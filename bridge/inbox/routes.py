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

from dataclasses import dataclass, replace

import structlog
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

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
_JSON = "application/json"
#: How long ION should wait before retrying after a 503 (a hint; ION has its own schedule).
_RETRY_AFTER_SECONDS = "5"


class TooLarge(Exception):
    """The body is over the limit."""


@dataclass(frozen=True, kw_only=True)
class InboxConfig:
    max_body_bytes: int
    require: Require


def _refuse(status: int, reason: str, **headers: str) -> Response:
    return JSONResponse({"error": reason}, status_code=status, headers=headers or None)


async def read_capped(request: Request, limit: int) -> bytes:
    """The whole body, or TooLarge as soon as it is known to exceed `limit` bytes."""
    declared = request.headers.get("content-length")
    if (
        declared is not None
        and declared.strip().isascii()
        and declared.strip().isdigit()
        and int(declared) > limit
    ):
        raise TooLarge
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise TooLarge
    return bytes(body)


def inbox_routes(
    *,
    config: InboxConfig,
    writer: IngestWriter,
    credentials: CredentialCache,
    metrics: Metrics,
) -> list[BaseRoute]:
    """The inbox route, bound to its collaborators."""

    def rejected(status: int, reason: str, request: Request) -> Response:
        metrics.rejected.labels(reason).inc()
        client = request.client.host if request.client else None
        log.warning("inbox.rejected", reason=reason, status=status, client=client)
        return _refuse(status, reason)

    def unavailable(exc: StorageError) -> Response:
        metrics.rejected.labels("storage_unavailable").inc()
        log.error("inbox.not_stored", error=str(exc))
        return _refuse(503, "storage_unavailable", **{"Retry-After": _RETRY_AFTER_SECONDS})

    def token_in(request: Request, creds: Credentials) -> str | None:
        return next((request.headers[n] for n in creds.header_names if n in request.headers), None)

    async def receive(request: Request) -> Response:
        try:
            body = await read_capped(request, config.max_body_bytes)
        except TooLarge:
            return rejected(413, "too_large", request)
        except ClientDisconnect:
            return Response(status_code=400)
        try:
            creds = await credentials.get()
        except StorageError as exc:
            return unavailable(exc)
        received = Received(
            body=body,
            content_type=request.headers.get("content-type", "application/json"),
            signature=request.headers.get(SIGNATURE_HEADER),
            token=token_in(request, creds),
            credentials=creds,
            require=config.require,
        )
        try:
            try:
                stored = await writer.submit(received)
            except Refused as refusal:
                # A 401 against credentials read a while ago: `bridge setup` may have just
                # rotated them from another process. Reloaded at most once a second.
                fresher = await credentials.reload_if_stale() if refusal.status == 401 else None
                if fresher is None:
                    raise
                again = replace(received, credentials=fresher, token=token_in(request, fresher))
                stored = await writer.submit(again)
        except Refused as refusal:
            return rejected(refusal.status, refusal.reason, request)
        except StorageError as exc:
            return unavailable(exc)
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
        # The same JSON as JSONResponse would render, without its encoder: a fixed word and an int.
        answer = f'{{"status":"{stored.disposition.value}","delivery_id":{stored.delivery_id}}}'
        return Response(answer, status_code=EXPECTED_RESPONSE_CODE, media_type=_JSON)

    return [Route(PATH, receive, methods=["POST"])]


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
