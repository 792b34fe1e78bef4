"""Inputs the fuzz run found that make the admin API answer 500 instead of 400/404.

The handlers belong to forwarding (bridge/api/events.py, bridge/delivery/log.py) and
reconciliation (bridge/reconcile/api.py): `str.isdigit()` is true for '¹' and '٣', which `int()`
then rejects, and ids beyond 64 bits overflow the database driver. Each case must answer the
client error, never a 500.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.ui.stack import ADMIN_TOKEN, Stack, running_stack

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
HUGE = str(2**70)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("edges")
    with running_stack(f"sqlite:///{tmp / 'bridge.db'}", tmp, reconcile=True) as running:
        yield running


CASES = [
    ("GET", "/api/events?cursor=" + HUGE, 400),
    ("GET", "/api/events?limit=%C2%B9", 400),  # '¹'
    ("GET", "/api/events/%C2%B9", 404),
    ("GET", "/api/events/" + HUGE, 404),
    ("POST", "/api/events/%C2%B9/resend", 404),
    ("GET", "/api/reconcile/runs?limit=%C2%B9", 400),
]


@pytest.mark.parametrize(("method", "path", "expected"), CASES)
def test_out_of_range_numbers_are_client_errors(
    stack: Stack, method: str, path: str, expected: int
) -> None:
    """A number the API cannot use is the client's error (4xx), never a 500."""
    response = httpx.request(method, stack.url + path, headers=AUTH, timeout=10)
    assert response.status_code == expected
