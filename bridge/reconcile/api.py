"""`/api/reconcile/runs`: the last runs, and starting one now (behind the admin token).

GET  /api/reconcile/runs    ?limit=N  -> {"runs": [...], "gap_closure": {...}}
POST /api/reconcile/runs    {"resource"?, "since"?, "full"?, "dry_run"?}  -> 202, or with
                            ?wait=true the finished run (200; 409 if another run holds the lock)
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from sqlmodel import col, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bridge.clock import parse_iso
from bridge.errors import ConfigError
from bridge.reconcile.catalog import resolve
from bridge.reconcile.runner import RunOptions, RunResult
from bridge.store.db import session_scope
from bridge.store.models import ReconcileRun

if TYPE_CHECKING:
    from bridge.reconcile.service import ReconcileService


def run_json(run: ReconcileRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "trigger": run.trigger,
        "status": run.status,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "duration_ms": run.duration_ms,
        "counts": run.counts,
        "error": run.error,
    }


def result_json(result: RunResult) -> dict[str, Any]:
    return {
        "id": result.run_id,
        "status": result.status,
        "duration_ms": round(result.duration_ms, 1),
        "counts": result.counts,
        "error": result.error,
    }


def reconcile_routes(service: ReconcileService) -> list[BaseRoute]:
    tasks: set[asyncio.Task[RunResult]] = set()

    def last_runs(limit: int) -> list[dict[str, Any]]:
        with session_scope(service.engine) as session:
            rows = session.exec(
                select(ReconcileRun).order_by(col(ReconcileRun.id).desc()).limit(limit)
            ).all()
            return [run_json(row) for row in rows]

    async def list_runs(request: Request) -> Response:
        raw = request.query_params.get("limit", "20")
        # isdigit() alone accepts '¹' and '٣', which int() then refuses.
        if not (raw.isascii() and raw.isdigit()):
            return JSONResponse({"error": "limit must be a non-negative integer"}, 400)
        runs = await run_in_threadpool(last_runs, min(int(raw), 500))
        return JSONResponse({"runs": runs, "gap_closure": service.gap_closure()})

    async def start_run(request: Request) -> Response:
        try:
            body = await request.json() if await request.body() else {}
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            resources = (
                tuple(resolve([body["resource"]], setting="resource"))
                if body.get("resource")
                else ()
            )
            since = parse_iso(body["since"]) if body.get("since") else None
            options = RunOptions(
                trigger="api",
                resources=resources,
                since=since,
                full=bool(body.get("full")),
                dry_run=bool(body.get("dry_run")),
            )
        except (ValueError, ConfigError) as exc:
            return JSONResponse({"error": str(exc)}, 400)
        if request.query_params.get("wait", "").lower() in ("1", "true", "yes"):
            result = await service.run(options)
            status = 409 if result.status == "SKIPPED" else 200
            return JSONResponse(result_json(result), status_code=status)
        task = asyncio.create_task(service.run(options))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return JSONResponse({"accepted": True}, status_code=202)

    return [
        Route("/reconcile/runs", list_runs, methods=["GET"]),
        Route("/reconcile/runs", start_run, methods=["POST"]),
    ]
