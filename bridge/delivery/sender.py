"""HTTP requests to Violet, and their results as plain data (never an exception).

What goes out: the stored bytes and content type exactly as ION sent them, plus
`webhook-id` (stable across retries of this delivery), `x-bridge-origin` and, for a resend,
`x-bridge-resend-of`. Redirects are not followed (a 3xx is a failure, see `schedule`); cookies
are not kept; a proxy from the environment (`HTTPS_PROXY`, `NO_PROXY`, ...) is honoured, read
once at start (aiohttp's `trust_env` would read the environment and `~/.netrc` per request).

The client is aiohttp: at the bridge's delivery concurrency httpx spent ~2.4 ms of CPU per
request against ~0.4 ms for aiohttp (`make bench` measures the forward rate this buys), and the
worker is CPU-bound once claims are cheap.

The Violet URL is a secret (violet.md): it is scrubbed from every error text kept or logged.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime

import aiohttp
import yarl

from bridge import __version__
from bridge.delivery.claims import RESPONSE_LIMIT, Outgoing
from bridge.delivery.config import WorkerConfig

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


def request_headers(delivery: Outgoing) -> dict[str, str]:
    headers = {
        "content-type": delivery.content_type,
        "webhook-id": delivery.webhook_id,
        "x-bridge-origin": delivery.origin,
        "user-agent": USER_AGENT,
    }
    if delivery.resend_of:
        headers["x-bridge-resend-of"] = delivery.resend_of
    return headers


class VioletSender:
    """Sends deliveries to Violet's webhook URL over a pool of keep-alive connections.

    The session is made in `start()` (aiohttp wants a running event loop) and closed in
    `close()`; `send` before `start` is a programming error.
    """

    def __init__(self, config: WorkerConfig, *, tls: ssl.SSLContext | None = None) -> None:
        self.config = config
        self._tls = tls
        self._session: aiohttp.ClientSession | None = None
        self._proxy: str | None = None
        self._url = yarl.URL(config.url, encoded=True)
        #: Every spelling of the URL an error text could carry.
        self._secrets = sorted({config.url, str(self._url), self._url.human_repr()}, key=len)[::-1]

    async def start(self) -> None:
        if self._session is None:
            self._proxy = env_proxy(self.config.url)
            connector = aiohttp.TCPConnector(
                limit=max(self.config.concurrency, 1) * 2,
                ssl=self._tls if self._tls is not None else True,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
                # The worker's own deadline (below) bounds each request as a whole.
                timeout=aiohttp.ClientTimeout(total=None),
            )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, delivery: Outgoing, *, now: datetime) -> Response:
        """POST `delivery` to Violet within `timeout_seconds` overall; `now` is its start."""
        if self._session is None:
            raise RuntimeError("VioletSender.send before start()")
        started = time.perf_counter()

        def elapsed() -> float:
            return (time.perf_counter() - started) * 1000

        timeout = self.config.timeout_seconds
        try:
            async with (
                asyncio.timeout(timeout),
                self._session.post(
                    self._url,
                    data=delivery.body,
                    headers=request_headers(delivery),
                    allow_redirects=False,
                    proxy=self._proxy,
                ) as answer,
            ):
                body = await _read_capped(answer)
                return Response(
                    started_at=now,
                    duration_ms=elapsed(),
                    status_code=answer.status,
                    body=body,
                    retry_after=answer.headers.get("retry-after"),
                )
        except TimeoutError as exc:  # asyncio's deadline or aiohttp's socket timeouts
            error = f"timeout after {timeout:g} s ({type(exc).__name__})"
            return Response(started_at=now, duration_ms=elapsed(), error=error, timed_out=True)
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            error = self._scrub(f"{type(exc).__name__}: {exc}")
            return Response(started_at=now, duration_ms=elapsed(), error=error)

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "<violet-url>")
        return text


def env_proxy(url: str) -> str | None:
    """The proxy the environment names for `url`, or None (none set, or `NO_PROXY` covers it)."""
    target = urllib.parse.urlsplit(url)
    if target.hostname and urllib.request.proxy_bypass(target.hostname):
        return None
    return urllib.request.getproxies_environment().get(target.scheme)


async def _read_capped(answer: aiohttp.ClientResponse) -> str:
    """At most RESPONSE_LIMIT bytes of the answer, decoded leniently (it is for people)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in answer.content.iter_any():
        chunks.append(chunk)
        size += len(chunk)
        if size >= RESPONSE_LIMIT:
            break
    return b"".join(chunks)[:RESPONSE_LIMIT].decode("utf-8", errors="replace")
