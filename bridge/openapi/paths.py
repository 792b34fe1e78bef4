"""The admin API's operations (paths), one entry per route the app serves under `/api`."""

from __future__ import annotations

from typing import Any

from bridge.openapi.shapes import JSON, MAX_ID, STATUSES, body, errors, op, param, ref

REF = {
    "name": "ref",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,64}$"},
    "description": "A delivery id or its webhook-id.",
}


def admin_paths() -> dict[str, Any]:
    return {
        "/api/events": {
            "get": op(
                "The delivery log, newest first",
                {"200": body(ref("EventPage"), "A page of deliveries.")} | errors(400, 401, 503),
                operationId="listEvents",
                parameters=[
                    param("status", {"type": "string", "enum": STATUSES}, "Only this status."),
                    param("resource", {"type": "string"}, "Only this ION resource."),
                    param("entity_id", {"type": "string"}, "Only this object id."),
                    param(
                        "since", {"type": "string", "format": "date-time"}, "Received at or after."
                    ),
                    param("until", {"type": "string", "format": "date-time"}, "Received before."),
                    param("limit", {"type": "integer", "minimum": 1, "maximum": 500}, "Page size."),
                    param(
                        "cursor",
                        {"type": "integer", "minimum": 1, "maximum": MAX_ID},
                        "`next_cursor` of the last page.",
                    ),
                ],
            )
        },
        "/api/events/{ref}": {
            "get": op(
                "One delivery with every attempt",
                {"200": body(ref("EventDetail"), "The delivery.")} | errors(401, 404, 503),
                operationId="showEvent",
                parameters=[REF],
            )
        },
        "/api/events/{ref}/resend": {
            "post": op(
                "Queue one delivery again (a new delivery with `x-bridge-resend-of`)",
                {
                    "201": body(ref("ResendOne"), "Queued."),
                    "200": body(ref("ResendOne"), "A resend of it was already queued."),
                }
                | errors(400, 401, 404, 503),
                operationId="resendEvent",
                parameters=[REF],
            )
        },
        "/api/events/resend": {
            "post": op(
                "Queue many deliveries again; bounded (≤ 1000) and idempotent while queued",
                {"200": body(ref("ResendReport"), "What was queued.")} | errors(400, 401, 503),
                operationId="resendEvents",
                requestBody={
                    "required": True,
                    "content": {JSON: {"schema": ref("ResendRequest")}},
                },
            )
        },
        "/api/events/resume": {
            "post": op(
                "Lift the pause a 410 from Violet put on sending",
                {"200": body(ref("Resumed"), "Whether a pause was lifted.")} | errors(401, 503),
                operationId="resumeSending",
            )
        },
        "/api/reconcile/runs": {
            "get": op(
                "The last reconciliation runs, newest first",
                {"200": body(ref("RunList"), "The runs.")} | errors(400, 401, 503),
                operationId="listRuns",
                parameters=[
                    param("limit", {"type": "integer", "minimum": 0, "maximum": 500}, "How many.")
                ],
            ),
            "post": op(
                "Start a reconciliation run now",
                {
                    "202": body(ref("Accepted"), "Started; see GET for its outcome."),
                    "200": body(ref("RunResult"), "With `wait=true`: the finished run."),
                    "409": body(ref("RunResult"), "With `wait=true`: another run holds the lock."),
                }
                | errors(400, 401, 503),
                operationId="startRun",
                parameters=[
                    param("wait", {"type": "boolean"}, "Answer when the run has finished.")
                ],
                requestBody={"required": False, "content": {JSON: {"schema": ref("RunRequest")}}},
            ),
        },
        "/api/openapi.json": {
            "get": op(
                "This description",
                {
                    "200": {
                        "description": "OpenAPI 3.1",
                        "content": {JSON: {"schema": {"type": "object"}}},
                    }
                }
                | errors(401),
                operationId="openapi",
            )
        },
    }
