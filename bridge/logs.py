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
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    # Libraries log through the standard library: keep their noise at warning level.
    logging.basicConfig(
        level=logging.WARNING, stream=out, format="%(levelname)s %(name)s %(message)s"
    )
    for noisy in ("httpx", "httpcore", "gql", "apscheduler", "alembic", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
