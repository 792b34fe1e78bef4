"""Who can see the status page: nobody without the token, the cookie's flags, CSRF on forms."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx

from bridge.store.models import DeliveryStatus
from tests.ui.conftest import ADMIN_TOKEN, NOW, RecordingResend
from tests.ui.factories import add_delivery


def sign_in(client: httpx.Client, token: str = ADMIN_TOKEN) -> None:
    response = client.post("/login", data={"token": token}, follow_redirects=False)
    assert response.status_code == 303, response.text


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert match, "the page has no CSRF field"
    return match.group(1)


def test_without_admin_token_there_is_no_page(make_client: Callable[..., httpx.Client]) -> None:
    """With BRIDGE_ADMIN_TOKEN unset every UI route is the app's plain 404."""
    client = make_client(token=None)
    for method, path in [
        ("GET", "/"),
        ("GET", "/login"),
        ("POST", "/login"),
        ("GET", "/ui/style.css"),
    ]:
        response = client.request(method, path, data={"token": "x"})
        assert response.status_code == 404
        assert response.text == "Not Found"
        assert "set-cookie" not in response.headers


def test_page_redirects_to_sign_in(make_client: Callable[..., httpx.Client]) -> None:
    """Without a session `/` shows nothing but a redirect to the sign-in form."""
    response = make_client().get("/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert response.text == ""


def test_wrong_token_is_rejected(make_client: Callable[..., httpx.Client]) -> None:
    """A wrong token gets 401, no cookie, and the page stays closed."""
    client = make_client()
    for wrong in ("", ADMIN_TOKEN[:-1], ADMIN_TOKEN + "0", "Bearer " + ADMIN_TOKEN):
        response = client.post("/login", data={"token": wrong}, follow_redirects=False)
        assert response.status_code == 401
        assert "set-cookie" not in response.headers
        assert "not valid" in response.text
    assert client.get("/", follow_redirects=False).status_code == 303


def test_cookie_flags_over_https(make_client: Callable[..., httpx.Client]) -> None:
    """Over https the session cookie is Secure, HttpOnly, SameSite=Strict and holds no token."""
    client = make_client()
    # A TLS-terminating proxy on loopback: uvicorn trusts it and serves the request as https.
    https = {"X-Forwarded-Proto": "https"}
    response = client.post(
        "/login", data={"token": ADMIN_TOKEN}, headers=https, follow_redirects=False
    )
    cookie = response.headers["set-cookie"]
    flags = {part.strip().lower() for part in cookie.split(";")}
    assert {"secure", "httponly", "samesite=strict"} <= flags
    assert ADMIN_TOKEN not in cookie
    value = cookie.split(";")[0]
    page = client.get("/", headers={**https, "Cookie": value}, follow_redirects=False)
    assert page.status_code == 200


def test_cookie_is_not_secure_over_plain_http(make_client: Callable[..., httpx.Client]) -> None:
    """Over plain http the cookie is not Secure (the browser would drop it) but stays strict."""
    client = make_client()
    cookie = client.post("/login", data={"token": ADMIN_TOKEN}, follow_redirects=False).headers[
        "set-cookie"
    ]
    flags = {part.strip().lower() for part in cookie.split(";")}
    assert "secure" not in flags
    assert {"httponly", "samesite=strict"} <= flags


def test_forged_cookie_is_not_a_session(make_client: Callable[..., httpx.Client]) -> None:
    """A cookie not signed with the admin token's key opens nothing."""
    client = make_client()
    client.cookies.set("bridge_session", "9999999999.abcdef")
    assert client.get("/", follow_redirects=False).status_code == 303


def test_page_carries_security_headers(make_client: Callable[..., httpx.Client]) -> None:
    """The page forbids scripts, framing and caching."""
    client = make_client()
    sign_in(client)
    response = client.get("/")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-frame-options"] == "DENY"
    assert "<script" not in response.text


def test_resend_needs_the_csrf_token(
    make_client: Callable[..., httpx.Client], engine: object, resend: RecordingResend
) -> None:
    """A resend POST without this session's form token queues nothing."""
    failed = add_delivery(engine, now=NOW, status=DeliveryStatus.FAILED, status_code=400)  # type: ignore[arg-type]
    client = make_client()
    sign_in(client)
    for csrf in ("", "0" * 64):
        response = client.post(
            f"/ui/deliveries/{failed.id}/resend", data={"csrf": csrf}, follow_redirects=False
        )
        assert response.headers["location"] == "/?notice=bad-form"
    assert resend.calls == []
    anonymous = make_client()
    response = anonymous.post(f"/ui/deliveries/{failed.id}/resend", follow_redirects=False)
    assert response.headers["location"] == "/login"
    assert resend.calls == []


def test_resend_button_queues_the_delivery(
    make_client: Callable[..., httpx.Client], engine: object, resend: RecordingResend
) -> None:
    """Pressing resend with a valid form queues the delivery and the row shows the copy."""
    failed = add_delivery(
        engine,  # type: ignore[arg-type]
        now=NOW,
        status=DeliveryStatus.FAILED,
        status_code=400,
        attempts=[(30, "failed", 400, "bad payload: missing id")],
    )
    client = make_client()
    sign_in(client)
    page = client.get("/").text
    assert "bad payload: missing id" in page
    response = client.post(
        f"/ui/deliveries/{failed.id}/resend", data={"csrf": csrf_of(page)}, follow_redirects=False
    )
    assert response.headers["location"] == "/?notice=resent"
    assert resend.calls == [failed.id]
    page = client.get("/?notice=resent").text
    assert "Queued again" in page
    assert f'id="resend-status-{failed.id}"' in page
    assert "pending" in page


def test_resend_of_unknown_delivery_says_so(
    make_client: Callable[..., httpx.Client], resend: RecordingResend
) -> None:
    """Resending an id that does not exist shows a notice instead of an error page."""
    client = make_client()
    sign_in(client)
    csrf = csrf_of(client.get("/").text)
    response = client.post(
        "/ui/deliveries/424242/resend", data={"csrf": csrf}, follow_redirects=True
    )
    assert response.status_code == 200
    assert "could not be queued" in response.text


def test_sign_out_ends_the_session(make_client: Callable[..., httpx.Client]) -> None:
    """After signing out the page asks for the token again."""
    client = make_client()
    sign_in(client)
    csrf = csrf_of(client.get("/").text)
    client.post("/logout", data={"csrf": csrf}, follow_redirects=False)
    assert client.get("/", follow_redirects=False).status_code == 303
