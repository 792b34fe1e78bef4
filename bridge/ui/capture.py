"""Drive headless Chromium (Debian's `chromium` + `chromedriver`) against a running status page.

Used by the browser tests and by the demo, which keeps a screenshot under `var/` so a reader can
see the page without running anything. Selenium is imported lazily: it is a test dependency, and
the bridge itself never needs a browser.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
#: Flags for a quiet, self-contained browser: no sandbox (containers, root), no background
#: traffic to Google's services, no first-run UI.
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1280,1600",
)


def browser_available() -> bool:
    """True when Chromium and its driver are installed where Debian puts them."""
    return Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()


@contextmanager
def chromium(profile_dir: Path | None = None) -> Iterator[WebDriver]:
    """A headless Chromium under Selenium with a fresh profile, quit afterwards."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    owned = profile_dir is None
    profile = Path(tempfile.mkdtemp(prefix="bridge-chromium-")) if owned else profile_dir
    assert profile is not None
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        driver.set_page_load_timeout(30)
        yield driver
    finally:
        driver.quit()
        if owned:
            shutil.rmtree(profile, ignore_errors=True)


def sign_in(driver: WebDriver, url: str, token: str) -> None:
    """Open the page at `url` and sign in with the admin token through the form."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url.rstrip("/") + "/login")
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.ID, "sign-in").click()
    WebDriverWait(driver, 15).until(ec.presence_of_element_located((By.ID, "destination")))


def capture_status_page(url: str, token: str, path: Path) -> Path:
    """Sign in to the status page at `url`, save a full-page PNG at `path`, return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with chromium() as driver:
        sign_in(driver, url, token)
        # Size the window to the whole page so one screenshot holds every section.
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1280, max(int(height) + 40, 800))
        if not driver.save_screenshot(str(path)):
            raise RuntimeError(f"Chromium could not write the screenshot {path}")
    return path
