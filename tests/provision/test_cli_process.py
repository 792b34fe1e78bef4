"""The real `bridge` process (`python -m bridge`), as an operator runs it: expected failures are
one line and an exit code, never a traceback, never a secret."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bridge.sandbox.serving import free_port
from tests.ion.standin import CLIENT_SECRET, TOKEN_PATH, Ion

REPO = Path(__file__).resolve().parents[2]


def run_bridge(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    return subprocess.run(
        [sys.executable, "-m", "bridge", *args],
        env={**clean, **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("bridge: error:")]


def test_wrong_client_secret_exits_3_with_one_line(ion: Ion, tmp_path: Path) -> None:
    """ION refusing the API key: exit 3, one error line naming the client, no secret."""
    env = ion.env(f"sqlite:///{tmp_path / 'b.db'}", BRIDGE_ION_CLIENT_SECRET="wrong-secret-123")
    result = run_bridge(env, "setup")
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    [line] = error_lines(result.stderr)
    assert "refused the API key" in line
    assert "sandbox-client" in line
    assert "wrong-secret-123" not in result.stderr + result.stdout
    assert ion.stats()["graphql_requests"] == 0


def test_unreachable_ion_exits_1_naming_the_url(tmp_path: Path) -> None:
    """Nothing listening at ION's address: retried, then exit 1 naming the URL, not the secret."""
    url = f"http://127.0.0.1:{free_port()}"
    env = {
        "BRIDGE_ION_API_URL": url,
        "BRIDGE_ION_TOKEN_URL": url + TOKEN_PATH,
        "BRIDGE_ION_CLIENT_ID": "sandbox-client",
        "BRIDGE_ION_CLIENT_SECRET": CLIENT_SECRET,
        "BRIDGE_ION_MAX_RETRIES": "2",
        "BRIDGE_ION_RETRY_BASE_SECONDS": "0.01",
        "BRIDGE_PUBLIC_URL": "https://bridge.example.com",
        "BRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'b.db'}",
    }
    result = run_bridge(env, "setup")
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    [line] = error_lines(result.stderr)
    assert url in line
    assert "3 attempts" in line
    assert CLIENT_SECRET not in result.stderr + result.stdout


def test_http_public_url_exits_2(ion: Ion, tmp_path: Path) -> None:
    """An http BRIDGE_PUBLIC_URL without the explicit allowance is a configuration error."""
    env = ion.env(f"sqlite:///{tmp_path / 'b.db'}", BRIDGE_ALLOW_INSECURE_PUBLIC_URL="false")
    result = run_bridge(env, "setup")
    assert result.returncode == 2
    [line] = error_lines(result.stderr)
    assert "BRIDGE_PUBLIC_URL" in line
    assert "https" in line


def test_teardown_without_a_terminal_needs_yes(ion: Ion, tmp_path: Path) -> None:
    """With no terminal to ask on, teardown refuses (exit 2) and says to pass --yes."""
    result = run_bridge(ion.env(f"sqlite:///{tmp_path / 'b.db'}"), "teardown")
    assert result.returncode == 2
    [line] = error_lines(result.stderr)
    assert "--yes" in line
    assert ion.stats()["graphql_requests"] == 0


def test_setup_twice_as_a_process(ion: Ion, tmp_path: Path) -> None:
    """The installed command provisions, then has nothing to do on the second run."""
    env = ion.env(f"sqlite:///{tmp_path / 'b.db'}")
    first = run_bridge(env, "setup")
    assert first.returncode == 0, first.stderr
    second = run_bridge(env, "setup")
    assert second.returncode == 0
    assert "nothing to do" in second.stdout
    assert "sandbox-secret" not in first.stdout + first.stderr + second.stdout
