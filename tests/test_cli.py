"""The `bridge` command as a user runs it: a real subprocess, exit codes, no tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bridge.store.migrate import head_revision


def run_bridge(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    return subprocess.run(
        [sys.executable, "-m", "bridge", *args],
        env={**base, **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_help_lists_the_contract_commands() -> None:
    """`bridge --help` names every command of the contract."""
    result = run_bridge("--help")
    assert result.returncode == 0
    for command in ("setup", "status", "teardown", "serve", "reconcile", "events", "db"):
        assert command in result.stdout
    for command in ("sandbox", "demo"):
        assert command in result.stdout


def test_db_upgrade_creates_the_schema_from_any_directory(tmp_path: Path) -> None:
    """`bridge db upgrade` works outside the repository and is repeatable."""
    url = f"sqlite:///{tmp_path / 'sub' / 'bridge.db'}"
    for _ in range(2):
        result = run_bridge("db", "upgrade", env={"BRIDGE_DATABASE_URL": url}, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert f"revision {head_revision()}" in result.stdout
    assert (tmp_path / "sub" / "bridge.db").exists()


def test_bad_setting_exits_2_with_one_line_naming_it(tmp_path: Path) -> None:
    """An unknown variable is exit code 2, one line on stderr, no traceback."""
    result = run_bridge("db", "upgrade", env={"BRIDGE_DATABSE_URL": "x"}, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "BRIDGE_DATABSE_URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_unwritable_database_path_exits_2(tmp_path: Path) -> None:
    """A database path that cannot be created is a configuration error, not a crash."""
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    env = {"BRIDGE_DATABASE_URL": f"sqlite:///{locked / 'deeper' / 'bridge.db'}"}
    try:
        result = run_bridge("db", "upgrade", env=env, cwd=tmp_path)
    finally:
        locked.chmod(0o700)
    if os.geteuid() == 0 and result.returncode == 0:
        # root ignores directory permissions; /proc is unwritable for everyone.
        env = {"BRIDGE_DATABASE_URL": "sqlite:////proc/bridge/bridge.db"}
        result = run_bridge("db", "upgrade", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "BRIDGE_DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_usage_exits_2() -> None:
    """An unknown command or option is exit code 2."""
    assert run_bridge("no-such-command").returncode == 2
    assert run_bridge("db", "upgrade", "--bogus").returncode == 2
