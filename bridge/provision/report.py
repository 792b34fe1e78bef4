"""`bridge status` on a terminal: one rich table (or a few lines) per status section.

`RENDERERS` maps a section name to its renderer; a section without one prints as key/value
lines, so a capability that adds a section to the status dict is shown without touching this.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

Renderer = Callable[[Console, Any], None]

_STATE_STYLE = {"ok": "green", "missing": "red", "inactive": "yellow", "duplicate": "yellow"}


def render_status(status: dict[str, Any], console: Console) -> None:
    for name, section in status.items():
        RENDERERS.get(name, _generic(name))(console, section)
        console.print()


def _ion(console: Console, section: dict[str, Any]) -> None:
    console.print("[bold]ION webhooks[/bold]")
    if "error" in section:
        console.print(f"  [red]not available:[/red] {escape(section['error'])}")
        return
    receiver = section["receiver"]
    if receiver is None:
        console.print(f"  [red]no receiver[/red] delivers to {escape(section['webhook_uri'])}")
    else:
        url = (
            "matches"
            if receiver["url_matches"]
            else f"[red]differs[/red] ({escape(receiver['webhook_uri'])})"
        )
        console.print(
            f"  receiver {receiver['id']} {escape(repr(receiver['name']))}: "
            f"active={receiver['active']}, URL {url}, secret {receiver['secret']}"
        )
    table = Table("resource", "action", "state", "subscription", box=None, pad_edge=False)
    for row in section["subscriptions"]:
        style = _STATE_STYLE.get(row["state"], "magenta")
        table.add_row(
            row["resource"],
            row["action"],
            f"[{style}]{row['state']}[/{style}]",
            str(row["id"] or ""),
        )
    console.print(table)
    for name in section["unknown_resources"]:
        console.print(f"  [red]unknown resource[/red] {name} (not in ION's ResourceEnum)")
    for note in section["notes"]:
        console.print(f"  ! {note}", markup=False)
    if section["in_sync"]:
        console.print("  [green]in sync[/green]: `bridge setup` has nothing to do")
    else:
        console.print("  [yellow]drift[/yellow]: `bridge setup --prune` would")
        for line in section["setup_would"]:
            console.print(f"    - {line}", markup=False)


def _deliveries(console: Console, section: dict[str, Any]) -> None:
    console.print("[bold]Deliveries to Violet[/bold]")
    table = Table("status", "count", box=None, pad_edge=False)
    for status, count in section["counts"].items():
        table.add_row(status, str(count))
    console.print(table)
    age = section["oldest_open_age_seconds"]
    console.print(f"  oldest open delivery: {'none' if age is None else f'{age:.0f} s old'}")


def _reconcile(console: Console, section: dict[str, Any]) -> None:
    console.print("[bold]Reconciliation runs[/bold]")
    runs = section["last_runs"]
    if not runs:
        console.print("  none yet")
        return
    table = Table("id", "trigger", "status", "started", "ms", "counts", box=None, pad_edge=False)
    for run in runs:
        counts = ", ".join(f"{k}={v}" for k, v in run["counts"].items())
        duration = "" if run["duration_ms"] is None else f"{run['duration_ms']:.0f}"
        table.add_row(
            str(run["id"]), run["trigger"], run["status"], run["started_at"], duration, counts
        )
    console.print(table)


def _generic(name: str) -> Renderer:
    def render(console: Console, section: Any) -> None:
        console.print(f"[bold]{name}[/bold]")
        items = section.items() if isinstance(section, dict) else [("value", section)]
        for key, value in items:
            console.print(f"  {key}: {value}", markup=False)

    return render


RENDERERS: dict[str, Renderer] = {"ion": _ion, "deliveries": _deliveries, "reconcile": _reconcile}
