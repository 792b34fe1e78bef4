"""`bridge demo` with the bridge in the loop: 100 % through the bridge, the gaps when direct, and
the command itself run as a user would, with no settings at all."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from bridge.sandbox.cli import run_demo
from bridge.sandbox.demo import CLIENT_SECRET, StandIns
from bridge.sandbox.ion import IonWorld
from bridge.sandbox.through_bridge import RECONCILE_INTERVAL_SECONDS, demo_settings
from bridge.sandbox.violet import VioletWorld
from bridge.ui.capture import browser_available

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_bridge_column_is_right_where_direct_is_not() -> None:
    """Through the bridge every resource is 100 % within one interval; direct shows the gaps."""
    console = Console(width=120, record=True)
    result = run_demo(seed=7, operations=100, console=console)
    bridged = result.wirings["through the bridge"]
    for resource, column in bridged.convergence.resources.items():
        assert column.wrong == 0, (resource, column.differences)
    assert bridged.settled is not None
    after = bridged.settled.converged_after
    assert after is not None
    assert after <= RECONCILE_INTERVAL_SECONDS
    direct = result.columns["direct"].resources
    assert direct["PURCHASE_ORDER_LINES"].percent < 90
    assert {"shipToLocation.name", "shipToLocation.address"} & {
        d.field for d in direct["PURCHASE_ORDERS"].differences
    }
    assert result.ok
    text = console.export_text()
    for expected in ("direct", "through the bridge", "bridge setup: 12 changes in ION"):
        assert expected in text
    assert "new PO line (ION sent nothing)" in text  # gap closure per kind of repair
    assert "per object" in text
    assert "Verdict: through the bridge, Violet holds ION's truth on every tracked field" in text


@pytest.mark.slow
def test_python_m_bridge_demo_needs_no_settings(tmp_path: Path) -> None:
    """`python -m bridge demo` with no BRIDGE_* variables, from any folder: exit 0, both columns."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("BRIDGE_")}
    env["PYTHONPATH"] = str(REPO)  # this checkout, whatever is installed
    done = subprocess.run(
        [sys.executable, "-m", "bridge", "demo", "--operations", "60"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    header = next(line for line in out.splitlines() if line.startswith("┃ resource"))
    assert "direct" in header
    assert "through the bridge" in header
    assert "│ total" in out
    assert "Verdict: through the bridge" in out
    assert "Traceback" not in done.stderr
    if browser_available():
        assert (tmp_path / "var" / "status.png").read_bytes().startswith(b"\x89PNG")
        assert "written to var/status.png" in out
    else:
        assert "screenshot skipped" in out


def test_demo_settings_ignore_the_users_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Demo settings come from code: BRIDGE_* variables and BRIDGE_CONFIG are ignored."""
    monkeypatch.setenv("BRIDGE_CONFIG", "/nowhere/bridge.toml")
    monkeypatch.setenv("BRIDGE_DATABASE_URL", "postgresql+psycopg://nobody@nowhere/db")
    monkeypatch.setenv("BRIDGE_NOT_A_SETTING", "typo")
    monkeypatch.setenv("BRIDGE_RECONCILE_INTERVAL_SECONDS", "3600")
    stands = StandIns(
        ion=IonWorld(),
        violet=VioletWorld(),
        ion_url="http://127.0.0.1:1",
        violet_url="http://127.0.0.1:2",
    )
    settings = demo_settings(stands, port=3, database_url="sqlite:///x.db", admin_token="t")
    assert settings.database_url == "sqlite:///x.db"
    assert settings.reconcile_interval_seconds == RECONCILE_INTERVAL_SECONDS
    assert settings.public_url == "http://127.0.0.1:3"
    assert settings.allow_insecure_public_url
    assert settings.ion_client_secret is not None
    assert settings.ion_client_secret.get_secret_value() == CLIENT_SECRET
