"""The `/_sandbox/` routes: what ION does not have but demos and tests need.

Truth (the tracked fields computed from ION's data), counters, fault switches, the limitation
switches, the delivery log, and parts (read-only over GraphQL, so written here). A body that is
not the JSON object expected gets a 400 with a one-line message.
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bridge.sandbox.ion import auth, shapes
from bridge.sandbox.ion.service import IonService
from bridge.sandbox.ion.tables import EVENTS, PARTS, RESOURCES
from bridge.sandbox.ion.world import Faults, Invalid, IonWorld, Limitations
from bridge.sandbox.tracked import tracked_values

#: Part columns the sandbox may set, with the JSON types they take (None where nullable).
_PART_FIELDS: dict[str, tuple[type, ...]] = {
    "partNumber": (str,),
    "revision": (str,),
    "description": (str, type(None)),
    "supplierPartNumber": (str, type(None)),
    "cost": (int, float, type(None)),
    "leadTime": (int, type(None)),
}


def _world(request: Request) -> IonWorld:
    world: IonWorld = request.app.state.world
    return world


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise Invalid(f"body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise Invalid("body must be a JSON object")
    return body


async def truth(request: Request) -> Response:
    world = _world(request)
    return JSONResponse(
        {
            resource: {
                str(row["id"]): tracked_values(resource, shapes.graphql_shape(world, resource, row))
                for row in world.rows(resource)
            }
            for resource in RESOURCES
        }
    )


async def stats(request: Request) -> Response:
    return JSONResponse(_world(request).stats.as_json())


async def reset_stats(request: Request) -> Response:
    world = _world(request)
    world.stats = type(world.stats)()
    return JSONResponse(world.stats.as_json())


async def faults(request: Request) -> Response:
    world = _world(request)
    if request.method == "DELETE":
        world.faults = Faults()
    elif request.method == "POST":
        body = await _json_object(request)
        checks = {
            "graphql_502": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
            "slow_ms": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
            "unauthorized_once": lambda v: isinstance(v, bool),
            "revoke_tokens": lambda v: isinstance(v, bool),
        }
        for key, value in body.items():
            if key not in checks or not checks[key](value):
                raise Invalid(f"bad fault {key}={value!r}; expected {', '.join(checks)}")
        if body.pop("revoke_tokens", False):
            auth.revoke_all(world)
        for key, value in body.items():
            setattr(world.faults, key, value)
    return JSONResponse(asdict(world.faults))


async def limitations(request: Request) -> Response:
    world = _world(request)
    if request.method == "POST":
        body = await _json_object(request)
        names = {f.name for f in fields(Limitations)}
        for key, value in body.items():
            if key not in names or not isinstance(value, bool):
                raise Invalid(f"bad limitation {key}={value!r}; expected booleans for {names}")
        for key, value in body.items():
            setattr(world.limitations, key, value)
    return JSONResponse(asdict(world.limitations))


async def webhooks(request: Request) -> Response:
    rows = []
    for row in _world(request).rows(EVENTS):
        item = {column: shapes.jsonable(value) for column, value in row.items()}
        item["body"] = json.loads(row["requestData"])
        rows.append(item)
    return JSONResponse(rows)


def _part_values(body: dict[str, Any]) -> dict[str, Any]:
    for key, value in body.items():
        if key not in _PART_FIELDS:
            raise Invalid(f"unknown part field {key!r}; expected {', '.join(_PART_FIELDS)}")
        if not isinstance(value, _PART_FIELDS[key]) or isinstance(value, bool):
            raise Invalid(f"bad value for part field {key}: {value!r}")
    return body


async def create_part(request: Request) -> Response:
    body = _part_values(await _json_object(request))
    if not body.get("partNumber"):
        raise Invalid("partNumber is required")
    service: IonService = request.app.state.service
    row = service.create(PARTS, body)
    return JSONResponse(shapes.graphql_shape(service.world, PARTS, row), status_code=201)


async def update_part(request: Request) -> Response:
    body = await _json_object(request)
    etag = body.pop("etag", None)
    if etag is not None and not isinstance(etag, str):
        raise Invalid("etag must be a string")
    try:
        part_id = int(request.path_params["id"])
    except ValueError:
        raise Invalid(f"invalid part id {request.path_params['id']!r}") from None
    service: IonService = request.app.state.service
    row = service.update(PARTS, part_id, _part_values(body), etag)
    return JSONResponse(shapes.graphql_shape(service.world, PARTS, row))


ROUTES = [
    Route("/_sandbox/truth", truth, methods=["GET"]),
    Route("/_sandbox/stats", stats, methods=["GET"]),
    Route("/_sandbox/stats/reset", reset_stats, methods=["POST"]),
    Route("/_sandbox/faults", faults, methods=["GET", "POST", "DELETE"]),
    Route("/_sandbox/limitations", limitations, methods=["GET", "POST"]),
    Route("/_sandbox/webhooks", webhooks, methods=["GET"]),
    Route("/_sandbox/parts", create_part, methods=["POST"]),
    Route("/_sandbox/parts/{id}", update_part, methods=["PATCH"]),
]
