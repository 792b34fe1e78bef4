"""`bridge reconcile` and `/api/reconcile/runs`."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bridge.cli import main
from bridge.sandbox.ion import TOKEN_PATHS
from tests.reconcile.harness import CLIENT_ID, CLIENT_SECRET, fresh_database, ion_user, make_world
from tests.reconcile.stack import bridge_stack


def _env(monkeypatch: pytest.MonkeyPatch, ion_url: str, database_url: str, secret: str) -> None:
    for key, value in {
        "BRIDGE_ION_API_URL": ion_url,
        "BRIDGE_ION_TOKEN_URL": ion_url + TOKEN_PATHS[0],
        "BRIDGE_ION_CLIENT_ID": CLIENT_ID,
        "BRIDGE_ION_CLIENT_SECRET": secret,
        "BRIDGE_ION_RETRY_BASE_SECONDS": "0.01",
        "BRIDGE_DATABASE_URL": database_url,
        "BRIDGE_LOG_LEVEL": "error",
    }.items():
        monkeypatch.setenv(key, value)


def _exit_code(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_cli_runs_once_and_prints_the_counts(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`bridge reconcile --backfill` prints per-resource counts; bad keys exit 3, bad args 2."""
    url = fresh_database(tmp_path)
    with ion_user(make_world()) as ion:
        ion.create("LOCATIONS", name="Dock 1")
        _env(monkeypatch, ion.url, url, CLIENT_SECRET)
        assert _exit_code(["reconcile", "--backfill"]) == 0
        out = capsys.readouterr().out
        assert "LOCATIONS" in out
        assert "repairs by kind: new_object 1" in out
        assert _exit_code(["reconcile", "--since", "yesterday"]) == 2
        assert _exit_code(["reconcile", "--resource", "RUNS"]) == 2
        _env(monkeypatch, ion.url, url, "wrong-secret")
        assert _exit_code(["reconcile"]) == 3
        assert "reconciliation failed" in capsys.readouterr().err


def test_api_lists_runs_and_starts_one(tmp_path: Any) -> None:
    """GET lists the runs with gap-closure figures; POST ?wait=true runs one and returns it."""
    token = "reconcile-admin-token"
    with bridge_stack(fresh_database(tmp_path), admin_token=token) as stack:
        auth = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=stack.server.url, headers=auth, timeout=30) as client:
            started = client.post(
                "/api/reconcile/runs?wait=true", json={"resource": "LOCATIONS", "dry_run": True}
            )
            assert started.status_code in (200, 409)  # 409: the start-up run still holds it
            assert client.post("/api/reconcile/runs", json={"since": "nope"}).status_code == 400
            assert client.get("/api/reconcile/runs?limit=x").status_code == 400
            listing = client.get("/api/reconcile/runs").json()
            assert listing["runs"]
            assert {"id", "trigger", "status", "counts"} <= set(listing["runs"][0])
            assert "gap_closure" in listing
