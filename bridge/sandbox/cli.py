"""`bridge demo` and `bridge sandbox`: the stand-ins from the command line.

The lead's `bridge/cli.py` registers these two commands; an expected failure is raised as a
`BridgeError` and turned into a one-line message and exit code there.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import click
from rich.console import Console

from bridge.errors import UsageError
from bridge.sandbox.demo import CLIENT_ID, CLIENT_SECRET, run_demo
from bridge.sandbox.ion import IonWorld
from bridge.sandbox.ion import create_app as create_ion_app
from bridge.sandbox.scenario import TOKEN_PATH
from bridge.sandbox.serving import ServerThread
from bridge.sandbox.violet import VioletWorld
from bridge.sandbox.violet import create_app as create_violet_app

HOST = "127.0.0.1"
BRIDGE_PUBLIC_URL = "http://127.0.0.1:8080"


@click.command()
@click.option("--seed", default=7, show_default=True, help="Seed of the scripted day.")
@click.option("--operations", default=300, show_default=True, help="User actions in the day.")
def demo(seed: int, operations: int) -> None:
    """Play a scripted day of ION activity and compare Violet's view with ION's truth."""
    if operations < 1:
        raise UsageError("--operations must be at least 1")
    run_demo(seed=seed, operations=operations, console=Console())


@click.command()
@click.option("--ion-port", default=8710, show_default=True, help="Port of the ION stand-in.")
@click.option("--violet-port", default=8720, show_default=True, help="Port of the Violet stand-in.")
def sandbox(ion_port: int, violet_port: int) -> None:
    """Run the ION and Violet stand-ins until Ctrl-C and print the settings to use them."""
    ion, violet = IonWorld(clients={CLIENT_ID: CLIENT_SECRET}), VioletWorld()
    with _serve(ion, ion_port, violet, violet_port) as (ion_url, violet_url):
        for key, value in environment(ion_url, violet_url + violet.hook_path()).items():
            click.echo(f"export {key}={value}")
        click.echo("# stand-ins running; Ctrl-C stops them", err=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            click.echo("# stopping", err=True)


def environment(ion_url: str, violet_hook_url: str) -> dict[str, str]:
    """The variables that point a bridge at the stand-ins."""
    return {
        "BRIDGE_ION_API_URL": ion_url,
        "BRIDGE_ION_TOKEN_URL": f"{ion_url}{TOKEN_PATH}",
        "BRIDGE_ION_CLIENT_ID": CLIENT_ID,
        "BRIDGE_ION_CLIENT_SECRET": CLIENT_SECRET,
        "BRIDGE_VIOLET_WEBHOOK_URL": violet_hook_url,
        "BRIDGE_PUBLIC_URL": BRIDGE_PUBLIC_URL,
        "BRIDGE_ALLOW_INSECURE_PUBLIC_URL": "true",
    }


@contextmanager
def _serve(
    ion: IonWorld, ion_port: int, violet: VioletWorld, violet_port: int
) -> Iterator[tuple[str, str]]:
    if ion_port == violet_port:
        raise UsageError(f"--ion-port and --violet-port are both {ion_port}")
    for port in (ion_port, violet_port):
        _check_free(port)
    with ExitStack() as stack:
        urls = []
        for app, port in (
            (create_ion_app(ion), ion_port),
            (create_violet_app(violet), violet_port),
        ):
            server = ServerThread(app, host=HOST, port=port)
            try:
                server.start()
            except RuntimeError as exc:  # lost a race for the port since the check
                raise UsageError(f"port {port} on {HOST} is in use") from exc
            stack.callback(server.stop)
            urls.append(server.url)
        yield urls[0], urls[1]


def _check_free(port: int) -> None:
    if not 0 < port < 65536:
        raise UsageError(f"port {port} is not a valid TCP port")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError as exc:
            raise UsageError(f"port {port} on {HOST} is in use") from exc
