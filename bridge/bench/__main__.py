"""`python -m bridge.bench`: measure, print the table, write `latest.json` and `latest.png`.

    python -m bridge.bench                      everything (a few minutes on 2 cores)
    python -m bridge.bench --quick              CI-sized: same sections, small sizes
    python -m bridge.bench --reference          also ingest's reference rows (~1.5 min more)
    python -m bridge.bench --only ingest,forward
    python -m bridge.bench --markdown           print latest.json as Markdown; measure nothing

Exit status 0 when every chosen section ran (missed targets are figures, not failures), 1 when a
section crashed (its traceback is in the JSON and under `<out>/work/logs/`).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from bridge.bench.chart import draw
from bridge.bench.context import BenchContext
from bridge.bench.databases import postgres_problem, postgres_url_from_env, postgres_version
from bridge.bench.results import (
    SECTIONS,
    Report,
    SectionResult,
    cpu_counters,
    machine,
    steal_percent,
)
from bridge.bench.table import markdown, print_report


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bridge.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma-separated sections out of {', '.join(SECTIONS)}",
    )
    parser.add_argument("--quick", action="store_true", help="CI-sized runs")
    parser.add_argument(
        "--reference",
        action="store_true",
        help="also measure ingest's reference rows: serve with its writer in a thread, and "
        "serve and the bare endpoint on the other HTTP parser (no targets; ~1.5 min more)",
    )
    parser.add_argument(
        "--markdown", action="store_true", help="print <out>/latest.json as Markdown tables"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("var/bench"),
        help="where latest.json and latest.png go (default var/bench)",
    )
    parser.add_argument(
        "--postgres-url",
        default=postgres_url_from_env(),
        help="PostgreSQL server for the PostgreSQL runs (a schema per run)",
    )
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown sections: {', '.join(unknown)} (choose from {', '.join(SECTIONS)})")
    args.sections = [name for name in SECTIONS if name in chosen]
    return args


def run_section(name: str, ctx: BenchContext) -> SectionResult:
    """One section, timed; a crash becomes a failed section instead of ending the bench."""
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    counters = cpu_counters()
    try:
        module = importlib.import_module(f"bridge.bench.sections.{name}")
        result: SectionResult = module.run(ctx)
    except Exception as exc:  # any crash: record it, keep measuring the other sections
        trace = traceback.format_exc()
        ctx.log_dir.mkdir(parents=True, exist_ok=True)
        (ctx.log_dir / f"{name}.traceback.txt").write_text(trace)
        result = SectionResult(name=name, status="failed", reason=f"{type(exc).__name__}: {exc}")
        result.data = {"traceback": trace}
    result.seconds = round(time.monotonic() - started, 1)
    # The machine may be shared: the 1-minute load around a section qualifies its figures.
    result.data["load_average"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    # …and so does the CPU time the host took from this VM while it ran.
    result.data["steal_percent"] = steal_percent(counters, cpu_counters())
    return result


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    out: Path = args.out
    if args.markdown:
        latest = out / "latest.json"
        if not latest.is_file():
            print(f"bench: no {latest} to print: run `make bench` first", file=sys.stderr)
            return 2
        print(markdown(Report.from_json(json.loads(latest.read_text()))), end="")
        return 0
    workdir = out / "work"
    shutil.rmtree(workdir, ignore_errors=True)
    problem = postgres_problem(args.postgres_url)
    ctx = BenchContext(
        quick=args.quick,
        reference=args.reference,
        workdir=workdir,
        postgres_url=args.postgres_url,
        postgres_problem=problem,
    )
    about = machine()
    about["postgresql"] = None if problem else postgres_version(args.postgres_url)
    report = Report(
        started_at=datetime.now(UTC).isoformat(timespec="seconds"), quick=args.quick, machine=about
    )
    started = time.monotonic()
    for name in args.sections:
        print(f"bench: {name} …", file=sys.stderr, flush=True)
        report.sections[name] = run_section(name, ctx)
        report.seconds = round(time.monotonic() - started, 1)
        report.write(out / "latest.json")  # after every section: a crash keeps what was measured
    draw(report, out / "latest.png")
    shutil.rmtree(workdir / "db", ignore_errors=True)
    print_report(report)
    print(f"bench: wrote {out / 'latest.json'} and {out / 'latest.png'}", file=sys.stderr)
    return 1 if any(s.status == "failed" for s in report.sections.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
