"""What the bench found: per section, the rows shown, the targets judged, the raw figures kept.

Everything here is plain data that becomes `var/bench/latest.json`; the table and the chart are
drawn from it, so a past JSON file can be re-rendered without re-measuring.
"""

from __future__ import annotations

import json
import os
import platform
import sqlite3
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

Status = Literal["ok", "skipped", "failed"]
SECTIONS = ("ingest", "forward", "latency", "reconcile", "convergence")


@dataclass(frozen=True, kw_only=True)
class Row:
    """One line of the printed table."""

    label: str
    value: float | int | str | None
    unit: str = ""
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class Target:
    """A target of issue 7, judged on a measured value; `met` is None when it could not be."""

    name: str
    goal: str
    value: float | None
    met: bool | None
    note: str = ""


@dataclass(kw_only=True)
class SectionResult:
    name: str
    status: Status = "ok"
    reason: str = ""
    seconds: float = 0.0
    rows: list[Row] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    #: Raw figures, section-specific (documented in each section's module).
    data: dict[str, Any] = field(default_factory=dict)

    def row(
        self, label: str, value: float | int | str | None, unit: str = "", note: str = ""
    ) -> None:
        self.rows.append(Row(label=label, value=value, unit=unit, note=note))

    def target(
        self, name: str, goal: str, value: float | None, met: bool | None, note: str = ""
    ) -> None:
        self.targets.append(Target(name=name, goal=goal, value=value, met=met, note=note))


def skipped(name: str, reason: str) -> SectionResult:
    return SectionResult(name=name, status="skipped", reason=reason)


def machine() -> dict[str, Any]:
    """The machine the figures were measured on."""
    model = ""
    memory_kib = 0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model or platform.processor(),
        "ram_gib": round(memory_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "system": f"{platform.system()} {platform.release()}",
    }


#: Where Linux counts every CPU's time, the hypervisor's share ("steal") included.
PROC_STAT = Path("/proc/stat")


def cpu_counters(stat: str | None = None) -> tuple[int, int] | None:
    """(steal, total) clock ticks of all CPUs since boot, from `/proc/stat` (or `stat`, its
    text); None where there is no such file.

    Steal is time a virtual CPU was ready to run but the host ran something else. On a shared
    VM it is the machine being slower for a while, which no figure of ours could otherwise
    tell apart from the code being slower."""
    try:
        text = stat if stat is not None else PROC_STAT.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0] == "cpu":
            ticks = [int(value) for value in fields[1:]]
            # user nice system idle iowait irq softirq steal [guest guest_nice]: guest time
            # is already counted in user and nice, so it is left out of the total.
            steal = ticks[7] if len(ticks) > 7 else 0
            return steal, sum(ticks[:8])
    return None


def steal_percent(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    """The share of all CPU time between two `cpu_counters` readings the host took, in %."""
    if before is None or after is None or after[1] <= before[1]:
        return None
    return round(100 * (after[0] - before[0]) / (after[1] - before[1]), 1)


@dataclass(kw_only=True)
class Report:
    started_at: str
    quick: bool
    machine: dict[str, Any]
    sections: dict[str, SectionResult] = field(default_factory=dict)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Report:
        sections = {
            name: SectionResult(
                **{
                    **section,
                    "rows": [Row(**row) for row in section["rows"]],
                    "targets": [Target(**target) for target in section["targets"]],
                }
            )
            for name, section in data["sections"].items()
        }
        return cls(**{**data, "sections": sections})

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.to_json(), indent=2, default=str) + "\n")
        temporary.replace(path)  # a reader never sees half a file
