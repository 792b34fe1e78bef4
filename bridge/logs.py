"""Structured logs: JSON lines when not on a terminal, readable key=value when on one.

Call `configure_logging` once at a command's start. Log with `structlog.get_logger()` and keyword
fields (event_id, resource, entity_id, delivery_id, duration_ms); never pass a secret or the
Violet URL (use `settings.redact_url`). A last-line processor scrubs known secret values anyway.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog

_SECRETS: set[str] = set()
_dropped = 0  # log lines that could not be written (see `_Output`)


def register_secret(*values: str | None) -> None:
    """Values that must never reach a log line (they are replaced by '***')."""
    for value in values:
        if value and len(value) >= 6:
            _SECRETS.add(value)


def _scrub(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    if not _SECRETS:
        return event
    for key, value in event.items():
        if isinstance(value, str):
            event[key] = _scrub_text(value)
    return event


def _scrub_text(text: str, secrets: Iterable[str] | None = None) -> str:
    for secret in secrets or _SECRETS:
        if secret in text:
            text = text.replace(secret, "***")
    return text


class _Output(structlog.PrintLogger):
    """Writes each rendered line; a line that cannot be written is counted, never raised.

    A log call sits inside error handlers and loops that must keep going (the delivery worker
    logs from its own `except`): a closed or broken stream (a detached terminal, a full pipe that
    errors, a test's closed capture) must not end them. `dropped_lines()` tells how many were lost;
    `/metrics` exports it as `bridge_log_lines_dropped_total`.
    """

    def msg(self, message: str) -> None:
        global _dropped  # one process-wide tally, written under the GIL
        try:
            super().msg(message)
        except (OSError, ValueError):  # ValueError: "I/O operation on closed file"
            _dropped += 1

    log = debug = info = warn = warning = msg
    fatal = failure = err = error = critical = exception = msg


def dropped_lines() -> int:
    """Log lines lost to a stream that could not be written, since the process started."""
    return _dropped


def configure_logging(level: str = "info", fmt: str = "auto", stream: Any = None) -> None:
    out = stream or sys.stderr
    use_json = fmt == "json" or (fmt == "auto" and not getattr(out, "isatty", lambda: False)())
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _scrub,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=lambda *_args: _Output(out),
        cache_logger_on_first_use=False,
    )
    # Libraries log through the standard library: keep their noise at warning level.
    logging.basicConfig(
        level=logging.WARNING, stream=out, format="%(levelname)s %(name)s %(message)s"
    )
    for noisy in ("httpx", "httpcore", "gql", "apscheduler", "alembic", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
