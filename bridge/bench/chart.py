"""The bench's chart (`latest.png`): one panel per section, drawn from the report's data.

A panel whose section was skipped or failed says so instead of drawing, so the picture never
suggests a figure that was not measured.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: the bench runs headless (CI, ssh); set before pyplot loads

import matplotlib.pyplot as plt
from matplotlib.axes import Axes

from bridge.bench.results import Report

Panel = Callable[[Axes, dict[str, Any]], None]


def _ingest_rates(ax: Axes, data: dict[str, Any]) -> None:
    names = list(data["servers"])
    rates = [data["servers"][name]["saturation"]["rate"] for name in names]
    bars = ax.bar([name.replace("+", "\n+") for name in names], rates)
    ax.bar_label(bars, fmt="%.0f")
    ax.set_title("ingest at saturation (req/s)")
    ax.tick_params(axis="x", labelsize="small")


def _ingest_latency(ax: Axes, data: dict[str, Any]) -> None:
    names = [name for name in ("bare", "sqlite", "postgresql") if name in data["servers"]]
    halves = [data["servers"][name]["half"] for name in names]
    positions = range(len(names))
    ax.bar([p - 0.2 for p in positions], [h["p50_ms"] or 0 for h in halves], 0.4, label="p50")
    ax.bar([p + 0.2 for p in positions], [h["p99_ms"] or 0 for h in halves], 0.4, label="p99")
    ax.axhline(25, color="red", linestyle="--", linewidth=1, label="target p99")
    ax.set_xticks(list(positions), names)
    ax.set_title("ingest latency at half saturation (ms)")
    ax.legend(fontsize="small")


def _forward(ax: Axes, data: dict[str, Any]) -> None:
    backends = data.get("backends") or {"sqlite": data["bridge"]}
    labels = ["Violet stand-in\ncapacity", *(f"bridge ({name})" for name in backends)]
    values = [data["standin_capacity"]["rate"], *(b["rate"] for b in backends.values())]
    bars = ax.bar(labels, values, color=["#555", "#1f77b4", "#2ca02c"][: len(values)])
    ax.bar_label(bars, fmt="%.0f")
    ax.axhline(1000, color="red", linestyle="--", linewidth=1)
    ax.set_title("forward to the Violet stand-in (deliveries/s)")


def _latency(ax: Axes, data: dict[str, Any]) -> None:
    values = sorted(data["added_ms"])
    if values:
        ax.plot(values, [(i + 1) / len(values) for i in range(len(values))])
    ax.axvline(50, color="red", linestyle="--", linewidth=1)
    ax.set_xlabel("ms")
    ax.set_title(f"added latency ION POST → Violet at {data['rate']:.0f}/s (CDF)")


def _reconcile(ax: Axes, data: dict[str, Any]) -> None:
    sizes = list(data["catalogs"])
    incremental = [data["catalogs"][s]["incremental"]["requests"] for s in sizes]
    full = [data["catalogs"][s]["full"]["requests"] for s in sizes]
    positions = range(len(sizes))
    ax.bar([p - 0.2 for p in positions], incremental, 0.4, label="incremental (1 % changed)")
    ax.bar([p + 0.2 for p in positions], full, 0.4, label="full walk")
    ax.set_yscale("log")
    ax.set_xticks(list(positions), [f"{int(s):,} POs" for s in sizes])
    ax.set_title("reconciliation: GraphQL requests")
    ax.legend(fontsize="small")


def _convergence(ax: Axes, data: dict[str, Any]) -> None:
    kinds = list(data["gap_closure"])
    medians = [data["gap_closure"][k]["median_s"] or 0 for k in kinds]
    maxima = [data["gap_closure"][k]["max_s"] or 0 for k in kinds]
    positions = range(len(kinds))
    ax.barh([p - 0.2 for p in positions], medians, 0.4, label="median")
    ax.barh([p + 0.2 for p in positions], maxima, 0.4, label="max")
    ax.set_yticks(list(positions), kinds, fontsize="small")
    ax.set_xlabel("seconds")
    ax.set_title("gap closure (ION change → Violet right)")
    ax.legend(fontsize="small")


PANELS: dict[str, list[Panel]] = {
    "ingest": [_ingest_rates, _ingest_latency],
    "forward": [_forward],
    "latency": [_latency],
    "reconcile": [_reconcile],
    "convergence": [_convergence],
}


def draw(report: Report, path: Path) -> None:
    """Write the chart of `report` to `path` (PNG)."""
    figure, axes = plt.subplots(2, 3, figsize=(16, 9))
    for ax, (name, panel) in zip(axes.flat, _panels(), strict=True):
        section = report.sections.get(name)
        try:
            if section is None or section.status != "ok":
                raise LookupError(section.reason if section else "not run")
            panel(ax, section.data)
        except (LookupError, TypeError, ValueError) as exc:
            ax.clear()
            ax.text(0.5, 0.5, f"{name}: {exc}"[:80], ha="center", va="center", wrap=True)
            ax.set_axis_off()
    machine = report.machine
    figure.suptitle(
        f"ion-violet-bridge bench, {report.started_at}: "
        f"{machine['cpus']} × {machine['cpu_model']}, Python {machine['python']}"
        + (" (quick)" if report.quick else "")
    )
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _panels() -> list[tuple[str, Panel]]:
    return [(name, panel) for name, panels in PANELS.items() for panel in panels]
