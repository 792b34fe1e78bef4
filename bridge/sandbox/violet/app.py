"""HTTP face of the Violet stand-in: the capability URL plus `/_sandbox/` inspection routes.

POST   /hooks/{token}          a webhook; wrong token -> 404 that reveals nothing
GET    /_sandbox/state         Violet's view (same shape as ION's `/_sandbox/truth`)
GET    /_sandbox/requests      the request log, `?since=<index>`
GET    /_sandbox/field-times   when each field of the view last changed
GET    /_sandbox/faults        the fault switches
POST   /_sandbox/faults        set switches: status, count, retry_after, delay_ms, drop
DELETE /_sandbox/faults        clear them
POST   /_sandbox/reset         forget the view and the log
"""

from __future__ import annotations

import asyncio
import hmac

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bridge.sandbox.violet.drop import drop_connection
from bridge.sandbox.violet.faults import FaultSpecError
from bridge.sandbox.violet.world import VioletWorld


class ConnectionDropFailed(RuntimeError):
    """The stand-in could not close the connection; the server answers 500 instead."""


def create_app(world: VioletWorld) -> Starlette:
    """The Violet stand-in as an ASGI app around `world`."""

    async def hook(request: Request) -> Response:
        at = world.clock()
        body = await request.body()
        if not hmac.compare_digest(request.path_params["token"], world.token):
            world.log_rejected(at=at, headers=request.headers, body=body)
            return PlainTextResponse("Not Found", status_code=404)
        decision = world.decide()
        if decision.delay_seconds:
            await asyncio.sleep(decision.delay_seconds)
        world.receive(at=at, headers=request.headers, body=body, decision=decision)
        if decision.drop:
            if await drop_connection(request.receive):
                return Response(status_code=200)  # discarded: the client is gone
            raise ConnectionDropFailed("could not drop the connection")
        if decision.status is not None:
            headers = {}
            if decision.retry_after is not None:
                headers["Retry-After"] = f"{decision.retry_after:g}"
            return PlainTextResponse("fault", status_code=decision.status, headers=headers)
        return JSONResponse({"ok": True})

    async def state(request: Request) -> Response:
        return JSONResponse(world.state())

    async def requests(request: Request) -> Response:
        try:
            since = int(request.query_params.get("since", "0"))
        except ValueError:
            return JSONResponse({"error": "since must be an integer"}, status_code=400)
        return JSONResponse(world.requests(since))

    async def field_times(request: Request) -> Response:
        return JSONResponse(world.field_times())

    async def faults(request: Request) -> Response:
        if request.method == "DELETE":
            return JSONResponse(world.clear_faults())
        if request.method == "POST":
            try:
                spec = await request.json()
                if not isinstance(spec, dict):
                    raise FaultSpecError("expected a JSON object")
                return JSONResponse(world.set_faults(spec))
            except (ValueError, FaultSpecError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(world.describe_faults())

    async def reset(request: Request) -> Response:
        world.reset()
        return JSONResponse({"ok": True})

    return Starlette(
        routes=[
            Route("/hooks/{token}", hook, methods=["POST"]),
            Route("/_sandbox/state", state, methods=["GET"]),
            Route("/_sandbox/requests", requests, methods=["GET"]),
            Route("/_sandbox/field-times", field_times, methods=["GET"]),
            Route("/_sandbox/faults", faults, methods=["GET", "POST", "DELETE"]),
            Route("/_sandbox/reset", reset, methods=["POST"]),
        ]
    )
