"""ION's failures, translated into the bridge's error tree in one function, `translate`.

    foreign error                                      ours              retried by IonClient
    httpx.TransportError, gql TransportConnectionFailed IonUnavailable    yes, with backoff
    TimeoutError (gql's execute timeout)                IonUnavailable    yes, with backoff
    HTTP 5xx or 429 (gql TransportServerError)          IonUnavailable    yes, with backoff
    HTTP 401 from /graphql                              TokenRejected     once, with a new token
    HTTP 400/401 from the token endpoint                IonAuthError      no (exit 3)
    GraphQL `errors` (gql TransportQueryError)          IonRejected       no
    another 4xx, or an answer that is not GraphQL       IonRejected       no

Messages name the URL and ION's own words, never a credential: the client secret travels only in
the token request's form body and the token only in a header, and neither is part of an exception
text that httpx or gql produce.
"""

from __future__ import annotations

from typing import Any

import httpx
from gql.transport.exceptions import (
    TransportConnectionFailed,
    TransportProtocolError,
    TransportQueryError,
    TransportServerError,
)

from bridge.errors import IonAuthError, IonError, IonRejected, IonUnavailable


class TokenRejected(IonAuthError):
    """ION answered 401 to a GraphQL request: the token expired or was revoked."""


def is_transient_status(status: int) -> bool:
    """Statuses worth retrying: ION's 30-second 502, other 5xx, and rate limiting."""
    return status >= 500 or status == 429


def translate(exc: BaseException, url: str) -> IonError:
    """The bridge's error for a failure while talking to ION at `url`."""
    if isinstance(exc, IonError):
        return exc
    if isinstance(exc, TransportQueryError):
        return IonRejected(f"ION rejected the request: {_graphql_messages(exc.errors, exc)}")
    if isinstance(exc, TransportServerError):
        return _from_status(exc.code or 0, url, str(exc))
    if isinstance(exc, httpx.HTTPStatusError):
        return _from_status(exc.response.status_code, url, _short(exc.response.text))
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return IonUnavailable(f"ION at {url} did not answer in time")
    if isinstance(exc, TransportConnectionFailed | httpx.TransportError | OSError):
        return IonUnavailable(f"cannot reach ION at {url}: {_reason(exc)}")
    if isinstance(exc, TransportProtocolError):
        return IonRejected(f"ION at {url} did not answer with GraphQL: {_short(str(exc))}")
    return IonError(f"talking to ION at {url} failed: {type(exc).__name__}: {_short(str(exc))}")


def _from_status(status: int, url: str, detail: str) -> IonError:
    if is_transient_status(status):
        return IonUnavailable(f"ION at {url} answered HTTP {status}")
    if status == 401:
        return TokenRejected(f"ION at {url} refused the access token (HTTP 401)")
    if status == 403:
        return IonRejected(
            f"ION at {url} denied the request (HTTP 403): the API key may lack a permission"
        )
    return IonRejected(f"ION at {url} answered HTTP {status}: {_short(detail)}")


def _graphql_messages(errors: list[Any] | None, exc: Exception) -> str:
    messages = [str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors or []]
    return "; ".join(messages) if messages else str(exc)


def _reason(exc: BaseException) -> str:
    """The innermost cause's text: gql wraps httpx which wraps the socket error."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return _short(str(exc)) or type(exc).__name__


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
