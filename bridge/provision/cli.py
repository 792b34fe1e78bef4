"""`bridge setup`, `bridge status`, `bridge teardown`: parse, call one function, print.

Expected failures are bridge errors; `bridge.cli.main` turns them into one line and an exit code
(2 for configuration such as an http BRIDGE_PUBLIC_URL, 3 when ION refuses the API key).
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import click
from rich.console import Console
from sqlalchemy.engine import Engine

from bridge.clock import utcnow
from bridge.errors import BridgeError, UsageError
from bridge.ion.client import IonClient
from bridge.provision.credentials import CredentialStore, load_stored
from bridge.provision.observe import webhook_uri
from bridge.provision.report import render_status
from bridge.provision.run import run_setup
from bridge.provision.status import collect_ion_status, collect_local_status
from bridge.provision.teardown import apply_teardown, plan_teardown
from bridge.settings import Settings, load_settings
from bridge.store.db import make_engine
from bridge.store.migrate import upgrade


def _engine(settings: Settings, *, migrate: bool = True) -> Engine:
    engine = make_engine(settings.database_url)
    if migrate:
        upgrade(engine)
    return engine


@click.command()
@click.option(
    "--dry-run", is_flag=True, help="Print the plan; change nothing in ION or the database."
)
@click.option("--prune", is_flag=True, help="Also delete subscriptions the config no longer wants.")
@click.option(
    "--rotate-secret",
    is_flag=True,
    help="Replace the shared secret and header token (old ones accepted for the grace period).",
)
def setup(dry_run: bool, prune: bool, rotate_secret: bool) -> None:
    """Provision ION's webhook receiver and subscriptions; safe to run again."""
    settings = load_settings()
    webhook_uri(settings)  # an http or missing BRIDGE_PUBLIC_URL fails here, before any I/O
    engine = _engine(settings, migrate=not dry_run)
    try:
        asyncio.run(_setup(settings, engine, dry_run=dry_run, prune=prune, rotate=rotate_secret))
    finally:
        engine.dispose()


async def _setup(
    settings: Settings, engine: Engine, *, dry_run: bool, prune: bool, rotate: bool
) -> None:
    async with IonClient(settings) as ion:
        await run_setup(
            ion, settings, engine, dry_run=dry_run, prune=prune, rotate=rotate, echo=click.echo
        )


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def status(as_json: bool) -> None:
    """The receiver and subscriptions in ION versus the config, deliveries, reconciliation."""
    settings = load_settings()
    engine = _engine(settings)
    report: dict[str, Any] = {}
    failure: BridgeError | None = None
    try:
        try:
            report["ion"] = asyncio.run(_ion_status(settings, engine))
        except BridgeError as exc:
            # Still show what the database knows; the error decides the exit code below.
            report["ion"] = {"error": str(exc)}
            failure = exc
        report.update(collect_local_status(engine, utcnow()))
    finally:
        engine.dispose()
    if as_json:
        click.echo(json.dumps(report, indent=2, default=str))
    else:
        render_status(report, Console(highlight=False))
    if failure is not None:
        raise failure


async def _ion_status(settings: Settings, engine: Engine) -> dict[str, Any]:
    async with IonClient(settings) as ion:
        return await collect_ion_status(ion, settings, engine)


@click.command()
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def teardown(yes: bool) -> None:
    """Delete the bridge's subscriptions and receiver in ION; other receivers are left alone."""
    if not yes and not sys.stdin.isatty():
        raise UsageError("teardown deletes the bridge's receiver in ION: pass --yes to confirm")
    settings = load_settings()
    engine = _engine(settings)
    try:
        asyncio.run(_teardown(settings, engine, yes=yes))
    finally:
        engine.dispose()


async def _teardown(settings: Settings, engine: Engine, *, yes: bool) -> None:
    stored = load_stored(engine, settings)
    store = CredentialStore(engine, settings, utcnow)
    async with IonClient(settings) as ion:
        plan = await plan_teardown(ion, settings, stored)
        for line in plan.lines():
            click.echo(line)
        if not plan.is_empty and not yes:
            click.confirm("Delete these in ION?", abort=True)
        done = await apply_teardown(plan, ion, store)
    for line in done:
        click.echo(f"  ✓ {line}")
