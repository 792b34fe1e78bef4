"""The demo's direct wiring (ION straight into Violet, with and without ION's limitations), the
`bridge sandbox` command, and the demo's verdict when a wiring does not settle."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from click.testing import CliRunner
from rich.console import Console

from bridge.errors import UsageError
from bridge.sandbox.cli import _serve, demo, environment, run_demo
from bridge.sandbox.demo import Settle, Settled, StandIns, direct, run_wiring
from bridge.sandbox.ion import IonWorld, Limitations
from bridge.sandbox.violet import VioletWorld

ALL_OFF = Limitations(
    no_line_create_event=False,
    empty_to_populated_dropped=False,
    links_as_ids=False,
    late_fields=False,
)


def test_direct_wiring_shows_the_gaps() -> None:
    """Wired straight to Violet, PO lines and ship-to addresses are wrong in Violet's view."""
    result = run_wiring("direct", direct, seed=7, operations=120)
    lines = result.convergence.resources["PURCHASE_ORDER_LINES"]
    assert lines.percent < 90
    orders = result.convergence.resources["PURCHASE_ORDERS"]
    assert orders.wrong > 0
    wrong_fields = {d.field for d in orders.differences}
    assert "shipToLocation.address" in wrong_fields or "shipToLocation.name" in wrong_fields
    assert not result.convergence.converged
    assert result.settled is None
    assert result.ok  # direct promises nothing, so it cannot fail the verdict


@contextmanager
def _claims_to_settle(stands: StandIns) -> Iterator[Settle]:
    """The direct wiring, pretending to be one that settles: it never gets Violet right."""
    with direct(stands) as _:
        yield lambda: Settled(converged_after=None, bound=1.0)


def test_a_wiring_that_does_not_settle_fails_the_verdict() -> None:
    """A wiring that promised to settle but left fields wrong makes the verdict say so."""
    console = Console(width=100, record=True)
    result = run_demo(operations=20, console=console, wirings={"broken": _claims_to_settle})
    assert not result.ok
    text = console.export_text()
    assert "Verdict: broken, Violet was not right on every tracked field within 1 s" in text
    assert "[1/1] broken" in text


def test_without_limitations_direct_wiring_converges() -> None:
    """With ION's four limitations off, Violet's view matches ION's truth on every field."""
    # A short pause lets each change's webhooks land before the next change to the same object:
    # ION does not promise order, and Violet applies events in arrival order.
    result = run_wiring("direct", direct, seed=7, operations=100, limitations=ALL_OFF, pause=0.02)
    assert result.convergence.total.total > 250
    assert result.convergence.converged, result.convergence.resources


def test_sandbox_refuses_a_port_in_use() -> None:
    """A port already taken is a usage error naming the port, not a traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with (
            pytest.raises(UsageError, match=str(port)),
            _serve(IonWorld(), port, VioletWorld(), port + 1),
        ):
            pass


def test_sandbox_environment_points_at_the_stand_ins() -> None:
    """The printed environment names both stand-ins and the bridge's loopback public URL."""
    env = environment("http://127.0.0.1:8710", "http://127.0.0.1:8720/hooks/demo-token")
    assert env["BRIDGE_ION_TOKEN_URL"].endswith("/realms/api-keys/protocol/openid-connect/token")
    assert env["BRIDGE_VIOLET_WEBHOOK_URL"] == "http://127.0.0.1:8720/hooks/demo-token"
    assert env["BRIDGE_PUBLIC_URL"] == "http://127.0.0.1:8080"
    assert env["BRIDGE_ALLOW_INSECURE_PUBLIC_URL"] == "true"


def test_demo_command_refuses_zero_operations() -> None:
    """`bridge demo --operations 0` is a usage error before anything starts."""
    outcome = CliRunner().invoke(demo, ["--operations", "0"])
    assert isinstance(outcome.exception, UsageError)
