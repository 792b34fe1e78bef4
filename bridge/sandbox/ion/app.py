"""The ION stand-in as a Starlette app: token endpoint, `POST /graphql`, `/_sandbox/` routes.

GraphQL answers like ION: HTTP 200 with a top-level `errors` array for anything wrong with the
query (syntax, validation, unknown id, stale etag), 401 without a live token, 502 when a fault
says so; never a 500 or a traceback.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from graphql import (
    ExecutionResult,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    execute,
    get_operation_ast,
    parse,
    validate,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bridge.sandbox.ion import auth, sandbox_routes
from bridge.sandbox.ion.schema import ion_schema
from bridge.sandbox.ion.service import IonService
from bridge.sandbox.ion.webhooks import WebhookEngine
from bridge.sandbox.ion.world import IonWorld, NotFound, Rejected, StaleEtag

log = logging.getLogger(__name__)


def _errors(*messages: str) -> dict[str, Any]:
    return {"errors": [{"message": message} for message in messages]}


def _count(service: IonService, operation: OperationDefinitionNode) -> None:
    stats = service.world.stats
    counter = stats.mutations if operation.operation == OperationType.MUTATION else stats.queries
    for selection in operation.selection_set.selections:
        name = getattr(selection, "name", None)
        if name is not None:
            counter[name.value] += 1


def run_graphql(service: IonService, payload: Any) -> dict[str, Any]:
    """Execute one GraphQL request body; always a JSON-ready result, never an exception."""
    if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
        return _errors("Must provide query string.")
    variables = payload.get("variables") or {}
    operation_name = payload.get("operationName")
    if not isinstance(variables, dict) or not isinstance(operation_name, str | None):
        return _errors("variables must be an object and operationName a string")
    try:
        document = parse(payload["query"])
    except GraphQLError as error:
        return {"errors": [error.formatted]}
    schema = ion_schema()
    problems = validate(schema, document)
    if problems:
        return {"errors": [problem.formatted for problem in problems]}
    operation = get_operation_ast(document, operation_name)
    if operation is not None:
        _count(service, operation)
    try:
        result = execute(
            schema,
            document,
            context_value=service,
            variable_values=variables,
            operation_name=operation_name,
        )
    except Exception:  # graphql-core catches resolver errors; this is the last line of defence
        log.exception("GraphQL execution crashed")
        return _errors("Internal error")
    if not isinstance(result, ExecutionResult):  # only async resolvers would return awaitables
        return _errors("Internal error")
    for failure in result.errors or ():
        if not isinstance(failure.original_error, Rejected | None):
            log.error(
                "resolver failed: %r", failure.original_error, exc_info=failure.original_error
            )
    return dict(result.formatted)


async def graphql_endpoint(request: Request) -> Response:
    world: IonWorld = request.app.state.world
    service: IonService = request.app.state.service
    world.stats.graphql_requests += 1
    faults = world.faults
    if faults.slow_ms:
        await asyncio.sleep(faults.slow_ms / 1000)
    if faults.graphql_502 > 0:
        faults.graphql_502 -= 1
        return PlainTextResponse("502 Bad Gateway", status_code=502)
    if faults.unauthorized_once:
        faults.unauthorized_once = False
        return JSONResponse({"message": "Unauthorized"}, status_code=401)
    if not auth.is_live(world, request.headers.get("authorization")):
        return JSONResponse({"message": "Missing, invalid or expired token"}, status_code=401)
    try:
        payload = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        return JSONResponse(_errors("Body must be a JSON object"), status_code=400)
    return JSONResponse(run_graphql(service, payload))


async def _rejected(request: Request, exc: Exception) -> Response:
    status = 404 if isinstance(exc, NotFound) else 409 if isinstance(exc, StaleEtag) else 400
    return JSONResponse({"error": str(exc).splitlines()[0]}, status_code=status)


def create_app(world: IonWorld) -> Starlette:
    """The stand-in serving `world`; webhooks are delivered from the app's event loop."""
    webhooks = WebhookEngine(world)
    service = IonService(world, webhooks)
    ion_schema()  # load the SDL now so a broken file fails at startup, not on a request

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await webhooks.start()
        try:
            yield
        finally:
            service.stop()
            await webhooks.stop()

    routes = [
        *(Route(path, auth.token_endpoint, methods=["POST"]) for path in auth.TOKEN_PATHS),
        Route("/graphql", graphql_endpoint, methods=["POST"]),
        *sandbox_routes.ROUTES,
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={Rejected: _rejected})
    app.state.world = world
    app.state.service = service
    return app
