"""The admin API under `/api/*`, guarded by `Authorization: Bearer $BRIDGE_ADMIN_TOKEN`.

Every route under the mount is behind the same guard (`auth.AdminGuard`), so a route added by
another part of the bridge (reconciliation runs, status) is protected without doing anything:
append it to `Bridge.api_routes` before `create_app`. Without an admin token the whole of
`/api/*` answers 404, as if it did not exist.
"""

from __future__ import annotations

from pydantic import SecretStr
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount

from bridge.api.auth import AdminGuard

__all__ = ["api_mount"]


def api_mount(routes: list[BaseRoute], admin_token: SecretStr | None) -> Mount:
    """`routes` mounted at /api behind the bearer-token guard."""
    token = admin_token.get_secret_value() if admin_token is not None else ""
    return Mount("/api", routes=routes, middleware=[Middleware(AdminGuard, token=token)])
