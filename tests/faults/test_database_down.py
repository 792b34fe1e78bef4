"""Drills: PostgreSQL away under load, then back: cut off, and really restarted.

Two ways for the database to go away:
- *cut*: the bridge reaches the tests' shared server through a TCP proxy that the drill cuts
  (open connections aborted, new ones refused) and restores. Restarting the shared server would
  break every other test run on this machine;
- *restarted*: a PostgreSQL cluster of the drill's own (`pgcluster.py`) is stopped, `fast`
  (sessions ended by the server: "terminating connection due to administrator command") or
  `immediate` (backends killed, WAL replayed at start, as after a crash), and started again.

While the database is away, the bridge must answer 503 (so ION retries) and never acknowledge
anything; once it is back, the bridge recovers by itself, and everything it acknowledged is
stored and reaches Violet.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bridge.bench.bridgeproc import BridgeProcess
from bridge.store.db import make_engine
from tests.conftest import IN_CI
from tests.faults.conftest import Violet
from tests.faults.pgcluster import PrivateCluster, StopMode, find_bindir, unusable
from tests.faults.stream import IonStream
from tests.faults.tcpproxy import TcpProxy
from tests.waiting import wait_until

pytestmark = [pytest.mark.faults, pytest.mark.postgres]


@pytest.fixture
def proxied(fresh_postgres_url: str) -> Iterator[tuple[str, TcpProxy]]:
    """The fresh schema's URL routed through a TCP proxy the test can cut."""
    url = make_url(fresh_postgres_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
    yield url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False), proxy
    proxy.stop()


def _stored_event_ids(database_url: str) -> set[int]:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            return {row[0] for row in connection.execute(text("select event_id from deliveries"))}
    finally:
        engine.dispose()


def _readyz(bridge: BridgeProcess) -> int:
    try:
        return httpx.get(f"{bridge.url}/readyz", timeout=5).status_code
    except httpx.HTTPError:
        return 0


@pytest.fixture
def private_cluster() -> Iterator[PrivateCluster]:
    """A PostgreSQL cluster of this drill's own, removed afterwards."""
    bindir = find_bindir()
    reason = unusable(bindir)
    if reason is not None:
        if IN_CI:  # CI's machine has the server: a missing one is a broken set-up
            pytest.fail(reason)
        pytest.skip(reason)
    assert bindir is not None  # `unusable` said so
    cluster = PrivateCluster(bindir, Path(tempfile.mkdtemp(prefix="bridge-drill-pg-")))
    try:
        yield cluster.create()
    finally:
        cluster.destroy()


def _drill(
    url: str,
    stored_url: str,
    away: Callable[[int], None],
    back: Callable[[], None],
    violet: Violet,
    start_bridge: Callable[..., BridgeProcess],
    *,
    events: int,
    outages: int,
) -> dict[str, Any]:
    """Stream `events` into a bridge on `url`; `away(n)` and `back()` the database `outages`
    times; every acknowledged event must be stored (read through `stored_url`) and at Violet."""
    bridge = start_bridge(url, violet.hook_url)
    stream = IonStream(bridge.url, [(n, n) for n in range(1, events + 1)], threads=4).start()
    windows: list[tuple[float, float]] = []
    readiness: set[int] = set()
    for outage in range(outages):
        target = events * (outage + 1) // (outages + 1)
        wait_until(lambda t=target: stream.acked_count() >= t, 60, f"{target} acknowledged")
        away(outage)
        cut_at = time.monotonic()
        wait_until(
            lambda c=cut_at: sum(a.status == 503 for a in stream.attempts_between(c)) >= 40,
            30,
            "503 answers while the database is away",
        )
        readiness.add(_readyz(bridge))
        # The window ends as the database is brought back: a server's start takes a moment,
        # and what is stored and answered once it is up is no outage answer.
        windows.append((cut_at, time.monotonic()))
        back()
    stream.finish(timeout=120)
    acked = set(stream.acked)
    wait_until(lambda: acked <= violet.arrivals().keys(), 120, "every acked event at Violet")
    during = [a for start, end in windows for a in stream.attempts_between(start, end)]
    return {
        "events": events,
        "outages": outages,
        "acknowledged": len(acked),
        "answers_during_outages": {
            str(s): sum(a.status == s for a in during) for s in sorted({a.status for a in during})
        },
        "acknowledged_during_outages": sum(200 <= a.status < 300 for a in during),
        "readyz_during_outages": sorted(readiness),
        "not_stored": len(acked - _stored_event_ids(stored_url)),
        "lost": len(acked - violet.arrivals().keys()),
        "duplicates_at_violet": sum(n - 1 for n in violet.arrivals().values()),
        "statuses_seen_by_ion": sorted(stream.statuses()),
    }


def _check(figures: dict[str, Any]) -> None:
    assert figures["acknowledged_during_outages"] == 0
    assert figures["answers_during_outages"].get("503", 0) > 0
    assert figures["not_stored"] == 0
    assert figures["lost"] == 0
    assert 500 not in figures["statuses_seen_by_ion"]
    assert figures["acknowledged"] == figures["events"]  # it recovered by itself


def _cut(
    proxied: tuple[str, TcpProxy],
    fresh_postgres_url: str,
    violet: Violet,
    start_bridge: Callable[..., BridgeProcess],
    *,
    events: int,
    outages: int,
) -> dict[str, Any]:
    url, proxy = proxied
    return _drill(
        url,
        fresh_postgres_url,
        lambda _: proxy.cut(),
        proxy.restore,
        violet,
        start_bridge,
        events=events,
        outages=outages,
    )


def test_database_cut_under_load_answers_503_and_recovers(
    proxied: tuple[str, TcpProxy],
    fresh_postgres_url: str,
    violet: Violet,
    start_bridge: Callable[..., BridgeProcess],
    drill_report: Any,
) -> None:
    """One PostgreSQL outage mid-stream: 503 while away, nothing acknowledged lost after."""
    figures = _cut(proxied, fresh_postgres_url, violet, start_bridge, events=200, outages=1)
    drill_report(figures)
    _check(figures)


@pytest.mark.slow
def test_database_cut_repeatedly(
    proxied: tuple[str, TcpProxy],
    fresh_postgres_url: str,
    violet: Violet,
    start_bridge: Callable[..., BridgeProcess],
    drill_report: Any,
) -> None:
    """Five PostgreSQL outages during a longer stream: the bridge recovers from each."""
    figures = _cut(proxied, fresh_postgres_url, violet, start_bridge, events=1500, outages=5)
    drill_report(figures)
    _check(figures)


MODES: tuple[StopMode, ...] = ("fast", "immediate")


def _restarted(
    cluster: PrivateCluster,
    violet: Violet,
    start_bridge: Callable[..., BridgeProcess],
    *,
    events: int,
    restarts: int,
) -> dict[str, Any]:
    figures = _drill(
        cluster.url,
        cluster.url,
        lambda n: cluster.stop(MODES[n % len(MODES)]),
        cluster.start,
        violet,
        start_bridge,
        events=events,
        outages=restarts,
    )
    return {"stops": [MODES[n % len(MODES)] for n in range(restarts)], **figures}


def test_postgres_restarted_under_load_answers_503_and_recovers(
    private_cluster: PrivateCluster,
    violet: Violet,
    start_bridge: Callable[..., BridgeProcess],
    drill_report: Any,
) -> None:
    """The server really stopped mid-stream, once as for a planned restart and once as in a
    crash, then started again: 503 while it is down, never a 500, and nothing acknowledged
    lost once it is back."""
    figures = _restarted(private_cluster, violet, start_bridge, events=300, restarts=2)
    drill_report(figures)
    _check(figures)


@pytest.mark.slow
def test_postgres_restarted_repeatedly(
    private_cluster: PrivateCluster,
    violet: Violet,
    start_bridge: Callable[..., BridgeProcess],
    drill_report: Any,
) -> None:
    """Six restarts, fast and immediate in turn, during a longer stream."""
    figures = _restarted(private_cluster, violet, start_bridge, events=1500, restarts=6)
    drill_report(figures)
    _check(figures)
