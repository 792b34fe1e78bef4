"""ION's API keys: the Keycloak client_credentials token endpoint and the token check.

Tokens are opaque random strings with an expiry. Keycloak answers a bad client with 401
`unauthorized_client`; the stand-in copies its wording so the bridge's error mapping is exercised.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import time
from urllib.parse import parse_qs, unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bridge.sandbox.ion.world import IonWorld

TOKEN_PATHS = (
    "/realms/api-keys/protocol/openid-connect/token",
    "/auth/realms/api-keys/protocol/openid-connect/token",  # the path older ION docs give
)


def issue(world: IonWorld) -> str:
    token = secrets.token_urlsafe(32)
    world.tokens[token] = time.monotonic() + world.token_ttl_seconds
    return token


def is_live(world: IonWorld, authorization: str | None) -> bool:
    """Accepts `Bearer <token>` and a bare `<token>`: ION's own docs show both."""
    if not authorization:
        return False
    scheme, _, rest = authorization.strip().partition(" ")
    token = rest.strip() if scheme.lower() == "bearer" else authorization.strip()
    expires = world.tokens.get(token)
    return expires is not None and time.monotonic() < expires


def revoke_all(world: IonWorld) -> None:
    world.tokens.clear()


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    """Keycloak also takes the client in HTTP Basic auth (client_secret_basic)."""
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, _, secret = decoded.partition(":")
    return unquote(client_id), unquote(secret)


async def token_endpoint(request: Request) -> Response:
    world: IonWorld = request.app.state.world
    world.stats.token_requests += 1
    try:
        form = parse_qs((await request.body()).decode(), keep_blank_values=True)
    except UnicodeDecodeError:
        return _oauth_error(400, "invalid_request", "Body is not form-encoded")
    fields = {key: values[0] for key, values in form.items()}
    grant_type = fields.get("grant_type")
    if grant_type is None:
        return _oauth_error(400, "invalid_request", "Missing form parameter: grant_type")
    if grant_type != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type", "Unsupported grant_type")
    basic = _basic_credentials(request.headers.get("authorization"))
    client_id, secret = basic or (fields.get("client_id", ""), fields.get("client_secret", ""))
    expected = world.clients.get(client_id)
    if expected is None or not hmac.compare_digest(expected.encode(), secret.encode()):
        return _oauth_error(
            401, "unauthorized_client", "Invalid client or Invalid client credentials"
        )
    return JSONResponse(
        {
            "access_token": issue(world),
            "expires_in": world.token_ttl_seconds,
            "refresh_expires_in": 0,
            "token_type": "Bearer",
            "not-before-policy": 0,
            "scope": "profile email",
        }
    )
