"""The bench's printed table (rich): every section's rows, then every target met or missed."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.table import Table
from rich.text import Text

from bridge.bench.results import Report, SectionResult

#: Steal (% of all CPU time) from which a section's figures are said to be qualified by it.
STEAL_WORTH_SAYING = 2.0


def _value(value: float | int | str | None) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.2f}" if abs(value) >= 1 else f"{value:.3f}"
    if isinstance(value, int):
        return f"{value:,}"
    return value


def figures_table(report: Report) -> Table:
    machine = report.machine
    table = Table(
        title="ion-violet-bridge bench" + (" (quick)" if report.quick else ""),
        caption=(
            f"{machine['cpus']} × {machine['cpu_model']}, {machine['ram_gib']} GiB, "
            f"Python {machine['python']}, SQLite {machine['sqlite']}"
        ),
    )
    table.add_column("section", style="bold")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("unit")
    table.add_column("note", style="dim")
    for name, section in report.sections.items():
        _section_rows(table, name, section)
        table.add_section()
    for line in qualifiers(report):
        table.caption = f"{table.caption}\n{line}"
    return table


def qualifiers(report: Report) -> list[str]:
    """What qualifies the figures: sections run on a busy machine, or one the host slowed."""
    lines = []
    busy = [
        f"{name} {section.data['load_average'][0]:.1f}"
        for name, section in report.sections.items()
        if section.data.get("load_average", [0])[0] > 1.5
    ]
    if busy:
        lines.append(f"machine busy (1-min load at start): {', '.join(busy)}")
    stolen = [
        f"{name} {section.data['steal_percent']:.1f} %"
        for name, section in report.sections.items()
        if (section.data.get("steal_percent") or 0) >= STEAL_WORTH_SAYING
    ]
    if stolen:
        lines.append(f"CPU time taken by the host (steal): {', '.join(stolen)}")
    return lines


def _section_rows(table: Table, name: str, section: SectionResult) -> None:
    if section.status != "ok":
        style = "yellow" if section.status == "skipped" else "red"
        table.add_row(name, Text(section.status, style=style), "", "", section.reason)
        if not section.rows:
            return
    for index, row in enumerate(section.rows):
        table.add_row(name if index == 0 else "", row.label, _value(row.value), row.unit, row.note)


def targets_table(report: Report) -> Table:
    table = Table(title="targets (issue 7)")
    table.add_column("target")
    table.add_column("goal")
    table.add_column("measured", justify="right")
    table.add_column("", justify="center")
    table.add_column("note", style="dim")
    for section in report.sections.values():
        for target in section.targets:
            if target.met is None:
                mark = Text("n/a", "yellow")
            else:
                mark = Text("met", "green") if target.met else Text("MISSED", "bold red")
            table.add_row(target.name, target.goal, _value(target.value), mark, target.note)
    return table


def print_report(report: Report, console: Console | None = None) -> None:
    # A pipe or CI log gets a wide table rather than rich's 80-column default.
    console = console or Console(width=None if sys.stdout.isatty() else 132)
    console.print(figures_table(report))
    convergence = report.sections.get("convergence")
    if convergence is not None and convergence.data.get("table"):
        console.print("[bold]convergence: the demo's day, direct vs through the bridge[/]")
        console.print(convergence.data["table"], highlight=False)
    console.print(targets_table(report))


def markdown(report: Report) -> str:
    """The figures and targets as Markdown tables (for the README's performance section)."""
    machine = report.machine
    lines = [
        f"Measured {report.started_at} on {machine['cpus']} × {machine['cpu_model']}, "
        f"{machine['ram_gib']} GiB RAM, Python {machine['python']}, SQLite {machine['sqlite']}, "
        f"PostgreSQL {machine.get('postgresql') or 'n/a'}"
        + (" (quick run)" if report.quick else "")
        + ".",
        *(f"{line}." for line in qualifiers(report)),
        "",
        "| section | measure | value | unit | note |",
        "|---|---|---:|---|---|",
    ]
    for name, section in report.sections.items():
        if section.status != "ok":
            lines.append(f"| {name} | {section.status} | | | {section.reason} |")
        for row in section.rows:
            lines.append(
                f"| {name} | {row.label} | {_value(row.value)} | {row.unit} | {row.note} |"
            )
    lines += ["", "| target | goal | measured | | note |", "|---|---|---:|---|---|"]
    for section in report.sections.values():
        for target in section.targets:
            mark = {True: "met", False: "**missed**", None: "n/a"}[target.met]
            lines.append(
                f"| {target.name} | {target.goal} | {_value(target.value)} | {mark} | "
                f"{target.note} |"
            )
    return "\n".join(lines) + "\n"
