"""One HTTP request to Violet, and its result as plain data (never an exception).

What goes out: the stored bytes and content type exactly as ION sent them, plus
`webhook-id` (stable across retries of this delivery), `x-bridge-origin` and, for a resend,
`x-bridge-resend-of`. Redirects are not followed (a 3xx is a failure, see `schedule`).

The Violet URL is a secret (violet.md): it is scrubbed from every error text kept or logged.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime

import httpx

from bridge import __version__
from bridge.delivery.claims import RESPONSE_LIMIT
from bridge.delivery.config import WorkerConfig
from bridge.store.models import Delivery

USER_AGENT = f"ion-violet-bridge/{__version__}"


@dataclass(frozen=True, kw_only=True)
class Response:
    """How one request went: a status (None if there was no answer) or an error text."""

    started_at: datetime
    duration_ms: float
    status_code: int | None = None
    body: str | None = None
    retry_after: str | None = None
    error: str | None = None
    timed_out: bool = False


def request_headers(delivery: Delivery) -> dict[str, str]:
    headers = {
        "content-type": delivery.content_type,
        "webhook-id": delivery.webhook_id,
        "x-bridge-origin": delivery.origin,
        "user-agent": USER_AGENT,
    }
    if delivery.resend_of:
        headers["x-bridge-resend-of"] = delivery.resend_of
    return headers


async def send(
    client: httpx.AsyncClient, config: WorkerConfig, delivery: Delivery, *, now: datetime
) -> Response:
    """POST `delivery` to Violet within `config.timeout_seconds` overall; `now` is its start."""
    started_at = now
    started = time.perf_counter()

    def elapsed() -> float:
        return (time.perf_counter() - started) * 1000

    try:
        # httpx's timeout bounds each phase; the outer one bounds the whole exchange.
        async with asyncio.timeout(config.timeout_seconds):
            async with client.stream(
                "POST",
                config.url,
                content=delivery.body,
                headers=request_headers(delivery),
                timeout=config.timeout_seconds,
                follow_redirects=False,
            ) as answer:
                body = await _read_capped(answer)
                return Response(
                    started_at=started_at,
                    duration_ms=elapsed(),
                    status_code=answer.status_code,
                    body=body,
                    retry_after=answer.headers.get("retry-after"),
                )
    except (TimeoutError, httpx.TimeoutException) as exc:
        error = f"timeout after {config.timeout_seconds:g} s ({type(exc).__name__})"
        return Response(started_at=started_at, duration_ms=elapsed(), error=error, timed_out=True)
    except httpx.HTTPError as exc:
        error = _scrub(f"{type(exc).__name__}: {exc}", config.url)
        return Response(started_at=started_at, duration_ms=elapsed(), error=error)


async def _read_capped(answer: httpx.Response) -> str:
    """At most RESPONSE_LIMIT bytes of the answer, decoded leniently (it is for people)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in answer.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= RESPONSE_LIMIT:
            break
    return b"".join(chunks)[:RESPONSE_LIMIT].decode("utf-8", errors="replace")


def _scrub(text: str, url: str) -> str:
    return text.replace(url, "<violet-url>")
