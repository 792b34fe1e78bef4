"""Drill: `bridge serve` killed with SIGKILL at random moments during a sustained stream.

ION keeps sending (and retrying what was not acknowledged) while the bridge dies and restarts on
the same port and database. Afterwards every delivery the bridge acknowledged must have reached
Violet; duplicates (a send in flight when the process died is sent again once its lease expires)
are allowed by the at-least-once contract and reported.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from bridge.bench.bridgeproc import BridgeProcess
from tests.faults.conftest import Violet
from tests.faults.stream import IonStream
from tests.waiting import wait_until

pytestmark = pytest.mark.faults


def _drill(
    database_url: str,
    violet: Violet,
    start_bridge: Callable[..., BridgeProcess],
    *,
    events: int,
    kills: int,
    seed: int,
) -> dict[str, Any]:
    bridge = start_bridge(database_url, violet.hook_url)
    # One object per event: nothing is superseded, so every acknowledged event must arrive.
    stream = IonStream(bridge.url, [(n, n) for n in range(1, events + 1)], threads=4).start()
    rng = random.Random(seed)
    for _ in range(kills):
        step = rng.randint(events // (3 * kills), events // kills)
        target = min(stream.acked_count() + step, events)
        wait_until(lambda t=target: stream.acked_count() >= t, 60, f"{target} acknowledgements")
        bridge.kill()
        bridge.start()
    stream.finish(timeout=120)
    acked = set(stream.acked)
    wait_until(lambda: acked <= violet.arrivals().keys(), 90, "every acked event at Violet")
    arrivals = violet.arrivals()
    return {
        "events": events,
        "kills": kills,
        "acknowledged": len(acked),
        "arrived": len(acked & arrivals.keys()),
        "lost": len(acked - arrivals.keys()),
        "duplicates_at_violet": sum(n - 1 for n in arrivals.values()),
        "ion_attempts": len(stream.attempts),
        "statuses_seen_by_ion": sorted(stream.statuses()),
    }


def test_kill9_loses_nothing_acknowledged_sqlite(
    tmp_path: Any, violet: Violet, start_bridge: Callable[..., BridgeProcess], drill_report: Any
) -> None:
    """Three kill -9s mid-stream on SQLite: every acknowledged delivery reaches Violet."""
    figures = _drill(
        f"sqlite:///{tmp_path / 'bridge.db'}", violet, start_bridge, events=200, kills=3, seed=7
    )
    drill_report(figures)
    assert figures["lost"] == 0
    assert figures["acknowledged"] == 200
    assert 500 not in figures["statuses_seen_by_ion"]


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("seed", [11, 12])
def test_kill9_many_times_postgres(
    fresh_postgres_url: str,
    violet: Violet,
    start_bridge: Callable[..., BridgeProcess],
    drill_report: Any,
    seed: int,
) -> None:
    """Ten kill -9s during a longer stream on PostgreSQL: nothing acknowledged is lost."""
    figures = _drill(fresh_postgres_url, violet, start_bridge, events=2000, kills=10, seed=seed)
    drill_report(figures)
    assert figures["lost"] == 0
    assert 500 not in figures["statuses_seen_by_ion"]


@pytest.mark.slow
def test_kill9_many_times_sqlite(
    tmp_path: Any, violet: Violet, start_bridge: Callable[..., BridgeProcess], drill_report: Any
) -> None:
    """Ten kill -9s during a longer stream on SQLite: nothing acknowledged is lost."""
    figures = _drill(
        f"sqlite:///{tmp_path / 'bridge.db'}", violet, start_bridge, events=2000, kills=10, seed=5
    )
    drill_report(figures)
    assert figures["lost"] == 0
    assert 500 not in figures["statuses_seen_by_ion"]
