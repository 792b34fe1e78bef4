"""A log stream that cannot be written loses log lines, never work: the lines are counted
(`bridge_log_lines_dropped_total`) and the code that logged goes on."""

from __future__ import annotations

import io
from pathlib import Path

import structlog

from bridge.logs import configure_logging, dropped_lines
from bridge.store.models import DeliveryStatus
from tests.harness import event_body, running_bridge, settings_for, violet_standin, wait_until


def _closed_stream() -> io.StringIO:
    stream = io.StringIO()
    stream.close()
    return stream


def test_a_line_to_a_closed_stream_is_counted_not_raised() -> None:
    configure_logging(level="debug", fmt="json", stream=_closed_stream())
    before = dropped_lines()
    log = structlog.get_logger("test")
    log.error("delivery.loop_error", delivery_id=1)
    log.info("delivery.sent")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("delivery.unexpected_error")
    assert dropped_lines() == before + 3


def test_a_line_that_can_be_written_is_not_counted() -> None:
    stream = io.StringIO()
    configure_logging(level="debug", fmt="json", stream=stream)
    before = dropped_lines()
    structlog.get_logger("test").warning("delivery.write_retry", pending=2)
    assert '"event": "delivery.write_retry"' in stream.getvalue()
    assert dropped_lines() == before


def test_forwarding_goes_on_when_the_log_stream_is_closed(tmp_path: Path) -> None:
    """Violet fails twice (the worker logs each retry, to a closed stream), then everything
    arrives, /healthz stays 200 and /metrics counts what was lost from the log."""
    with violet_standin() as violet:
        settings = settings_for(
            f"sqlite:///{tmp_path}/b.db", violet.hook_url, delivery_retry_schedule=[0.2, 0.4]
        )
        with running_bridge(settings) as running:
            configure_logging(level="debug", fmt="json", stream=_closed_stream())
            before = dropped_lines()
            violet.world.faults.update({"status": 503, "count": 2})
            for event_id in (1, 2, 3):
                running.post(event_body(event_id, entity=event_id))

            def settled() -> bool:
                rows = running.deliveries()
                return len(rows) == 3 and all(r.status not in DeliveryStatus.OPEN for r in rows)

            wait_until(settled, what="every delivery to settle")
            health = running.http.get("/healthz")
            metrics = running.http.get("/metrics").text
            statuses = {r.status for r in running.deliveries()}
    assert statuses == {DeliveryStatus.SUCCEEDED}
    assert sorted(violet.event_ids()) == [1, 2, 3]
    assert health.status_code == 200
    assert dropped_lines() > before
    dropped = next(
        line for line in metrics.splitlines() if line.startswith("bridge_log_lines_dropped_total")
    )
    assert float(dropped.split()[1]) > before
