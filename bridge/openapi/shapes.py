"""Building blocks of the description: references, nullable types, bodies, error responses."""

from __future__ import annotations

from typing import Any

JSON = "application/json"
#: Ids are 64-bit integers in both databases.
MAX_ID = 2**63 - 1
STATUSES = ["PENDING", "SENDING", "SUCCEEDED", "FAILED", "SUPERSEDED"]


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(kind: str, **extra: Any) -> dict[str, Any]:
    return {"type": [kind, "null"], **extra}


def body(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


ERRORS = {
    400: "The query or body cannot be used; `error` says why.",
    401: "No or a wrong bearer token.",
    404: "No such object (or no admin token is configured at all).",
    503: "The database is unavailable; try again.",
}


def errors(*codes: int) -> dict[str, Any]:
    return {str(code): {"$ref": f"#/components/responses/E{code}"} for code in codes}


def time(description: str) -> dict[str, Any]:
    return nullable("string", format="date-time", description=description)


def param(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def op(summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"summary": summary, "responses": responses, **extra}
