"""The admin API's guard: a bearer token compared in constant time, or 404 when none is set.

Both sides are hashed before `compare_digest` so the comparison takes the same time whatever the
length of the guess (compare_digest alone leaks whether the lengths differ).
"""

from __future__ import annotations

import hashlib
import hmac

import structlog
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

log = structlog.get_logger(__name__)


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).digest()


def bearer_matches(header: str | None, token: str) -> bool:
    """True when `header` is `Bearer <token>` (scheme case-insensitive)."""
    if not header or not token:
        return False
    scheme, _, presented = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(_digest(presented.strip()), _digest(token))


class AdminGuard:
    """ASGI middleware for the /api mount."""

    def __init__(self, app: ASGIApp, *, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not self.token:
            await JSONResponse({"error": "not found"}, status_code=404)(scope, receive, send)
            return
        header = None
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                header = value.decode("latin-1")
                break
        if not bearer_matches(header, self.token):
            client = scope.get("client")
            log.info(
                "api.unauthorized", path=scope.get("path"), client=client[0] if client else None
            )
            response = JSONResponse(
                {"error": "unauthorized"},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="bridge"'},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
