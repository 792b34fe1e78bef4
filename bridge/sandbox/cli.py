"""`bridge demo` and `bridge sandbox`: the stand-ins from the command line.

`run_demo` is the demo as a newcomer reads it: what the four gaps are, what the columns mean, a
line per phase, the table, the bridge's gap-closure times and repairs, and a one-line verdict.

The lead's `bridge/cli.py` registers these two commands; an expected failure is raised as a
`BridgeError` and turned into a one-line message and exit code there.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.padding import Padding
from rich.text import Text

from bridge.errors import BridgeError, UsageError
from bridge.logs import configure_logging
from bridge.sandbox.demo import (
    CLIENT_ID,
    CLIENT_SECRET,
    LATE_FILLS,
    PACE_SECONDS,
    DemoResult,
    Wire,
    WiringResult,
    direct,
    run_wiring,
)
from bridge.sandbox.ion import IonWorld
from bridge.sandbox.ion import create_app as create_ion_app
from bridge.sandbox.report import render_table
from bridge.sandbox.scenario import TOKEN_PATH
from bridge.sandbox.serving import ServerThread
from bridge.sandbox.through_bridge import ThroughBridge
from bridge.sandbox.violet import VioletWorld
from bridge.sandbox.violet import create_app as create_violet_app

HOST = "127.0.0.1"
BRIDGE_PUBLIC_URL = "http://127.0.0.1:8080"
#: Where `make run` leaves the status page's picture, relative to where it runs.
SCREENSHOT = Path("var") / "status.png"


@click.command()
@click.option("--seed", default=7, show_default=True, help="Seed of the scripted day.")
@click.option("--operations", default=300, show_default=True, help="User actions in the day.")
@click.option(
    "--screenshot/--no-screenshot",
    default=True,
    show_default=True,
    help=f"Save the bridge's status page as {SCREENSHOT} (needs Chromium).",
)
def demo(seed: int, operations: int, screenshot: bool) -> None:
    """Play a scripted day of ION activity, wired direct and through the bridge, and compare
    Violet's view with ION's truth. Needs no settings: everything runs on loopback."""
    if operations < 1:
        raise UsageError("--operations must be at least 1")
    # The demo's story is on stdout. The bridge's log lines would bury it, and its warnings
    # here are artefacts of demo-sized timings (a 1 s job skipping a firing while the day's
    # burst keeps the process busy, an event still in flight counted as missed): errors only.
    configure_logging("error", "console")
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    result = run_demo(
        seed=seed,
        operations=operations,
        console=Console(),
        screenshot=SCREENSHOT if screenshot else None,
    )
    if not result.ok:
        raise BridgeError("Violet did not converge through the bridge (see the verdict above)")


GAPS = """\
ION's webhooks have four known gaps; on its own, Violet repairs them only at its next \
scheduled fetch, hours later:
  1. a new purchase-order line sends no webhook at all;
  2. a field going from empty to filled is left out of the event's `changes`;
  3. linked objects (a PO's supplier and ship-to location) arrive as bare ids;
  4. some fields of a new object are filled in by ION just after it is created."""
PLAN = """\
The same scripted day ({operations} user actions in ION, seed {seed}) is played once per \
wiring, against fresh local stand-ins of ION and Violet with the four gaps on; then Violet's \
view is compared with ION's truth on every tracked field. The columns:"""


def run_demo(
    *,
    seed: int = 7,
    operations: int = 300,
    console: Console,
    wirings: Mapping[str, Wire] | None = None,
    screenshot: Path | None = None,
) -> DemoResult:
    """Play the day once per wiring (default: direct, then through the bridge, which writes the
    status page's `screenshot` if given) and print the table, the bridge's figures, a verdict."""

    def say(line: str) -> None:
        console.print(line, markup=False, highlight=False)

    if wirings is None:
        wirings = {
            "direct": direct,
            "through the bridge": ThroughBridge(echo=say, screenshot=screenshot),
        }
    for paragraph in (GAPS, PLAN.format(operations=operations, seed=seed)):
        console.print(Text(paragraph))  # wrapped at the console's width
    for name, wire in wirings.items():
        # A wiring may carry a `description`; a plain function says it in its docstring.
        text = str(getattr(wire, "description", None) or wire.__doc__ or "").strip()
        say(f"  {name}")
        console.print(Padding(Text(text.splitlines()[0] if text else ""), (0, 0, 0, 6)))
    started = time.monotonic()
    results: dict[str, WiringResult] = {}
    for number, (name, wire) in enumerate(wirings.items(), start=1):
        console.print(Text(f"\n[{number}/{len(wirings)}] {name}", style="bold"))
        results[name] = run_wiring(
            name,
            wire,
            seed=seed,
            operations=operations,
            pause=PACE_SECONDS,
            late_fills=LATE_FILLS,
            progress=say,
        )
    result = DemoResult(wirings=results, seconds=time.monotonic() - started)
    console.print()
    console.print(render_table(result.columns))
    for wiring in results.values():
        for item in wiring.settled.report if wiring.settled else ():
            console.print()
            console.print(item)
    console.print()
    # One line however narrow the console: the verdict is what scripts and readers look for.
    verdict = Text(result.verdict(), style="bold green" if result.ok else "bold red")
    console.print(verdict, soft_wrap=True)
    return result


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
