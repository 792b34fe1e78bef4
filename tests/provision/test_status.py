"""`bridge status`: ION drift as data and as JSON, and the local sections read from the
database (delivery counts, oldest open delivery, last reconciliation runs)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

from bridge.provision.status import LAST_RUNS, collect_local_status
from bridge.store.db import session_scope
from bridge.store.models import Delivery, DeliveryStatus, ReconcileRun
from tests.ion.standin import Ion
from tests.provision.conftest import Bridge
from tests.provision.test_setup import DELETE_SUBSCRIPTION, ours

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def _delivery(n: int, status: str, received: datetime) -> Delivery:
    return Delivery(
        webhook_id=f"msg_{n}",
        origin="ion",
        body=b"{}",
        status=status,
        received_at=received,
        next_attempt_at=received,
    )


def test_local_status_counts_deliveries_and_lists_recent_runs(engine: Engine) -> None:
    """Counts per status (zeros included), the oldest open delivery's age, the last 5 runs."""
    with session_scope(engine) as session:
        session.add(_delivery(1, DeliveryStatus.PENDING, NOW - timedelta(minutes=5)))
        session.add(_delivery(2, DeliveryStatus.SENDING, NOW - timedelta(minutes=1)))
        session.add(_delivery(3, DeliveryStatus.SUCCEEDED, NOW - timedelta(hours=3)))
        for n in range(7):
            started = NOW - timedelta(minutes=10 - n)
            session.add(ReconcileRun(trigger="schedule", status="COMPLETED", started_at=started))
    local = collect_local_status(engine, NOW)
    assert local["deliveries"]["counts"] == {
        "PENDING": 1,
        "SENDING": 1,
        "SUCCEEDED": 1,
        "FAILED": 0,
        "SUPERSEDED": 0,
    }
    assert local["deliveries"]["oldest_open_age_seconds"] == 300
    runs = local["reconcile"]["last_runs"]
    assert len(runs) == LAST_RUNS
    assert runs[0]["id"] > runs[-1]["id"]
    json.dumps(local)  # plain JSON data


def test_empty_database_status(engine: Engine) -> None:
    """No deliveries and no runs: zero counts, no age, no runs."""
    local = collect_local_status(engine, NOW)
    assert set(local["deliveries"]["counts"].values()) == {0}
    assert local["deliveries"]["oldest_open_age_seconds"] is None
    assert local["reconcile"]["last_runs"] == []


def test_status_json_reports_drift(bridge: Bridge, ion: Ion) -> None:
    """After a subscription is deleted by hand, status --json shows it missing and not in sync;
    status itself changes nothing."""
    assert bridge("setup").code == 0
    gone = ours(ion)["subscriptions"][0]
    ion.gql(DELETE_SUBSCRIPTION, {"id": gone["id"], "etag": gone["_etag"]})
    ion.reset_stats()
    result = bridge("status", "--json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert set(report) == {"ion", "deliveries", "reconcile"}
    section = report["ion"]
    assert section["in_sync"] is False
    missing = [s for s in section["subscriptions"] if s["state"] == "missing"]
    assert [(s["resource"], s["action"]) for s in missing] == [(gone["resource"], gone["action"])]
    assert section["receiver"]["url_matches"] is True
    assert section["receiver"]["secret"] == "in sync"
    assert ion.stats()["mutations"]["total"] == 0


def test_status_table_on_a_terminal(bridge: Bridge) -> None:
    """The human form names each section and says when ION matches the config."""
    assert bridge("setup").code == 0
    result = bridge("status")
    assert result.code == 0
    for heading in ("ION webhooks", "Deliveries to Violet", "Reconciliation runs", "in sync"):
        assert heading in result.out


def test_status_shows_local_sections_when_ion_is_down(bridge: Bridge, monkeypatch: object) -> None:
    """ION unreachable: the database sections still print, the exit code says it failed."""
    from bridge.sandbox.serving import free_port

    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("BRIDGE_ION_API_URL", url)  # type: ignore[attr-defined]
    monkeypatch.setenv("BRIDGE_ION_TOKEN_URL", url + "/token")  # type: ignore[attr-defined]
    monkeypatch.setenv("BRIDGE_ION_MAX_RETRIES", "0")  # type: ignore[attr-defined]
    result = bridge("status", "--json")
    assert result.code == 1
    report = json.loads(result.out)
    assert "error" in report["ion"]
    assert "deliveries" in report
