"""ION's collection arguments as pure functions: `filters`, `sort`, `distinctOn` and paging.

A filter is the input object a query passes (`{status: {in: [ORDERED]}, or_: [...]}`): a key
whose value holds only operators compares a field, any other key filters a relation and nests.
Cursors are ION's (Relay's) offsets in disguise: base64 of `arrayconnection:N`.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from bridge.sandbox.ion.world import Invalid

OPERATORS = frozenset(
    {"eq", "neq", "like", "ilike", "notlike", "notilike", "in", "gt", "gte", "lt", "lte", "isnull"}
)
_WILDCARDS = {"%": ".*", "_": "."}  # SQL LIKE's
_TIMESTAMPS = {"_CREATED": "_created", "_UPDATED": "_updated", "_ETAG": "_etag"}


class Node(Protocol):
    """What a filter needs from an object: its fields and the objects it links to."""

    def value(self, name: str) -> Any: ...

    def related(self, name: str) -> Sequence[Node]: ...


N = TypeVar("N", bound=Node)


def matches(node: Node, filters: Mapping[str, Any] | None) -> bool:
    """True when `node` satisfies every key of `filters` (an empty filter matches all)."""
    for key, condition in (filters or {}).items():
        if condition is None:
            continue
        if key == "and_":
            if not all(matches(node, part) for part in condition):
                return False
        elif key == "or_":
            if condition and not any(matches(node, part) for part in condition):
                return False
        elif set(condition) <= OPERATORS:
            if not _compare(node.value(key), condition):
                return False
        elif not any(matches(other, condition) for other in node.related(key)):
            return False
    return True


def _compare(value: Any, operators: Mapping[str, Any]) -> bool:
    for op, operand in operators.items():
        if operand is None:
            continue
        if op == "isnull":
            if (value is None) != bool(operand):
                return False
        elif not _test(op, value, operand):
            return False
    return True


def _test(op: str, value: Any, operand: Any) -> bool:
    if op == "in":
        return any(_equal(value, item) for item in operand)
    if op == "eq":
        return _equal(value, operand)
    if op == "neq":
        return value is not None and not _equal(value, operand)
    if value is None:
        return False
    if op in {"like", "ilike", "notlike", "notilike"}:
        found = _like(str(operand), insensitive="ilike" in op).fullmatch(str(value)) is not None
        return found != op.startswith("not")
    operand = _coerce(value, operand)
    try:
        return bool(_ORDER[op](value, operand))
    except TypeError:
        return False


_ORDER: dict[str, Callable[[Any, Any], Any]] = {
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
}


def _equal(value: Any, operand: Any) -> bool:
    return value is not None and value == _coerce(value, operand)


def _coerce(value: Any, operand: Any) -> Any:
    """ID filters arrive as strings; compare them with integer columns as integers."""
    if isinstance(value, int) and not isinstance(value, bool) and isinstance(operand, str):
        try:
            return int(operand)
        except ValueError:
            return operand
    return operand


def _like(pattern: str, *, insensitive: bool) -> re.Pattern[str]:
    parts = (_WILDCARDS.get(c) or re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL if insensitive else re.DOTALL)


def sort_field(enum_name: str) -> tuple[str, bool]:
    """`SHIP_TO_LOCATION_ID_DESC` -> ("shipToLocationId", descending=True)."""
    stem, _, direction = enum_name.rpartition("_")
    if stem in _TIMESTAMPS:
        return _TIMESTAMPS[stem], direction == "DESC"
    head, *rest = stem.lstrip("_").lower().split("_")
    return head + "".join(word.capitalize() for word in rest), direction == "DESC"


def order(nodes: Sequence[N], sort: Sequence[str] | None) -> list[N]:
    """Sorted by the sort enums in priority order, then by id; nulls last ascending (Postgres)."""
    out = sorted(nodes, key=lambda node: node.value("id"))
    for enum_name in reversed(sort or ()):
        name, descending = sort_field(enum_name)
        out.sort(key=lambda node: _sort_key(node.value(name)), reverse=descending)
    return out


def _sort_key(value: Any) -> tuple[bool, Any]:
    return (value is None, "" if value is None else value)


def distinct(nodes: Sequence[N], distinct_on: Sequence[str] | None) -> list[N]:
    """The first node of each group sharing the `distinctOn` fields (Postgres DISTINCT ON)."""
    if not distinct_on:
        return list(nodes)
    names = [sort_field(enum_name)[0] for enum_name in distinct_on]
    seen: set[tuple[Any, ...]] = set()
    out = []
    for node in nodes:
        key = tuple(repr(node.value(name)) for name in names)
        if key not in seen:
            seen.add(key)
            out.append(node)
    return out


def keyset_key(sort: Sequence[str]) -> str | None:
    """The column a sort orders by when it is (column, id) ascending — `[_UPDATED_ASC, ID_ASC]`,
    `[_CREATED_ASC]`, `[ID_ASC]`, none — with a column that is never null; else None."""
    fields = [sort_field(name) for name in sort]
    if any(descending for _, descending in fields):
        return None
    names = [name for name, _ in fields]
    if names and names[-1] == "id" and len(names) > 1:
        names.pop()
    key = names[0] if names else "id"
    return key if len(names) <= 1 and key in {"id", *_TIMESTAMPS.values()} else None


Bound = tuple[Any, float]


def lower_bound(filters: Mapping[str, Any] | None, key: str) -> Bound | None:
    """A (key, id) at or before every row `filters` can match, in (key, id) order; None when the
    filter sets no such bound. The keyset walk's filters (`key >= since AND (key > at OR (key = at
    AND id > n))`) give the position the walk left off, so a page starts there, not at row one."""
    bounds: list[Bound] = []
    equal: Any = None
    lowest_id: float | None = None
    for name, condition in _conjuncts(filters):
        if name == "or_":
            options = [lower_bound(part, key) for part in condition]
            if options and all(b is not None for b in options):
                bounds.append(min(b for b in options if b is not None))
        elif isinstance(condition, Mapping) and set(condition) <= OPERATORS:
            if name == key != "id":
                found, equal = _bounds_on_key(condition)
                bounds += found
            if name == "id":
                lowest_id = _lowest_id(condition)
                if key == "id" and lowest_id is not None:
                    bounds.append((lowest_id, -math.inf))
    if equal is not None and lowest_id is not None:
        bounds.append((equal, lowest_id))
    return max(bounds) if bounds else None


def _conjuncts(filters: Mapping[str, Any] | None) -> Iterator[tuple[str, Any]]:
    """The (name, condition) pairs that must all hold, with `and_` lists flattened."""
    for name, condition in (filters or {}).items():
        if condition is None:
            continue
        if name == "and_":
            for part in condition:
                yield from _conjuncts(part)
        else:
            yield name, condition


def _bounds_on_key(condition: Mapping[str, Any]) -> tuple[list[Bound], Any]:
    found: list[Bound] = []
    for op, operand in condition.items():
        if operand is None:
            continue
        if op in {"gte", "eq"}:
            found.append((operand, -math.inf))
        elif op == "gt":
            found.append((operand, math.inf))
    return found, condition.get("eq")


def _lowest_id(condition: Mapping[str, Any]) -> float | None:
    """The smallest id `id` operators admit (ids are integers; ID operands arrive as strings)."""
    lows = []
    for op in ("eq", "gte", "gt"):
        if condition.get(op) is None:
            continue
        try:
            number = int(condition[op])
        except (TypeError, ValueError):
            continue
        lows.append(number + 1 if op == "gt" else number)
    return max(lows) if lows else None


def cursor(offset: int) -> str:
    return base64.b64encode(f"arrayconnection:{offset}".encode()).decode()


def offset_of(value: str) -> int:
    try:
        prefix, _, number = base64.b64decode(value, validate=True).decode().partition(":")
        if prefix == "arrayconnection":
            return int(number)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise Invalid(f"invalid cursor {value!r}")


@dataclass(frozen=True, kw_only=True)
class Page:
    start: int
    stop: int
    total: int

    def info(self) -> dict[str, Any]:
        empty = self.stop <= self.start
        return {
            "hasNextPage": self.stop < self.total,
            "hasPreviousPage": self.start > 0,
            "startCursor": None if empty else cursor(self.start),
            "endCursor": None if empty else cursor(self.stop - 1),
            "count": max(self.stop - self.start, 0),
            "totalCount": self.total,
        }


def page(
    total: int,
    *,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Page:
    """The slice of `total` ordered rows that Relay's first/after/last/before select."""
    if (first is not None and first < 0) or (last is not None and last < 0):
        raise Invalid("first and last must not be negative")
    start = 0 if after is None else min(offset_of(after) + 1, total)
    stop = total if before is None else max(min(offset_of(before), total), start)
    if first is not None:
        stop = min(stop, start + first)
    if last is not None:
        start = max(start, stop - last)
    return Page(start=start, stop=stop, total=total)
