"""The status page in a real headless Chromium, against the whole bridge on loopback."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from bridge.ui.capture import browser_available, capture_status_page, chromium, sign_in
from tests.ui.stack import ADMIN_TOKEN, running_stack

pytestmark = pytest.mark.browser
IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(autouse=True)
def _need_chromium() -> None:
    if not browser_available():
        if IN_CI:
            pytest.fail("chromium / chromedriver are missing (CI installs them in .ci/run)")
        pytest.skip("chromium / chromedriver are not installed")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'bridge.db'}"


def test_sign_in_see_failure_resend_see_it_delivered(sqlite_url: str, tmp_path: Path) -> None:
    """An operator signs in, finds the delivery Violet refused, resends it, and sees it arrive."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with running_stack(sqlite_url, tmp_path) as stack:
        stack.violet_fault({"status": 400, "count": 1})
        stack.deliver()
        with chromium(tmp_path / "profile") as driver:
            # The sign-in form is the only way in: no session, no page.
            driver.get(stack.url + "/")
            assert driver.current_url.endswith("/login")
            sign_in(driver, stack.url, ADMIN_TOKEN)

            def failure_row(d: object) -> object:
                driver.refresh()
                rows = driver.find_elements(By.CSS_SELECTOR, "#failures tr[id^=failure-]")
                return rows[0] if rows else False

            row = WebDriverWait(driver, 20, poll_frequency=0.25).until(failure_row)
            assert "400" in row.text
            assert "fault" in row.text  # Violet's answer body, as the stand-in sent it
            delivery_id = int(row.get_attribute("id").removeprefix("failure-"))

            driver.find_element(By.ID, f"resend-{delivery_id}").click()
            # The click posts a form; the page that answers it carries the notice. Wait for that
            # page rather than reading the one still shown (a race CI lost once).
            notice = WebDriverWait(driver, 20, poll_frequency=0.1).until(
                lambda d: (found := driver.find_elements(By.ID, "notice")) and found[0]
            )
            assert "Queued again" in notice.text

            def delivered(d: object) -> bool:
                driver.refresh()
                found = driver.find_elements(By.ID, f"resend-status-{delivery_id}")
                return bool(found) and "delivered" in found[0].text

            WebDriverWait(driver, 20, poll_frequency=0.25).until(delivered)
            assert "/login" not in driver.current_url

        requests = stack.violet.requests()
        assert [r["status"] for r in requests] == [400, 200]
        resend = requests[1]["headers"]
        assert resend["x-bridge-origin"] == "resend"
        assert resend["x-bridge-resend-of"] == requests[0]["headers"]["webhook-id"]


def test_capture_status_page_writes_a_png(sqlite_url: str, tmp_path: Path) -> None:
    """The demo's screenshot helper signs in and writes a PNG of the whole page."""
    with running_stack(sqlite_url, tmp_path) as stack:
        stack.deliver()
        path = capture_status_page(stack.url, ADMIN_TOKEN, tmp_path / "var" / "status.png")
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 10_000
    assert re.fullmatch(r".*status\.png", str(path))
