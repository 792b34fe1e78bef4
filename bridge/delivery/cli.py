"""`bridge events`: the delivery log and resend, from the command line.

    bridge events list [--status S] [--resource R] [--entity-id ID] [--limit N] [--json]
    bridge events show ID [--json]                       ID: numeric id or webhook-id
    bridge events resend ID... | --status FAILED [--since ISO8601] [--json]
    bridge events resume                                 lift the pause after a 410 Gone
    bridge events prune [--days N] [--dry-run] [--json]  delete what is past retention

Works on the database directly, so it needs no running `serve`; a running worker picks resends
up within `delivery_poll_seconds`. Tables on a terminal, JSON with --json.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bridge.clock import parse_iso, utcnow
from bridge.delivery import destination, log, replay, retention
from bridge.errors import StorageError, UsageError
from bridge.settings import MIN_RETENTION_DAYS, load_settings
from bridge.store.db import make_engine, schema_is_current, session_scope
from bridge.store.models import DeliveryStatus

T = TypeVar("T")
_STYLE = {"SUCCEEDED": "green", "FAILED": "red", "PENDING": "yellow", "SENDING": "cyan"}


@contextmanager
def _engine(database_url: str | None = None) -> Iterator[Engine]:
    """The configured database's engine, once its schema is known to be there."""
    engine = make_engine(database_url or load_settings().database_url)
    try:
        if not schema_is_current(engine):
            raise StorageError("the database has no schema yet; run `bridge db upgrade`")
        yield engine
    finally:
        engine.dispose()


@contextmanager
def _session() -> Iterator[Session]:
    with _engine() as engine, session_scope(engine) as session:
        yield session


def _in_session(fn: Callable[[Session], T]) -> T:
    with _session() as session:
        return fn(session)


def _console() -> Console:
    # Piped output has no terminal width to respect; 80 columns would truncate every row.
    return Console() if sys.stdout.isatty() else Console(width=200)


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def _status(value: str | None) -> str:
    text = value or ""
    return f"[{_STYLE[text]}]{text}[/]" if text in _STYLE else text


def _table(rows: list[dict[str, Any]]) -> Table:
    table = Table(box=None, header_style="bold")
    for name in ("id", "status", "origin", "resource", "entity", "event", "tries", "received"):
        table.add_column(name, no_wrap=True, overflow="ellipsis")
    table.add_column("last", overflow="fold")
    for row in rows:
        last = row["last_error"] or (
            str(row["last_status_code"]) if row["last_status_code"] else ""
        )
        table.add_row(
            str(row["id"]),
            _status(row["status"]),
            row["origin"],
            row["resource"] or "",
            row["entity_id"] or "",
            str(row["event_id"] or ""),
            str(row["attempts"]),
            (row["received_at"] or "")[:19].replace("T", " "),
            last,
        )
    return table


@click.group()
def events() -> None:
    """The delivery log: list, show and resend deliveries to Violet."""


@events.command("list")
@click.option("--status", type=click.Choice(DeliveryStatus.ALL, case_sensitive=False))
@click.option("--resource", help="e.g. PURCHASE_ORDERS")
@click.option("--entity-id", help="the ION object's id")
@click.option("--since", help="received at or after (ISO-8601)")
@click.option("--limit", type=click.IntRange(1, log.MAX_PAGE), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table")
def list_events(
    status: str | None,
    resource: str | None,
    entity_id: str | None,
    since: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """The most recent deliveries, newest first."""
    query = log.EventQuery(
        status=status,
        resource=resource,
        entity_id=entity_id,
        since=_parse_since(since),
        limit=limit,
    )
    rows = _in_session(lambda s: [log.delivery_json(d) for d in log.list_deliveries(s, query)])
    if as_json:
        _echo_json(rows)
    elif not rows:
        click.echo("no deliveries")
    else:
        _console().print(_table(rows))


@events.command("show")
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of text")
def show_event(ref: str, as_json: bool) -> None:
    """One delivery (id or webhook-id) with every attempt."""

    def load(session: Session) -> dict[str, Any] | None:
        found = log.find_delivery(session, ref)
        if found is None or found.id is None:
            return None
        return {
            "event": log.delivery_json(found, body=True),
            "attempts": [log.attempt_json(a) for a in log.attempts_of(session, found.id)],
        }

    shown = _in_session(load)
    if shown is None:
        raise UsageError(f"no delivery {ref}")
    if as_json:
        _echo_json(shown)
        return
    console = _console()
    event = shown["event"]
    for key, value in event.items():
        if key != "body":
            console.print(f"[bold]{key:>16}[/] {value if value is not None else ''}")
    console.print(Text.assemble((f"{'body':>16} ", "bold"), event["body"][:2000]))
    attempts = Table(title="attempts", box=None, header_style="bold")
    for name in ("started", "ms", "status", "outcome", "error", "response"):
        attempts.add_column(name, overflow="fold")
    for a in shown["attempts"]:
        attempts.add_row(
            a["started_at"],
            f"{a['duration_ms']:.1f}",
            str(a["status_code"] or ""),
            a["outcome"],
            a["error"] or "",
            (a["response"] or "")[:200],
        )
    console.print(attempts)


@events.command("resend")
@click.argument("refs", nargs=-1)
@click.option("--status", type=click.Choice(["FAILED", "SUCCEEDED"], case_sensitive=False))
@click.option("--since", help="with --status: received at or after (ISO-8601)")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of text")
def resend_events(
    refs: tuple[str, ...], status: str | None, since: str | None, as_json: bool
) -> None:
    """Queue deliveries again: by id, or every one in --status (since --since)."""
    if bool(refs) == bool(status):
        raise click.UsageError("give delivery ids or --status, not both and not neither")
    if since and not status:
        raise click.UsageError("--since goes with --status")
    moment = _parse_since(since)

    def run(session: Session) -> dict[str, Any]:
        report = replay.resend(session, now=utcnow(), refs=refs, status=status, since=moment)
        return {
            "queued": [log.delivery_json(d) for d in report.queued],
            "already_queued": [log.delivery_json(d) for d in report.already_queued],
            "missing": report.missing,
            "resumed": report.resumed,
        }

    result = _in_session(run)
    if as_json:
        _echo_json(result)
    else:
        for row in result["queued"]:
            click.echo(f"queued {row['id']} ({row['webhook_id']}) resending {row['resend_of']}")
        for row in result["already_queued"]:
            click.echo(f"already queued {row['id']} resending {row['resend_of']}")
        for ref in result["missing"]:
            click.echo(f"no delivery {ref}", err=True)
        if result["resumed"]:
            click.echo("sending to Violet resumed (it was paused after a 410)")
        if not result["queued"] and not result["already_queued"] and not result["missing"]:
            click.echo("nothing to resend")
    if result["missing"]:
        raise SystemExit(1)


@events.command("resume")
def resume_sending() -> None:
    """Lift the pause that a 410 Gone from Violet put on all sending."""
    resumed = _in_session(lambda s: destination.resume(s, now=utcnow()))
    click.echo("sending resumed" if resumed else "sending was not paused")


@events.command("prune")
@click.option(
    "--days",
    type=click.FloatRange(min=MIN_RETENTION_DAYS),
    help="keep this many days instead of BRIDGE_RETENTION_DAYS",
)
@click.option("--dry-run", is_flag=True, help="count what would be deleted, delete nothing")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of text")
def prune_events(days: float | None, dry_run: bool, as_json: bool) -> None:
    """Delete settled deliveries (SUCCEEDED, SUPERSEDED) with their attempts, and finished
    reconciliation runs, older than the retention. Open deliveries and dead letters stay.
    `serve` does this by itself every hour."""
    settings = load_settings()
    keep = settings.retention_days if days is None else days
    if not keep:
        click.echo("retention is off (BRIDGE_RETENTION_DAYS=0): nothing is deleted")
        return
    with _engine(settings.database_url) as engine:
        act = retention.count if dry_run else retention.prune
        pruned = act(engine, now=utcnow(), days=keep)
    if as_json:
        _echo_json({**asdict(pruned), "cutoff": pruned.cutoff.isoformat(), "dry_run": dry_run})
        return
    verb = "would delete" if dry_run else "deleted"
    click.echo(
        f"{verb} {pruned.deliveries} deliveries, {pruned.attempts} attempts and "
        f"{pruned.runs} reconciliation runs older than {pruned.cutoff:%Y-%m-%d %H:%M} UTC "
        f"({keep:g} days)"
    )


def _parse_since(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parse_iso(value)
    except ValueError:
        raise click.BadParameter("expected an ISO-8601 timestamp", param_hint="--since") from None
