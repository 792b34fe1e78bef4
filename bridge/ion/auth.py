"""ION access tokens: an OAuth2 client-credentials grant, cached until shortly before expiry.

ION's auth server is Keycloak (ion.md, known): a form-encoded POST of `grant_type`,
`client_id` and `client_secret` answers `access_token` and, in standard Keycloak, `expires_in`.
The token is refreshed ahead of `expires_in` by a margin, so a long run never sends a token that
expires in flight; a 401 from /graphql still invalidates it (ION may revoke tokens early).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from bridge.errors import IonAuthError, IonRejected, IonUnavailable
from bridge.ion.errors import is_transient_status, translate
from bridge.settings import Settings

#: Used when the token answer has no `expires_in`: short, so a 401 is rarely needed to notice.
DEFAULT_LIFETIME_SECONDS = 60.0


def refresh_margin(lifetime: float) -> float:
    """How long before expiry a token is replaced: a fifth of its life, at most a minute."""
    return min(60.0, lifetime / 5)


@dataclass(frozen=True)
class Token:
    value: str
    refresh_at: float  # on the client's monotonic clock

    def fresh(self, now: float) -> bool:
        return now < self.refresh_at


def authorization(token: str, style: str) -> str:
    """The `Authorization` header value: ION's docs disagree, so the style is a setting."""
    return token if style == "raw" else f"Bearer {token}"


class TokenSource:
    """Hands out a valid access token, fetching a new one only when needed."""

    def __init__(
        self, http: httpx.AsyncClient, settings: Settings, *, clock: Callable[[], float]
    ) -> None:
        self._http = http
        self._url = settings.require("ion_token_url")
        self._client_id = settings.require("ion_client_id")
        self._client_secret = settings.require("ion_client_secret")
        self._clock = clock
        self._token: Token | None = None
        # Concurrent requests that find the token stale wait for one fetch, not one each.
        self._lock = asyncio.Lock()

    async def token(self) -> str:
        async with self._lock:
            if self._token is None or not self._token.fresh(self._clock()):
                self._token = await self._fetch()
            return self._token.value

    def invalidate(self, value: str) -> None:
        """Forget `value` (refused by ION); a token fetched meanwhile by another task is kept."""
        if self._token is not None and self._token.value == value:
            self._token = None

    async def _fetch(self) -> Token:
        started = self._clock()
        try:
            response = await self._http.post(
                self._url,
                data={
                    "grant_type": "client_credentials",
                    "client_id": self._client_id,
                    "client_secret": self._client_secret,
                },
                headers={"Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise translate(exc, self._url) from exc
        status = response.status_code
        if status in (400, 401):
            # Keycloak answers invalid_client / unauthorized_client here: wrong id or secret.
            raise IonAuthError(
                f"ION refused the API key (client id {self._client_id!r}) at {self._url}: "
                f"HTTP {status} {_oauth_error(response)}".rstrip()
            )
        if is_transient_status(status):
            raise IonUnavailable(f"ION's token endpoint {self._url} answered HTTP {status}")
        if status != 200:
            raise IonRejected(
                f"ION's token endpoint {self._url} answered HTTP {status}; "
                "check BRIDGE_ION_TOKEN_URL / BRIDGE_ION_ENVIRONMENT"
            )
        try:
            body = response.json()
            value = str(body["access_token"])
            lifetime = float(body.get("expires_in") or DEFAULT_LIFETIME_SECONDS)
        except (ValueError, KeyError, TypeError):
            raise IonRejected(
                f"ION's token endpoint {self._url} answered without an access_token"
            ) from None
        return Token(value=value, refresh_at=started + lifetime - refresh_margin(lifetime))


def _oauth_error(response: httpx.Response) -> str:
    """The OAuth `error` code (e.g. invalid_client); never the description, which may echo input."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return ""
    return f"({error})" if isinstance(error, str) and error.isidentifier() else ""
