"""IonClient over real HTTP against the ION stand-in, plus a MockTransport for what the stand-in
cannot be made to do (429, timeouts, a failing token endpoint)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
import pytest

from bridge.errors import IonAuthError, IonRejected, IonUnavailable
from bridge.ion.client import MAX_BACKOFF_SECONDS, IonClient, backoff_delay
from bridge.sandbox.serving import free_port
from bridge.settings import Settings, load_settings
from tests.ion.standin import CLIENT_SECRET, TOKEN_PATH, Ion, Recording, running_ion


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


class Sleeps(list[float]):
    """A stand-in for asyncio.sleep that records the delays instead of waiting."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


async def _receivers(client: IonClient) -> dict[str, Any]:
    return await client.execute("WebhookReceivers", {"first": 5})


def test_execute_returns_data_and_reuses_one_token(ion: Ion) -> None:
    """Several requests share one cached token; `execute` returns GraphQL `data`."""

    async def go() -> dict[str, Any]:
        async with IonClient(ion.settings()) as client:
            await _receivers(client)
            return await _receivers(client)

    assert run(go()) == {"webhookReceivers": {"edges": []}}
    assert ion.stats()["token_requests"] == 1


def test_resource_enum_is_read_by_introspection(ion: Ion) -> None:
    """The live ResourceEnum values come back as a list of names."""

    async def go() -> list[str]:
        async with IonClient(ion.settings()) as client:
            return await client.introspect_resource_enum()

    values = run(go())
    assert "PURCHASE_ORDERS" in values
    assert "PURCHASE_ORDER_LINES" in values


def test_a_401_gets_one_new_token_and_the_request_again(ion: Ion) -> None:
    """ION answering 401 once (token expired early) costs one token fetch, not an error."""
    ion.fault(unauthorized_once=True)

    async def go() -> None:
        async with IonClient(ion.settings()) as client:
            await _receivers(client)

    run(go())
    assert ion.stats()["token_requests"] == 2


def test_revoked_tokens_are_replaced_between_requests(ion: Ion) -> None:
    """Tokens revoked in ION between two requests are replaced transparently."""

    async def go() -> None:
        async with IonClient(ion.settings()) as client:
            await _receivers(client)
            ion.fault(revoke_tokens=True)
            await _receivers(client)

    run(go())
    assert ion.stats()["token_requests"] == 2


def test_token_is_refreshed_before_it_expires() -> None:
    """A token is replaced ahead of `expires_in` (minus the margin), without ION saying 401."""
    now = [0.0]
    recording = Recording()
    with running_ion(token_ttl_seconds=60) as ion:

        async def go() -> None:
            async with IonClient(
                ion.settings(), transport_factory=lambda: recording, clock=lambda: now[0]
            ) as client:
                await _receivers(client)
                now[0] = 30.0  # still fresh
                await _receivers(client)
                now[0] = 50.0  # inside the refresh margin of a 60 s token
                await _receivers(client)

        run(go())
        assert ion.stats()["token_requests"] == 2
    assert all(status == 200 for _path, status in recording.seen)


def test_502s_are_retried_with_backoff(ion: Ion) -> None:
    """ION's 502 (its 30-second limit) is retried after growing, jittered pauses."""
    ion.fault(graphql_502=2)
    sleeps = Sleeps()

    async def go() -> dict[str, Any]:
        async with IonClient(ion.settings(), sleep=sleeps) as client:
            return await _receivers(client)

    assert run(go()) == {"webhookReceivers": {"edges": []}}
    assert len(sleeps) == 2
    assert ion.stats()["graphql_requests"] == 3


def test_gives_up_after_the_retries_naming_the_url(ion: Ion) -> None:
    """Past `ion_max_retries`, a lasting 502 becomes IonUnavailable naming ION's URL."""
    ion.fault(graphql_502=50)
    sleeps = Sleeps()
    settings = ion.settings(ion_max_retries=2)

    async def go() -> None:
        async with IonClient(settings, sleep=sleeps) as client:
            await _receivers(client)

    with pytest.raises(IonUnavailable) as caught:
        run(go())
    assert f"{ion.url}/graphql" in str(caught.value)
    assert "3 attempts" in str(caught.value)
    assert len(sleeps) == 2


def test_unreachable_ion_is_unavailable_after_retries() -> None:
    """Nothing listening: connection errors are retried, then reported with the URL only."""
    url = f"http://127.0.0.1:{free_port()}"
    settings = _settings(url, ion_max_retries=1)
    sleeps = Sleeps()

    async def go() -> None:
        async with IonClient(settings, sleep=sleeps) as client:
            await _receivers(client)

    with pytest.raises(IonUnavailable) as caught:
        run(go())
    assert url in str(caught.value)
    assert CLIENT_SECRET not in str(caught.value)
    assert len(sleeps) == 1


def test_wrong_client_secret_is_an_auth_error_without_the_secret(ion: Ion) -> None:
    """The token endpoint refusing the key is IonAuthError (exit 3), never echoing the secret."""
    settings = ion.settings(ion_client_secret="not-the-secret-xyz")

    async def go() -> None:
        async with IonClient(settings) as client:
            await _receivers(client)

    with pytest.raises(IonAuthError) as caught:
        run(go())
    assert caught.value.exit_code == 3
    assert "not-the-secret-xyz" not in str(caught.value)
    assert "sandbox-client" in str(caught.value)
    assert ion.stats()["token_requests"] == 1  # refused credentials are not retried


def test_graphql_errors_are_rejected_with_ions_message(ion: Ion) -> None:
    """A GraphQL `errors` answer is IonRejected carrying ION's words, and is not retried."""

    async def go() -> None:
        async with IonClient(ion.settings()) as client:
            await client.execute("DeleteWebhookSubscription", {"id": "999", "etag": "nope"})

    with pytest.raises(IonRejected) as caught:
        run(go())
    assert "999" in str(caught.value)
    assert ion.stats()["graphql_requests"] == 1


# -- MockTransport: answers the stand-in cannot be made to give ---------------------------------

Handler = Callable[[httpx.Request], httpx.Response]
BASE = "https://ion.test"


def _settings(base: str = BASE, **overrides: Any) -> Settings:
    env = {
        "BRIDGE_ION_API_URL": base,
        "BRIDGE_ION_TOKEN_URL": base + TOKEN_PATH,
        "BRIDGE_ION_CLIENT_ID": "sandbox-client",
        "BRIDGE_ION_CLIENT_SECRET": CLIENT_SECRET,
        "BRIDGE_ION_RETRY_BASE_SECONDS": "0.01",
    }
    return load_settings(env, overrides=overrides)


def _fake_ion(graphql: list[Handler], token: Handler | None = None) -> Callable[[], Any]:
    """A MockTransport: the token endpoint answers `token` (default: a token), and each GraphQL
    request is answered by the next handler in `graphql` (the last one repeats)."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == TOKEN_PATH:
            if token is not None:
                return token(request)
            return httpx.Response(200, json={"access_token": "tok-1", "expires_in": 300})
        graphql_seen = [r for r in seen if r.url.path == "/graphql"]
        return graphql[min(len(graphql_seen), len(graphql)) - 1](request)

    factory = lambda: httpx.MockTransport(handle)  # noqa: E731 (a one-line factory)
    factory.seen = seen  # type: ignore[attr-defined]
    return factory


def _ok(_request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"data": {"webhookReceivers": {"edges": []}}})


def _run_mock(factory: Callable[[], Any], settings: Settings | None = None) -> Sleeps:
    sleeps = Sleeps()

    async def go() -> None:
        async with IonClient(
            settings or _settings(), transport_factory=factory, sleep=sleeps
        ) as client:
            await _receivers(client)

    run(go())
    return sleeps


@pytest.mark.parametrize(("style", "expected"), [("bearer", "Bearer tok-1"), ("raw", "tok-1")])
def test_authorization_header_style_is_a_setting(style: str, expected: str) -> None:
    """`ion_auth_header_style` picks `Bearer <t>` or the bare token (ION's docs disagree)."""
    factory = _fake_ion([_ok])
    _run_mock(factory, _settings(ion_auth_header_style=style))
    graphql = [r for r in factory.seen if r.url.path == "/graphql"]  # type: ignore[attr-defined]
    assert graphql[0].headers["Authorization"] == expected


def test_token_request_is_a_client_credentials_form() -> None:
    """The token is asked for with a form-encoded client_credentials grant."""
    factory = _fake_ion([_ok])
    _run_mock(factory)
    token_request = factory.seen[0]  # type: ignore[attr-defined]
    form = dict(httpx.QueryParams(token_request.content.decode()))
    assert form == {
        "grant_type": "client_credentials",
        "client_id": "sandbox-client",
        "client_secret": CLIENT_SECRET,
    }


def test_429_is_retried() -> None:
    """Rate limiting (429) is transient: retried, then the answer is used."""
    factory = _fake_ion([lambda r: httpx.Response(429, json={"errors": []}), _ok])
    assert len(_run_mock(factory)) == 1


def test_timeouts_are_retried() -> None:
    """A read timeout is transient: retried."""

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    assert len(_run_mock(_fake_ion([slow, _ok]))) == 1


def test_token_endpoint_5xx_is_retried() -> None:
    """The auth server's own 503 is transient too."""
    answers = iter([httpx.Response(503), httpx.Response(200, json={"access_token": "t"})])
    assert len(_run_mock(_fake_ion([_ok], token=lambda r: next(answers)))) == 1


def test_403_is_rejected_with_a_permission_hint() -> None:
    """A 403 is not retried and says the API key may lack a permission."""
    factory = _fake_ion([lambda r: httpx.Response(403, text="Forbidden")])
    with pytest.raises(IonRejected, match="permission"):
        _run_mock(factory)


def test_a_second_401_is_an_auth_error() -> None:
    """A fresh token refused again means the key cannot use the API: IonAuthError (exit 3)."""
    factory = _fake_ion([lambda r: httpx.Response(401, json={"message": "Unauthorized"})])
    with pytest.raises(IonAuthError):
        _run_mock(factory)
    tokens = [r for r in factory.seen if r.url.path == TOKEN_PATH]  # type: ignore[attr-defined]
    assert len(tokens) == 2


def test_a_non_graphql_answer_is_rejected() -> None:
    """An HTML page with 200 (a misrouted URL) is reported, not retried or half-parsed."""
    factory = _fake_ion([lambda r: httpx.Response(200, text="<html>login</html>")])
    with pytest.raises(IonRejected, match="GraphQL"):
        _run_mock(factory)


def test_backoff_doubles_is_capped_and_jittered() -> None:
    """Retry pauses double from the base, never pass the cap, and jitter stays within half."""
    assert backoff_delay(0, 1.0, 0.0) == 0.5
    assert backoff_delay(0, 1.0, 0.999) < 1.0
    assert backoff_delay(3, 1.0, 0.0) == 4.0
    assert backoff_delay(30, 1.0, 0.999) <= MAX_BACKOFF_SECONDS


def test_variables_are_sent_as_json() -> None:
    """Variables travel in the JSON body with the operation named after its file."""
    factory = _fake_ion([_ok])

    async def go() -> None:
        async with IonClient(_settings(), transport_factory=factory) as client:
            await client.execute("WebhookReceivers", {"first": 7})

    run(go())
    graphql = [r for r in factory.seen if r.url.path == "/graphql"]  # type: ignore[attr-defined]
    body = json.loads(graphql[0].content)
    assert body["variables"] == {"first": 7}
    assert body["operationName"] == "WebhookReceivers"
