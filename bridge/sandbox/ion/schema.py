"""The stand-in's GraphQL schema: ION's SDL subset, loaded once, with resolvers attached.

The SDL lives in the repository's `graphql/` folder; a wheel carries the same folder as
`bridge/_data/graphql/` (see pyproject's force-include).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from graphql import (
    GraphQLError,
    GraphQLScalarType,
    GraphQLSchema,
    StringValueNode,
    ValueNode,
    build_schema,
)

from bridge.sandbox.ion import mutations, resolvers
from bridge.sandbox.ion.shapes import iso

SDL_NAME = "ion-standin.graphql"


def graphql_dir(package: Path | None = None) -> Path:
    """The folder of GraphQL files: the wheel's data folder, else the checkout's `graphql/`.

    `package` is the `bridge` package folder (found from this file unless given).
    """
    package = package or Path(__file__).resolve().parents[2]
    installed = package / "_data" / "graphql"
    if installed.is_dir():
        return installed
    for folder in package.parents:
        if (folder / "pyproject.toml").is_file() and (folder / "graphql").is_dir():
            return folder / "graphql"
    raise FileNotFoundError(f"no graphql/ folder above {package} nor at {installed}")


def parse_datetime(value: Any) -> datetime:
    """ION's DateTime input: ISO-8601, `Z` allowed, a bare date means midnight UTC."""
    if not isinstance(value, str):
        raise GraphQLError(f"DateTime must be an ISO-8601 string, not {value!r}")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise GraphQLError(f"invalid DateTime {value!r}") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _serialize_datetime(value: Any) -> str:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return iso(datetime(value.year, value.month, value.day, tzinfo=UTC))
    return str(value)


def _parse_datetime_literal(node: ValueNode, variables: dict[str, Any] | None = None) -> datetime:
    if not isinstance(node, StringValueNode):
        raise GraphQLError("DateTime must be an ISO-8601 string")
    return parse_datetime(node.value)


@cache
def ion_schema() -> GraphQLSchema:
    """Built once per process; resolvers reach the world through the execution context."""
    schema = build_schema((graphql_dir() / SDL_NAME).read_text(encoding="utf-8"))
    datetime_type = schema.get_type("DateTime")
    if not isinstance(datetime_type, GraphQLScalarType):
        raise TypeError("the SDL must declare scalar DateTime")
    datetime_type.serialize = _serialize_datetime  # type: ignore[method-assign]
    datetime_type.parse_value = parse_datetime  # type: ignore[method-assign]
    datetime_type.parse_literal = _parse_datetime_literal  # type: ignore[method-assign]
    resolvers.wire(schema)
    mutations.wire(schema)
    return schema
