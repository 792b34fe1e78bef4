"""The bench's parts on their own: the load generator against the raw responder, percentiles,
and a report's JSON round trip into the table and the chart (never timings)."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
from pathlib import Path

import pytest
import uvloop
from rich.console import Console
from sqlalchemy import create_engine, text

from bridge.bench import databases, loadgen
from bridge.bench.__main__ import main as bench_main
from bridge.bench.chart import draw
from bridge.bench.loadgen import run_load
from bridge.bench.payloads import RequestFactory, sign
from bridge.bench.processes import Spawned, wait_for_port
from bridge.bench.results import (
    Report,
    SectionResult,
    cpu_counters,
    machine,
    steal_percent,
)
from bridge.bench.sections.convergence import repairs_by_trigger
from bridge.bench.spec import LoadSpec, RequestSpec, percentile
from bridge.bench.table import markdown, print_report
from bridge.sandbox.serving import free_port


def test_percentile_is_nearest_rank() -> None:
    """p50 of 1..10 is 5, p99 is 10, and an empty sample has none."""
    values = [float(n) for n in range(10, 0, -1)]
    assert percentile(values, 0.5) == 5.0
    assert percentile(values, 0.99) == 10.0
    assert percentile([], 0.5) is None


def test_requests_carry_unique_event_ids_and_a_valid_signature() -> None:
    """Each built request is a signed ION delivery with its own event id."""
    factory = RequestFactory(
        RequestSpec(port=1, path="/webhooks/ion", secret="s3", header=("x-t", "tok"))
    )
    first, second = factory.build(0), factory.build(1)
    head, body = first.split(b"\r\n\r\n", 1)
    assert json.loads(body)["event_id"] == 1
    assert json.loads(second.split(b"\r\n\r\n", 1)[1])["event_id"] == 2
    assert f"x-ion-signature: {sign('s3', body)}".encode() in head
    assert b"x-t: tok" in head
    assert f"Content-Length: {len(body)}".encode() in head


def test_generator_counts_every_answer_in_both_modes(tmp_path: Path) -> None:
    """Closed and open loop against the raw responder: every request answered 200."""
    port = free_port()
    raw = Spawned("raw", "bridge.bench.bare", ["--raw", "--port", str(port)], log_dir=tmp_path)
    raw.start()
    try:
        wait_for_port("127.0.0.1", port, timeout=30, alive=raw)
        request = RequestSpec(port=port, path="/webhooks/ion")
        closed = run_load(LoadSpec(request=request, connections=4, seconds=0.5, warmup_seconds=0.1))
        opened = run_load(
            LoadSpec(
                request=request,
                mode="open",
                rate=200,
                seconds=0.5,
                warmup_seconds=0.1,
                record_sends=True,
            )
        )
    finally:
        raw.stop()
    assert closed.errors == 0
    assert closed.ok == closed.completed > 0
    assert opened.errors == 0
    assert set(opened.statuses) == {"200"}
    assert len(opened.sends) == opened.completed  # every request due in the window was sent
    assert len({send.event_id for send in opened.sends}) == len(opened.sends)
    # Latencies are read from an exact clock on both event loops: answers from a raw responder
    # over loopback take a fraction of a millisecond, never a whole number of them each.
    for result in (closed, opened):
        assert any(latency % 1 for latency in result.latencies_ms)


def test_the_closed_loop_runs_on_uvloop_and_the_open_loop_on_asyncio() -> None:
    """uvloop's timers are whole milliseconds: fine for back-to-back sends, not for a schedule."""
    request = RequestSpec(port=1, path="/", kind="bare")
    assert loadgen._event_loop(LoadSpec(request=request, mode="closed")) is uvloop.run
    assert loadgen._event_loop(LoadSpec(request=request, mode="open", rate=10)) is asyncio.run


def test_report_round_trips_and_renders(tmp_path: Path) -> None:
    """A report written as JSON reads back equal and renders a table and a PNG chart."""
    section = SectionResult(name="ingest")
    section.row("bare Starlette, saturation", 1234.5, "req/s")
    section.target("ingest on SQLite vs bare", "≥ 0.5 × bare", 0.6, True)
    section.data["steal_percent"] = 7.5
    skipped = SectionResult(name="reconcile", status="skipped", reason="not here")
    report = Report(
        started_at="2026-01-01T00:00:00+00:00",
        quick=True,
        machine=machine(),
        sections={"ingest": section, "reconcile": skipped},
    )
    path = tmp_path / "latest.json"
    report.write(path)
    again = Report.from_json(json.loads(path.read_text()))
    assert again == report
    console = Console(record=True, width=160)
    print_report(again, console)
    text = console.export_text()
    assert "bare Starlette, saturation" in text
    assert "met" in text
    assert "skipped" in text
    assert "CPU time taken by the host (steal): ingest 7.5 %" in text
    assert "CPU time taken by the host (steal): ingest 7.5 %." in markdown(again)
    draw(again, tmp_path / "latest.png")
    assert (tmp_path / "latest.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_repairs_by_trigger_counts_the_logged_repairs(tmp_path: Path) -> None:
    """The convergence section reads `serve`'s JSON log: repairs by trigger and kind; other
    events and lines that are not JSON (a library's own) are skipped."""
    lines = [
        {"event": "reconcile.repair", "trigger": "webhook", "kind": "linked"},
        {"event": "reconcile.repair", "trigger": "webhook", "kind": "linked"},
        {"event": "reconcile.repair", "trigger": "schedule", "kind": "linked"},
        {"event": "reconcile.deferred", "trigger": "schedule", "kind": "linked"},
        {"event": "reconcile.repair", "trigger": "new_line_poll", "kind": "new_line"},
    ]
    log = tmp_path / "bridge.log"
    text = "\n".join(json.dumps(line) for line in lines)
    log.write_text("INFO uvicorn started\n" + text + "\n[1, 2]\n")
    assert repairs_by_trigger(log) == {
        "webhook": {"linked": 2},
        "schedule": {"linked": 1},
        "new_line_poll": {"new_line": 1},
    }


def test_steal_is_read_from_proc_stat_and_given_as_a_share_of_all_cpu_time() -> None:
    """The host's share of the machine between two readings: steal over every state's ticks,
    guest time (already inside user) left out."""
    before = "cpu  100 0 50 800 10 0 0 40 7 0\ncpu0 50 0 25 400 5 0 0 20 0 0\nintr 1\n"
    after = "cpu  300 0 100 1300 10 0 0 90 9 0\ncpu0 150 0 50 650 5 0 0 45 0 0\nintr 2\n"
    assert cpu_counters(before) == (40, 1000)
    assert cpu_counters(after) == (90, 1800)
    # 50 of the 800 ticks that passed were the host's.
    assert steal_percent(cpu_counters(before), cpu_counters(after)) == 6.2
    assert steal_percent(None, cpu_counters(after)) is None
    assert steal_percent(cpu_counters(after), cpu_counters(after)) is None
    assert cpu_counters("intr 1\n") is None
    # This machine's own counters read, and only ever grow.
    first = cpu_counters()
    if first is not None:
        second = cpu_counters()
        assert second is not None
        assert second[1] >= first[1]
        assert second[0] >= first[0]


def test_printing_a_report_that_was_never_written_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--markdown` before any bench: exit 2 and one line saying what to run, no traceback."""
    assert bench_main(["--markdown", "--out", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert (
        captured.err == f"bench: no {tmp_path / 'latest.json'} to print: run `make bench` first\n"
    )


def test_a_fresh_sqlite_database_is_empty_and_removed_afterwards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A leftover file of the same name (a killed run) does not leak its rows into the next
    run, two databases in one process never share a file, and none is left behind."""
    monkeypatch.setattr(databases, "_counter", itertools.count(7))
    leftover = tmp_path / f"bench-{os.getpid()}-7.db"
    leftover.write_bytes(b"the last run's rows")
    Path(f"{leftover}-wal").write_bytes(b"and its WAL")
    with databases.fresh_database("sqlite", tmp_path, "unused") as first:
        assert first == f"sqlite:///{leftover}"
        assert not leftover.exists()
        assert not Path(f"{leftover}-wal").exists()
        with databases.fresh_database("sqlite", tmp_path, "unused") as second:
            assert second != first
            for url in (first, second):
                engine = create_engine(url)
                with engine.begin() as connection:
                    connection.execute(text("create table t (x integer)"))
                engine.dispose()
    assert list(tmp_path.iterdir()) == []
