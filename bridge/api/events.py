"""`/api/events*`: the delivery log and resend, mirroring `bridge events`.

    GET  /api/events                 ?status&resource&entity_id&since&until&limit&cursor
    GET  /api/events/{ref}           one delivery (id or webhook-id) with every attempt
    POST /api/events/{ref}/resend    queue it again (201; 200 if a resend is already queued)
    POST /api/events/resend          {"ids": [...]} and/or {"status": "FAILED", "since": ISO}
    POST /api/events/resume          lift the pause a 410 put on sending

Paging is by cursor: `next_cursor` is the last id of the page; pass it back as `cursor`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bridge.clock import parse_iso
from bridge.delivery import destination, log, replay
from bridge.delivery.log import MAX_ID
from bridge.delivery.outbox import RESEND_LIMIT
from bridge.errors import StorageError, UsageError
from bridge.store.db import session_scope
from bridge.store.models import DeliveryStatus


class BadRequest(Exception):
    """A query parameter or body the API cannot use; answered with 400 and the message."""


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _time(value: object, name: str) -> datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be an ISO-8601 timestamp")
    try:
        return parse_iso(value)
    except ValueError:
        raise BadRequest(f"{name} must be an ISO-8601 timestamp") from None


def _int(value: str | None, name: str, default: int) -> int:
    if value is None or value == "":
        return default
    # isdigit() alone accepts '¹' and '٣', which int() then refuses.
    if not (value.isascii() and value.isdigit()) or int(value) > MAX_ID:
        raise BadRequest(f"{name} must be an integer from 0 to {MAX_ID}")
    return int(value)


def event_routes(
    engine: Engine, *, clock: Callable[[], datetime], wake: Callable[[], None]
) -> list[BaseRoute]:
    """The routes, bound to `engine`; `wake` nudges the worker after a resend."""

    def run(fn: Callable[..., Any], *args: Any) -> Any:
        with session_scope(engine) as session:
            return fn(session, *args)

    async def guarded(call: Callable[[], Any]) -> Response:
        try:
            result: Response = await call()
        except BadRequest as exc:
            return _error(400, str(exc))
        except UsageError as exc:
            return _error(400, str(exc))
        except StorageError:
            return _error(503, "database unavailable")
        return result

    async def list_events(request: Request) -> Response:
        async def call() -> Response:
            params = request.query_params
            status = params.get("status")
            if status and status.upper() not in DeliveryStatus.ALL:
                raise BadRequest(f"status must be one of {', '.join(DeliveryStatus.ALL)}")
            query = log.EventQuery(
                status=status,
                resource=params.get("resource"),
                entity_id=params.get("entity_id"),
                since=_time(params.get("since"), "since"),
                until=_time(params.get("until"), "until"),
                limit=_int(params.get("limit"), "limit", 50),
                before_id=_int(params.get("cursor"), "cursor", 0) or None,
            )
            rows = await run_in_threadpool(run, log.list_deliveries, query)
            events = [log.delivery_json(row) for row in rows]
            full = len(rows) == max(1, min(query.limit, log.MAX_PAGE))
            cursor = rows[-1].id if rows and full else None
            return JSONResponse({"events": events, "next_cursor": cursor})

        return await guarded(call)

    def _show(session: Any, ref: str) -> dict[str, Any] | None:
        found = log.find_delivery(session, ref)
        if found is None or found.id is None:
            return None
        attempts = log.attempts_of(session, found.id)
        return {
            "event": log.delivery_json(found, body=True),
            "attempts": [log.attempt_json(a) for a in attempts],
        }

    async def show_event(request: Request) -> Response:
        async def call() -> Response:
            shown = await run_in_threadpool(run, _show, request.path_params["ref"])
            return JSONResponse(shown) if shown else _error(404, "no such delivery")

        return await guarded(call)

    def _resend(session: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        report = replay.resend(session, now=clock(), **kwargs)
        return {
            "queued": [log.delivery_json(d) for d in report.queued],
            "already_queued": [log.delivery_json(d) for d in report.already_queued],
            "missing": report.missing,
            "resumed": report.resumed,
        }

    async def resend_one(request: Request) -> Response:
        async def call() -> Response:
            ref = request.path_params["ref"]
            result = await run_in_threadpool(run, _resend, {"refs": [ref]})
            if result["missing"]:
                return _error(404, "no such delivery")
            wake()
            created = bool(result["queued"])
            event = (result["queued"] or result["already_queued"])[0]
            return JSONResponse(
                {"event": event, "created": created, "resumed": result["resumed"]},
                status_code=201 if created else 200,
            )

        return await guarded(call)

    async def resend_many(request: Request) -> Response:
        async def call() -> Response:
            try:
                spec = await request.json()
            except ValueError:
                raise BadRequest("expected a JSON object") from None
            if not isinstance(spec, dict) or set(spec) - {"ids", "status", "since", "limit"}:
                raise BadRequest("expected a JSON object with ids, status, since, limit")
            ids = spec.get("ids") or []
            if not isinstance(ids, list) or not all(isinstance(i, int | str) for i in ids):
                raise BadRequest("ids must be a list of delivery ids or webhook-ids")
            status = spec.get("status")
            if status is not None and not isinstance(status, str):
                raise BadRequest("status must be a string")
            limit = spec.get("limit", RESEND_LIMIT)
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
                raise BadRequest("limit must be a positive integer")
            kwargs = {
                "refs": [str(i) for i in ids],
                "status": status,
                "since": _time(spec.get("since"), "since"),
                "limit": min(limit, RESEND_LIMIT),
            }
            result = await run_in_threadpool(run, _resend, kwargs)
            wake()
            return JSONResponse(result)

        return await guarded(call)

    async def resume(request: Request) -> Response:
        async def call() -> Response:
            now = clock()
            resumed = await run_in_threadpool(
                run, lambda session: destination.resume(session, now=now)
            )
            wake()
            return JSONResponse({"resumed": resumed})

        return await guarded(call)

    return [
        Route("/events", list_events, methods=["GET"]),
        Route("/events/resend", resend_many, methods=["POST"]),
        Route("/events/resume", resume, methods=["POST"]),
        Route("/events/{ref}", show_event, methods=["GET"]),
        Route("/events/{ref}/resend", resend_one, methods=["POST"]),
    ]
