"""Drill: Violet down for a stretch (connections refused), then back.

ION keeps delivering the whole time; the bridge keeps acknowledging (it stores first) and holds
the deliveries while Violet is away. Afterwards: nothing acknowledged is lost, each object's
events reached Violet in event order, nothing was dead-lettered, and the attempts spent are
reported (the breaker should keep them from growing with the queue).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import text

from bridge.bench.bridgeproc import BridgeProcess
from bridge.store.db import make_engine
from tests.faults.conftest import Violet
from tests.faults.stream import IonStream
from tests.waiting import wait_until

pytestmark = pytest.mark.faults


def _attempt_figures(database_url: str) -> dict[str, Any]:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            outcomes = {
                row[0]: row[1]
                for row in connection.execute(
                    text("select outcome, count(*) from attempts group by outcome")
                )
            }
            statuses = {
                row[0]: row[1]
                for row in connection.execute(
                    text("select status, count(*) from deliveries group by status")
                )
            }
            most = connection.execute(text("select max(attempts) from deliveries")).scalar_one()
    finally:
        engine.dispose()
    return {"attempts_by_outcome": outcomes, "deliveries_by_status": statuses, "max_attempts": most}


def _drill(
    database_url: str,
    violet: Violet,
    start_bridge: Callable[..., BridgeProcess],
    *,
    objects: int,
    per_object: int,
) -> dict[str, Any]:
    bridge = start_bridge(database_url, violet.hook_url)
    # Event ids interleave the objects, as a busy ION would: 1 -> object 0, 2 -> object 1, ...
    events = [(n, n % objects) for n in range(1, objects * per_object + 1)]
    stream = IonStream(bridge.url, events, threads=4).start()
    total = len(events)
    wait_until(lambda: stream.acked_count() >= total // 4, 60, "a quarter acknowledged")
    violet.down()
    before_down = len(violet.received())
    wait_until(lambda: stream.acked_count() >= 3 * total // 4, 60, "more acknowledged while down")
    figures_down = _attempt_figures(database_url)
    violet.up()
    stream.finish(timeout=120)
    acked = set(stream.acked)
    wait_until(lambda: acked <= violet.arrivals().keys(), 120, "every acked event at Violet")
    order: dict[int, list[int]] = defaultdict(list)
    for body in violet.received():
        order[body["id"]].append(body["event_id"])
    out_of_order = [key for key, ids in order.items() if ids != sorted(ids)]
    arrivals = violet.arrivals()
    return {
        "events": total,
        "objects": objects,
        "acknowledged": len(acked),
        "arrived_before_outage": before_down,
        "lost": len(acked - arrivals.keys()),
        "duplicates_at_violet": sum(n - 1 for n in arrivals.values()),
        "objects_out_of_order": len(out_of_order),
        "while_down": figures_down,
        "after": _attempt_figures(database_url),
    }


def test_violet_down_then_back_sqlite(
    tmp_path: Any, violet: Violet, start_bridge: Callable[..., BridgeProcess], drill_report: Any
) -> None:
    """Violet refusing connections for a while: nothing lost, order per object kept."""
    figures = _drill(
        f"sqlite:///{tmp_path / 'bridge.db'}", violet, start_bridge, objects=20, per_object=15
    )
    drill_report(figures)
    assert figures["lost"] == 0
    assert figures["objects_out_of_order"] == 0
    assert "FAILED" not in figures["after"]["deliveries_by_status"]
    assert figures["while_down"]["attempts_by_outcome"].get("retry", 0) > 0  # it really was down


@pytest.mark.slow
@pytest.mark.postgres
def test_violet_down_then_back_postgres(
    fresh_postgres_url: str,
    violet: Violet,
    start_bridge: Callable[..., BridgeProcess],
    drill_report: Any,
) -> None:
    """The same outage on PostgreSQL with more objects and events."""
    figures = _drill(fresh_postgres_url, violet, start_bridge, objects=50, per_object=30)
    drill_report(figures)
    assert figures["lost"] == 0
    assert figures["objects_out_of_order"] == 0
    assert "FAILED" not in figures["after"]["deliveries_by_status"]
