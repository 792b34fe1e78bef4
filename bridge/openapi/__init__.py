"""The OpenAPI 3.1 description of the admin API, served at `GET /api/openapi.json`.

Written by hand from the JSON the handlers return (`bridge.delivery.log.delivery_json`,
`attempt_json`, `bridge.api.events`, the reconciliation runs): a generated description would
document whatever the code happens to do, this one is the promise. `tests/ops/test_openapi.py`
validates it against the OpenAPI 3.1 meta-schema and fuzzes the live API with it, checking that
every answer matches what is written here.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bridge import __version__
from bridge.openapi.paths import admin_paths
from bridge.openapi.schemas import SCHEMAS
from bridge.openapi.shapes import ERRORS, body, ref

__all__ = ["description", "openapi_routes"]


def description(
    extra_paths: dict[str, Any] | None = None, extra_schemas: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The whole document; other parts of the admin API add their paths and schemas."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ion-violet-bridge admin API",
            "version": __version__,
            "description": "The delivery log, resends and reconciliation runs. Every route needs "
            "`Authorization: Bearer $BRIDGE_ADMIN_TOKEN`; without that setting the whole "
            "`/api` answers 404.",
        },
        "security": [{"bearer": []}],
        "paths": admin_paths() | (extra_paths or {}),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": SCHEMAS | (extra_schemas or {}),
            "responses": {f"E{code}": body(ref("Error"), text) for code, text in ERRORS.items()},
        },
    }


def openapi_routes(document: dict[str, Any] | None = None) -> list[BaseRoute]:
    """`GET /openapi.json`, for mounting under `/api` (behind the bearer token)."""
    served = document or description()

    async def openapi(request: Request) -> Response:
        return JSONResponse(served)

    return [Route("/openapi.json", openapi, methods=["GET"])]
