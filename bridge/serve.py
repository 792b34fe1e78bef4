"""`bridge serve`: the always-on service under uvicorn, with a graceful shutdown.

On SIGTERM or SIGINT, in this order:
1. `/readyz` starts failing (the bridge is draining) so a load balancer stops sending traffic;
2. uvicorn stops accepting connections and lets requests in progress finish (each of them
   answers only after its delivery is committed) for up to `shutdown_grace_seconds`;
3. the lifespan stops the bridge: the worker claims nothing more, in-flight sends may finish
   within the grace, leases of the rest are released so another process (or the next start)
   sends them; the writer commits what is queued.
A SIGKILL skips all this and loses nothing acknowledged: leases expire and the work is redone.
"""

from __future__ import annotations

import gc
import sys
from types import FrameType
from typing import TYPE_CHECKING

import click
import structlog
import uvicorn

from bridge.logs import configure_logging
from bridge.settings import EVENT_LOOP, load_settings, redact_url

if TYPE_CHECKING:
    from bridge.bootstrap import Bridge

log = structlog.get_logger(__name__)


#: How often the interpreter lets another thread take the GIL (Python's default: 0.005).
GIL_SWITCH_SECONDS = 0.001


async def freeze_startup_heap() -> None:
    """Take what exists once `serve` has started out of the garbage collector's sight.

    The modules, the app and the ORM's mappings are ~120,000 objects that live as long as the
    process, and every full collection walked them all: under load at the inbox's saturation
    one ran every 2–3 s and held the event loop for ~36 ms, every request waiting behind it
    (the slowest answers: max 41–44 ms; frozen, 14–20 ms at the same rate, side by side; at
    half saturation p99 7.5–8.7 → 6.6–6.9 ms). Later objects are collected as before.
    """
    gc.collect()
    gc.freeze()
    log.info("serve.heap_frozen", objects=gc.get_freeze_count())


class _DrainingServer(uvicorn.Server):
    """uvicorn, telling the bridge it is draining the moment a shutdown signal arrives."""

    def __init__(self, config: uvicorn.Config, bridge: Bridge) -> None:
        super().__init__(config)
        self.bridge = bridge

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.bridge.draining = True
        super().handle_exit(sig, frame)
        # uvicorn re-raises the signal after a graceful stop (exit status -15); a drained
        # bridge has done its job, and says so with exit code 0 like every other command.
        captured = getattr(self, "_captured_signals", None)
        if isinstance(captured, list):
            captured.clear()


@click.command()
@click.option("--host", default=None, help="Interface to listen on [BRIDGE_HOST].")
@click.option("--port", type=int, default=None, help="TCP port to listen on [BRIDGE_PORT].")
@click.option(
    "--no-reconcile", is_flag=True, help="Forward webhooks only; no scheduled reconciliation."
)
def serve(host: str | None, port: int | None, no_reconcile: bool) -> None:
    """Run the webhook endpoint, the delivery worker, reconciliation, admin API and metrics."""
    from bridge.app import create_app
    from bridge.bootstrap import build_bridge

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    # The event loop and the database threads share one GIL. At Python's default switch interval
    # (5 ms) a thread whose SQLite call just returned waits up to 5 ms for the loop to yield, at
    # every statement: measured at half of the inbox's saturation rate, p50 14.7 ms and p99
    # 157 ms to answer ION. At 1 ms: p50 5.9 ms, p99 19.9 ms, and the same saturation rate.
    sys.setswitchinterval(GIL_SWITCH_SECONDS)
    bridge = build_bridge(settings, reconcile=not no_reconcile)
    app = create_app(bridge)
    bridge.on_startup.append(freeze_startup_heap)  # last: after every part has started
    config = uvicorn.Config(
        app,
        host=host or settings.host,
        port=settings.port if port is None else port,
        lifespan="on",
        access_log=False,
        # h11 by default; on httptools the bridge ingests ~1.6 x as much (README, "Performance").
        http=settings.http_parser,
        loop=EVENT_LOOP,
        log_config=None,  # structlog owns the output (bridge.logs)
        timeout_graceful_shutdown=max(1, int(settings.shutdown_grace_seconds)),
        server_header=False,
    )
    log.info(
        "serve.starting",
        host=config.host,
        port=config.port,
        violet=redact_url(settings.violet_webhook_url),
        database=_redact_database(settings.database_url),
        reconcile=not no_reconcile,
    )
    _DrainingServer(config, bridge).run()


def _redact_database(url: str) -> str:
    """The database URL without its password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
