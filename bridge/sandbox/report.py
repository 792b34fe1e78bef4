"""The convergence report: how much of ION's truth Violet's view holds, per resource.

`compare` is pure (truth and view in, numbers out); `render_table` lays several wirings side by
side ("direct", "through the bridge"); the fetch helpers read the two stand-ins over HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from rich.table import Table
from rich.text import Text

from bridge.sandbox import tracked

#: resource -> entity id -> field -> normalized value; the shape of both truth and view.
Snapshot = Mapping[str, Mapping[str, Mapping[str, Any]]]

#: How many differences each resource keeps for showing; the counts are always complete.
SHOWN_DIFFERENCES = 5


@dataclass(frozen=True, kw_only=True)
class Difference:
    resource: str
    entity_id: str
    field: str
    truth: Any
    view: Any


@dataclass(frozen=True, kw_only=True)
class ResourceConvergence:
    resource: str
    total: int
    correct: int
    differences: tuple[Difference, ...] = ()

    @property
    def wrong(self) -> int:
        return self.total - self.correct

    @property
    def percent(self) -> float:
        """Share of fields correct; 100 when there is nothing to get right."""
        return 100.0 if self.total == 0 else 100.0 * self.correct / self.total


@dataclass(frozen=True, kw_only=True)
class Convergence:
    """Per resource (in the tracked table's order), plus the totals over all of them."""

    resources: dict[str, ResourceConvergence] = field(default_factory=dict)

    @property
    def total(self) -> ResourceConvergence:
        return ResourceConvergence(
            resource="total",
            total=sum(r.total for r in self.resources.values()),
            correct=sum(r.correct for r in self.resources.values()),
        )

    @property
    def converged(self) -> bool:
        return self.total.wrong == 0


def compare(truth: Snapshot, view: Snapshot) -> Convergence:
    """Compare Violet's view with ION's truth field by field (only objects ION has count)."""
    resources: dict[str, ResourceConvergence] = {}
    for resource in [*tracked.TRACKED, *(r for r in truth if r not in tracked.TRACKED)]:
        if resource not in truth:
            continue
        records = truth[resource]
        wrong = tracked.diff(records, view.get(resource, {}))
        shown = tuple(
            Difference(resource=resource, entity_id=eid, field=f, truth=t, view=v)
            for eid, f, t, v in sorted(wrong, key=_difference_order)[:SHOWN_DIFFERENCES]
        )
        total = sum(len(fields) for fields in records.values())
        resources[resource] = ResourceConvergence(
            resource=resource, total=total, correct=total - len(wrong), differences=shown
        )
    return Convergence(resources=resources)


def _difference_order(item: tuple[str, str, Any, Any]) -> tuple[int, str, str]:
    entity_id, field_name, _, _ = item
    return (int(entity_id) if entity_id.isdigit() else 0, entity_id, field_name)


def render_table(columns: Mapping[str, Convergence]) -> Table:
    """One row per resource, one column per wiring, a totals row, the first differences below.

    The result is a one-column grid holding the table and, under it, the differences, so long
    difference lines wrap at the console's width rather than at the narrow table's.
    """
    table = Table(title="Tracked fields Violet has right")
    table.add_column("resource", style="bold")
    for name in columns:
        table.add_column(name, justify="right")
    names = list(dict.fromkeys(r for conv in columns.values() for r in conv.resources))
    for resource in names:
        cells = [_cell(conv.resources.get(resource)) for conv in columns.values()]
        table.add_row(resource, *cells)
    table.add_section()
    table.add_row("total", *[_cell(conv.total) for conv in columns.values()], style="bold")
    grid = Table.grid()
    grid.add_column()
    grid.add_row(table)
    differences = _differences(columns)
    if differences.plain:
        grid.add_row(differences)
    return grid


def _cell(result: ResourceConvergence | None) -> Text:
    if result is None:
        return Text("–")
    style = "green" if result.wrong == 0 else ("yellow" if result.percent >= 90 else "red")
    return Text(f"{result.percent:5.1f} %  ({result.correct}/{result.total})", style=style)


def _differences(columns: Mapping[str, Convergence]) -> Text:
    lines: list[str] = []
    for name, conv in columns.items():
        wrong = [r for r in conv.resources.values() if r.wrong]
        if not wrong:
            continue
        lines.append(f"{name}: first differences (ION → Violet)")
        for result in wrong:
            for d in result.differences[:3]:
                lines.append(f"  {d.resource} #{d.entity_id} {d.field}: {d.truth!r} → {d.view!r}")
            if result.wrong > len(result.differences[:3]):
                lines.append(f"  {result.resource}: … {result.wrong} wrong fields in all")
    return Text("\n".join(lines))


def fetch_truth(ion_url: str, *, client: httpx.Client | None = None) -> dict[str, Any]:
    """ION stand-in's truth: `GET /_sandbox/truth`."""
    return _get_json(f"{ion_url.rstrip('/')}/_sandbox/truth", client)


def fetch_view(violet_url: str, *, client: httpx.Client | None = None) -> dict[str, Any]:
    """Violet stand-in's view: `GET /_sandbox/state`."""
    return _get_json(f"{violet_url.rstrip('/')}/_sandbox/state", client)


def _get_json(url: str, client: httpx.Client | None) -> dict[str, Any]:
    http = client or httpx.Client(timeout=10)
    try:
        answer = http.get(url)
        answer.raise_for_status()
        data: dict[str, Any] = answer.json()
        return data
    finally:
        if client is None:
            http.close()
