"""The status page's HTTP face: sign-in, the page, and the resend button.

    GET  /                              the page (303 to /login without a session)
    GET  /login, POST /login            the admin token form; sets the session cookie
    POST /logout                        forgets the session
    POST /ui/deliveries/{id}/resend     queue a dead letter again (form with a CSRF token)
    GET  /ui/style.css                  the page's only asset, served from the package

None of these exist when `BRIDGE_ADMIN_TOKEN` is unset: the app answers its plain 404, so an
unconfigured bridge does not even reveal that it has a status page.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog
from pydantic import SecretStr
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.templating import Jinja2Templates

from bridge.errors import BridgeError
from bridge.ui import page
from bridge.ui.session import COOKIE_NAME, SESSION_SECONDS, SessionSigner, token_matches

log = structlog.get_logger(__name__)
HERE = Path(__file__).resolve().parent
#: No scripts at all, styles and images only from the bridge itself, never framed.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}
#: Notices the page can show after a redirect; the query string picks one, never supplies text.
NOTICES = {
    "resent": "Queued again; the row shows the resend's status.",
    "resend-failed": "That delivery could not be queued again (it may no longer exist).",
    "bad-form": "The form had expired; please try again.",
}

#: Queues a delivery again by id; raises LookupError (or a BridgeError) when it cannot.
Resend = Callable[[int], object]


def routes(
    *,
    admin_token: SecretStr | str | None,
    sources: page.Sources,
    resend: Resend,
    wake: Callable[[], None] | None = None,
    wall_clock: Callable[[], float] = time.time,
) -> list[BaseRoute]:
    """The status page's routes, or none at all when no admin token is configured.

    `resend` runs on a worker thread (it touches the database); `wake`, if given, runs on the
    event loop afterwards so the delivery worker sends the copy now rather than at its next poll.
    """
    token = admin_token.get_secret_value() if isinstance(admin_token, SecretStr) else admin_token
    if not token:
        return []
    signer = SessionSigner.for_token(token)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters["age"] = page.age

    def session_of(request: Request) -> str | None:
        value = request.cookies.get(COOKIE_NAME)
        return value if signer.valid(value, wall_clock()) else None

    def render(request: Request, name: str, status: int = 200, **context: Any) -> Response:
        response = templates.TemplateResponse(request, name, context, status_code=status)
        response.headers.update(SECURITY_HEADERS)
        return response

    async def status_page(request: Request) -> Response:
        session = session_of(request)
        if session is None:
            return RedirectResponse("/login", status_code=303)
        model = await run_in_threadpool(page.collect, sources)
        notice = NOTICES.get(request.query_params.get("notice", ""))
        return render(
            request,
            "status.html",
            page=model,
            csrf=signer.csrf_token(session),
            notice=notice,
            since=lambda moment: page.since(moment, model.now),
        )

    async def login(request: Request) -> Response:
        if request.method == "GET":
            return render(request, "login.html", error=None)
        form = await request.form()
        presented = form.get("token")
        if not isinstance(presented, str) or not token_matches(presented, token):
            log.info("ui.sign_in_refused", client=_client(request))
            return render(request, "login.html", status=401, error="That token is not valid.")
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(
            COOKIE_NAME,
            signer.issue(wall_clock()),
            max_age=SESSION_SECONDS,
            path="/",
            httponly=True,
            samesite="strict",
            # Secure whenever the page is reached over TLS (directly or via a trusted proxy
            # that uvicorn's proxy headers turned into an https scheme).
            secure=request.url.scheme == "https",
        )
        log.info("ui.signed_in", client=_client(request))
        return response

    async def logout(request: Request) -> Response:
        session = session_of(request)
        form = await request.form()
        response = RedirectResponse("/login", status_code=303)
        if session is not None and signer.csrf_valid(session, _field(form.get("csrf"))):
            response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="strict")
        return response

    async def resend_one(request: Request) -> Response:
        session = session_of(request)
        if session is None:
            return RedirectResponse("/login", status_code=303)
        form = await request.form()
        if not signer.csrf_valid(session, _field(form.get("csrf"))):
            return RedirectResponse("/?notice=bad-form", status_code=303)
        try:
            delivery_id = int(request.path_params["delivery_id"])
            await run_in_threadpool(resend, delivery_id)
        except (LookupError, ValueError, BridgeError) as exc:
            log.info("ui.resend_refused", error=type(exc).__name__)
            return RedirectResponse("/?notice=resend-failed", status_code=303)
        if wake is not None:
            wake()
        log.info("ui.resend_queued", delivery_id=delivery_id)
        return RedirectResponse("/?notice=resent", status_code=303)

    async def style(request: Request) -> Response:
        return FileResponse(HERE / "templates" / "style.css", media_type="text/css")

    return [
        Route("/", status_page, methods=["GET"]),
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/ui/deliveries/{delivery_id:int}/resend", resend_one, methods=["POST"]),
        Route("/ui/style.css", style, methods=["GET"]),
    ]


def _field(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _client(request: Request) -> str:
    return request.client.host if request.client else "?"
