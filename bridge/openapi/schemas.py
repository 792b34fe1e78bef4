"""The JSON shapes of the admin API's answers and request bodies (components/schemas)."""

from __future__ import annotations

from typing import Any

from bridge.openapi.shapes import STATUSES, nullable, ref, time

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string"}},
    },
    "Delivery": {
        "type": "object",
        "description": "One request the bridge owes Violet: a forwarded ION event, a repair "
        "made by reconciliation, or a resend.",
        "required": ["id", "webhook_id", "origin", "status", "attempts", "received_at"],
        "properties": {
            "id": {"type": "integer"},
            "webhook_id": {"type": "string", "description": "Sent as `webhook-id`."},
            "origin": {"type": "string", "enum": ["ion", "reconcile", "resend"]},
            "resend_of": nullable("string", description="The original's webhook-id."),
            "status": {"type": "string", "enum": STATUSES},
            "event_id": nullable("integer", description="ION's event id."),
            "resource": nullable("string", examples=["PURCHASE_ORDERS"]),
            "action": nullable("string", examples=["UPDATE"]),
            "entity_id": nullable("string"),
            "attempts": {"type": "integer", "minimum": 0},
            "received_at": {"type": "string", "format": "date-time"},
            "next_attempt_at": time("When the next try is due (open deliveries only)."),
            "completed_at": time("When it succeeded, failed for good or was superseded."),
            "last_status_code": nullable("integer"),
            "last_error": nullable("string"),
            "content_type": {"type": "string"},
            "size": {"type": "integer", "minimum": 0, "description": "Body size in bytes."},
        },
    },
    "DeliveryWithBody": {
        "allOf": [
            ref("Delivery"),
            {"type": "object", "required": ["body"], "properties": {"body": {"type": "string"}}},
        ]
    },
    "Attempt": {
        "type": "object",
        "required": ["id", "started_at", "duration_ms", "outcome"],
        "properties": {
            "id": {"type": "integer"},
            "started_at": {"type": "string", "format": "date-time"},
            "duration_ms": {"type": "number"},
            "status_code": nullable("integer"),
            "outcome": {"type": "string", "enum": ["succeeded", "retry", "failed", "paused"]},
            "error": nullable("string"),
            "response": nullable("string", description="Violet's answer, truncated."),
            "next_attempt_at": time("When the next try was scheduled, after a retryable one."),
        },
    },
    "EventPage": {
        "type": "object",
        "required": ["events", "next_cursor"],
        "properties": {
            "events": {"type": "array", "items": ref("Delivery")},
            "next_cursor": nullable(
                "integer", description="Pass as `cursor` for the next page; null on the last."
            ),
        },
    },
    "EventDetail": {
        "type": "object",
        "required": ["event", "attempts"],
        "properties": {
            "event": ref("DeliveryWithBody"),
            "attempts": {"type": "array", "items": ref("Attempt")},
        },
    },
    "ResendOne": {
        "type": "object",
        "required": ["event", "created", "resumed"],
        "properties": {
            "event": ref("Delivery"),
            "created": {
                "type": "boolean",
                "description": "False when a resend of it was already queued (idempotent).",
            },
            "resumed": {"type": "boolean", "description": "A 410 pause was lifted."},
        },
    },
    "ResendRequest": {
        "type": "object",
        "additionalProperties": False,
        "description": "Name deliveries by `ids`, or select them by `status` (and `since`).",
        "anyOf": [{"required": ["ids"]}, {"required": ["status"]}],
        "properties": {
            "ids": {
                "type": "array",
                "minItems": 1,
                "maxItems": 1000,
                "items": {"type": ["integer", "string"]},
                "description": "Delivery ids or webhook-ids.",
            },
            "status": {"type": "string", "enum": ["FAILED", "SUCCEEDED"]},
            "since": {"type": "string", "format": "date-time"},
            "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 1000},
        },
    },
    "ResendReport": {
        "type": "object",
        "required": ["queued", "already_queued", "missing", "resumed"],
        "properties": {
            "queued": {"type": "array", "items": ref("Delivery")},
            "already_queued": {"type": "array", "items": ref("Delivery")},
            "missing": {"type": "array", "items": {"type": "string"}},
            "resumed": {"type": "boolean"},
        },
    },
    "ReconcileRun": {
        "type": "object",
        "required": ["id", "trigger", "status", "started_at"],
        "properties": {
            "id": {"type": "integer"},
            "trigger": {"type": "string", "examples": ["schedule", "cli", "api", "webhook"]},
            "status": {"type": "string", "enum": ["RUNNING", "COMPLETED", "FAILED"]},
            "started_at": {"type": "string", "format": "date-time"},
            "finished_at": time("When it ended; null while running."),
            "duration_ms": nullable("number"),
            "counts": nullable(
                "object", description="What the run fetched, compared and repaired, by kind."
            ),
            "error": nullable("string"),
        },
    },
    "RunList": {
        "type": "object",
        "required": ["runs"],
        "properties": {
            "runs": {"type": "array", "items": ref("ReconcileRun")},
            "gap_closure": {
                "type": "object",
                "description": "Per kind of repair: count, median, p95 and max seconds from an "
                "ION change to Violet having it.",
            },
        },
    },
    "RunRequest": {
        "type": "object",
        "description": "All optional: one resource, a start time, a full walk, a dry run.",
        "properties": {
            "resource": {"type": "string", "examples": ["PURCHASE_ORDERS"]},
            "since": {"type": "string", "format": "date-time"},
            "full": {"type": "boolean"},
            "dry_run": {"type": "boolean"},
        },
    },
    "RunResult": {
        "type": "object",
        "required": ["id", "status"],
        "properties": {
            "id": nullable("integer"),
            "status": {"type": "string", "enum": ["COMPLETED", "FAILED", "SKIPPED"]},
            "duration_ms": {"type": "number"},
            "counts": {"type": "object"},
            "error": nullable("string"),
        },
    },
    "Accepted": {
        "type": "object",
        "required": ["accepted"],
        "properties": {"accepted": {"const": True}},
    },
    "Resumed": {
        "type": "object",
        "required": ["resumed"],
        "properties": {"resumed": {"type": "boolean"}},
    },
}
