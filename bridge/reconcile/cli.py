"""`bridge reconcile`: one reconciliation run now, its counts printed as a table, then exit.

Exit codes: 0 the run completed; 1 it failed (or another run holds the lock); 2 bad usage;
3 ION refused the credentials.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from bridge.clock import parse_iso
from bridge.errors import UsageError
from bridge.reconcile.runner import RunOptions, RunResult


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_iso(value)
    except ValueError:
        raise UsageError(f"--since {value!r} is not an ISO-8601 timestamp") from None


@click.command()
@click.option("--resource", "resource", default=None, help="Only this resource (e.g. PARTS).")
@click.option("--since", default=None, help="Walk changes since this ISO-8601 time.")
@click.option("--full", is_flag=True, help="Walk everything; report objects that disappeared.")
@click.option("--dry-run", is_flag=True, help="Decide the repairs, send and store nothing.")
@click.option(
    "--backfill", is_flag=True, help="On a first run, send everything instead of a baseline."
)
def reconcile(
    resource: str | None, since: str | None, full: bool, dry_run: bool, backfill: bool
) -> None:
    """Run one reconciliation now: repair what Violet has wrong, then exit."""
    from bridge.bootstrap import migrate
    from bridge.logs import configure_logging
    from bridge.reconcile.catalog import resolve
    from bridge.reconcile.service import ReconcileService
    from bridge.settings import load_settings
    from bridge.store.db import make_engine

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    resources = tuple(resolve([resource], setting="--resource")) if resource else ()
    options = RunOptions(
        trigger="cli",
        resources=resources,
        since=_since(since),
        full=full,
        dry_run=dry_run,
        backfill=backfill,
    )
    for name in ("ion_api_url", "ion_token_url", "ion_client_id", "ion_client_secret"):
        settings.require(name)
    engine = make_engine(settings.database_url)
    try:
        migrate(engine)

        async def once() -> RunResult:
            async with ReconcileService(settings, engine) as service:
                return await service.run(options)

        result = asyncio.run(once())
    finally:
        engine.dispose()
    render(Console(), result)
    if result.status == "SKIPPED":
        click.echo("bridge: another reconciliation run is in progress", err=True)
        sys.exit(1)
    if result.status != "COMPLETED":
        click.echo(f"bridge: error: reconciliation failed: {result.error}", err=True)
        sys.exit(result.exit_code or 1)


def render(console: Console, result: RunResult) -> None:
    """The run's per-resource counts as a table, then the kinds of repair and the rest."""
    counts: dict[str, Any] = result.counts
    title = f"Reconciliation run {result.run_id or '-'}: {result.status}"
    if counts.get("dry_run"):
        title += " (dry run: nothing sent or stored)"
    table = Table(title=title)
    for column in ("resource", "fetched", "changed", "repaired"):
        table.add_column(column, justify="left" if column == "resource" else "right")
    for name, row in counts.get("resources", {}).items():
        table.add_row(name, str(row["fetched"]), str(row["changed"]), str(row["repaired"]))
    console.print(table)
    kinds = counts.get("kinds") or {}
    if kinds:
        console.print("repairs by kind: " + ", ".join(f"{k} {v}" for k, v in kinds.items()))
    missed = counts.get("missed")
    if missed and missed.get("note"):
        console.print(f"missed deliveries: not checked ({missed['note']})")
    elif missed:
        console.print(
            f"missed deliveries: {missed.get('recovered', 0)} recovered "
            f"of {missed.get('checked', 0)} ION events checked"
        )
    for name, gone in (counts.get("disappeared") or {}).items():
        console.print(f"disappeared from ION: {name} {gone}")
    console.print(
        f"{counts.get('requests', 0)} GraphQL requests, {result.duration_ms / 1000:.1f} s"
    )
