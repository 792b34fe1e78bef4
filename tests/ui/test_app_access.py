"""The served app, as `bridge serve` builds it: what a visitor without the token can learn."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.ui.stack import ADMIN_TOKEN, running_stack

PATHS = ["/", "/login", "/ui/style.css", "/api/events", "/api/openapi.json", "/api/events/1"]


def test_without_admin_token_page_and_api_do_not_exist(tmp_path: Path) -> None:
    """With BRIDGE_ADMIN_TOKEN unset, `/` and `/api/*` are 404s that name nothing."""
    with running_stack(f"sqlite:///{tmp_path / 'b.db'}", tmp_path, admin_token=None) as stack:
        answers = {path: httpx.get(stack.url + path, timeout=10) for path in PATHS}
    for path, answer in answers.items():
        assert answer.status_code == 404, path
        assert "set-cookie" not in answer.headers
        assert answer.text in ("Not Found", '{"error":"not found"}'), path


def test_with_admin_token_nothing_is_shown_to_strangers(tmp_path: Path) -> None:
    """With the token set, a visitor without it gets a redirect to sign in or a bare 401."""
    wrong = {"Authorization": "Bearer " + ADMIN_TOKEN[:-1]}
    with running_stack(f"sqlite:///{tmp_path / 'b.db'}", tmp_path) as stack:
        page = httpx.get(stack.url + "/", timeout=10)
        api = [httpx.get(stack.url + p, timeout=10) for p in PATHS if p.startswith("/api")]
        api += [httpx.get(stack.url + p, headers=wrong, timeout=10) for p in PATHS[3:]]
    assert page.status_code == 303
    assert page.headers["location"] == "/login"
    assert page.text == ""
    for answer in api:
        assert answer.status_code == 401
        assert answer.json() == {"error": "unauthorized"}
