"""The `bridge` command. Each capability registers its commands from its own folder; this module
only assembles them and turns expected errors into one line and an exit code.

Exit codes: 0 success; 1 failure while running; 2 bad usage or configuration; 3 ION refused the
credentials.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from bridge import __version__
from bridge.errors import BridgeError
from bridge.logs import configure_logging

#: Commands owned by the capability folders, imported only when invoked (fast start-up, and a
#: command's heavy imports never slow down another).
LAZY_COMMANDS: dict[str, str] = {
    "setup": "bridge.provision.cli:setup",
    "status": "bridge.provision.cli:status",
    "teardown": "bridge.provision.cli:teardown",
    "serve": "bridge.serve:serve",
    "events": "bridge.delivery.cli:events",
    "reconcile": "bridge.reconcile.cli:reconcile",
    "sandbox": "bridge.sandbox.cli:sandbox",
    "demo": "bridge.sandbox.cli:demo",
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use (click's documented pattern)."""

    def __init__(self, *args: Any, lazy: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy:
            module_name, attr = self.lazy[cmd_name].split(":")
            command = getattr(importlib.import_module(module_name), attr)
            if not isinstance(command, click.Command):
                raise TypeError(f"{self.lazy[cmd_name]} is not a click command")
            return command
        return super().get_command(ctx, cmd_name)


@click.group(
    cls=LazyGroup,
    lazy=LAZY_COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="bridge")
def cli() -> None:
    """Keeps Violet's copy of ION data right: provisioning, forwarding, reconciliation."""


@cli.group()
def db() -> None:
    """The bridge's database."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create the database schema or migrate it to the latest version."""
    from bridge.settings import load_settings
    from bridge.store.db import make_engine
    from bridge.store.migrate import current_revision, upgrade

    settings = load_settings()
    engine = make_engine(settings.database_url)
    upgrade(engine)
    click.echo(f"database schema at revision {current_revision(engine)}")


def main(argv: list[str] | None = None) -> Any:
    """Console entry point."""
    configure_logging()
    try:
        return cli.main(args=argv, prog_name="bridge", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("bridge: aborted", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2 if isinstance(exc, click.UsageError) else exc.exit_code)
    except BridgeError as exc:
        click.echo(f"bridge: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
