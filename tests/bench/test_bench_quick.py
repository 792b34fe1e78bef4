"""`python -m bridge.bench --quick` end to end: every section present, the JSON and the PNG
written, and the correctness figures the bench checks on the way (nothing lost) all zero."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import get_args

import pytest

from bridge.bench.__main__ import _parse
from bridge.bench.results import SECTIONS
from bridge.settings import DEFAULT_HTTP_PARSER, HttpParser

REPO = Path(__file__).resolve().parents[2]


def test_unknown_section_is_a_usage_error() -> None:
    """`--only` names sections; a wrong name exits with status 2 and the list of names."""
    with pytest.raises(SystemExit) as exited:
        _parse(["--only", "ingest,nope"])
    assert exited.value.code == 2


def test_reference_rows_are_opt_in() -> None:
    """The reference rows (no targets, ~1.5 min) run only with `--reference`."""
    assert _parse([]).reference is False
    assert _parse(["--reference"]).reference is True


def test_only_keeps_the_bench_order() -> None:
    """`--only forward,ingest` runs ingest first, as the full bench would."""
    assert _parse(["--only", "forward,ingest"]).sections == ["ingest", "forward"]


@pytest.mark.slow
def test_quick_bench_writes_every_section(tmp_path: Path) -> None:
    """The quick bench runs every section (with the reference rows) and writes latest.json
    and latest.png."""
    done = subprocess.run(
        [sys.executable, "-m", "bridge.bench", "--quick", "--reference", "--out", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    report = json.loads((tmp_path / "latest.json").read_text())
    assert list(report["sections"]) == list(SECTIONS)
    for name, section in report["sections"].items():
        assert section["status"] in ("ok", "skipped"), (name, section["reason"])
        if section["status"] == "ok":
            assert section["rows"], name
            assert section["targets"], name
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "latest.png").read_bytes()[:4] == b"\x89PNG"
    sections = report["sections"]
    assert set(sections["ingest"]["data"]["unstored"].values()) == {0}
    # Saturation is the best over every concurrency tried, for the baseline and the bridge alike.
    servers = sections["ingest"]["data"]["servers"]
    # `--reference`'s servers: the thread writer and the other HTTP parser, nothing lost.
    other = next(p for p in get_args(HttpParser) if p != DEFAULT_HTTP_PARSER)
    references = {"sqlite+thread", f"sqlite+{other}", f"bare+{other}"}
    assert references <= set(servers)
    assert all(servers[name]["saturation"]["rate"] > 0 for name in references)
    assert {sections["ingest"]["data"]["unstored"][f"sqlite+{v}"] for v in ("thread", other)} == {0}
    for name in ("bare", "sqlite"):
        saturation = servers[name]["saturation"]
        assert set(saturation["rates_by_connections"]) == {"64", "128"}, name
        assert saturation["rate"] == max(
            rate for rates in saturation["rates_by_connections"].values() for rate in rates
        ), name
    # The in-process runs: the bridge's app accepted every signed delivery, as over HTTP.
    in_process = sections["ingest"]["data"]["in_process"]
    assert list(in_process["sqlite"]["statuses"]) == ["200"]
    assert all(fig["lost"] == 0 for fig in sections["forward"]["data"]["backends"].values())
    assert sections["latency"]["data"]["lost"] == 0
    # Which trigger queued each repair, read back from the bridge's log: most right behind
    # ION's deliveries, and new lines (ION sends nothing for them) by the poll or a fetch.
    by_trigger = sections["convergence"]["data"]["by_trigger"]
    assert by_trigger["webhook"]["linked"] > 0
    assert sum(by_trigger.get(t, {}).get("new_line", 0) for t in by_trigger) > 0
