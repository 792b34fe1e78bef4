"""The demo's second wiring, "through the bridge": ION stand-in → `bridge serve` → Violet stand-in.

Set up the way an operator would, but in this process and with nothing read from the user's
environment or config file, so `bridge demo` works with no settings at all (and ignores any
`BRIDGE_*` variables a user happens to have set): a fresh SQLite database in a temporary folder,
settings built in code, `bridge setup` (its `run_setup`) provisioning the receiver and the
subscriptions in the ION stand-in, then the real bridge (`build_bridge` + `create_app`) served by
uvicorn on a loopback port. Intervals are scaled down so a reconciliation interval passes in
seconds rather than a minute.
"""

from __future__ import annotations

import asyncio
import secrets
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from bridge import operate
from bridge.app import create_app
from bridge.bootstrap import Bridge, build_bridge, migrate
from bridge.ion.client import IonClient
from bridge.provision.run import SetupResult, run_setup
from bridge.reconcile.service import ReconcileService, service_of
from bridge.sandbox.demo import RESOURCES, Settle, Settled, StandIns
from bridge.sandbox.report import compare, fetch_truth, fetch_view
from bridge.sandbox.serving import ServerThread, free_port
from bridge.settings import Settings, load_settings
from bridge.store.db import make_engine
from bridge.ui.capture import CHROMEDRIVER, CHROMIUM, browser_available, capture_status_page

Echo = Callable[[str], None]

#: Scaled down from the defaults (60 s, 10 s, 30 s / 300 s) so the demo shows a whole
#: reconciliation interval passing; the ratios between them are kept.
RECONCILE_INTERVAL_SECONDS = 5.0
NEW_LINE_POLL_SECONDS = 1.0
SETTLE_DELAYS_SECONDS = (1.0, 2.5)


def demo_settings(stands: StandIns, *, port: int, database_url: str, admin_token: str) -> Settings:
    """The bridge's settings for the demo, from code only: `environ={}` keeps the user's
    `BRIDGE_*` variables and `BRIDGE_CONFIG` out; only `config/bridge.toml`'s defaults remain."""
    overrides: dict[str, Any] = {
        "ion_api_url": stands.ion_url,
        "ion_token_url": stands.token_url,
        "ion_client_id": stands.client_id,
        "ion_client_secret": stands.client_secret,
        "ion_retry_base_seconds": 0.05,
        "violet_webhook_url": stands.hook_url,
        # ION itself insists on https; the stand-in and the bridge both live on loopback.
        "public_url": f"http://127.0.0.1:{port}",
        "allow_insecure_public_url": True,
        "host": "127.0.0.1",
        "port": port,
        "database_url": database_url,
        "admin_token": admin_token,
        # The stand-in's ResourceEnum holds only these five; the default list has more.
        "subscribe_resources": list(RESOURCES),
        "reconcile_interval_seconds": RECONCILE_INTERVAL_SECONDS,
        "reconcile_new_line_poll_seconds": NEW_LINE_POLL_SECONDS,
        "reconcile_settle_delays_seconds": list(SETTLE_DELAYS_SECONDS),
        # One clock on one machine: no skew to cover, and a short window keeps each run small.
        "reconcile_overlap_seconds": 10,
        "delivery_poll_seconds": 0.1,
        "delivery_retry_schedule": [0.2, 0.5, 1, 2, 5],
        # A reconciliation run still going when the demo ends need not be waited for.
        "shutdown_grace_seconds": 2,
    }
    return load_settings({}, overrides=overrides)


def provision(settings: Settings, echo: Echo) -> SetupResult:
    """`bridge setup` against the ION stand-in, its report shortened to one line per kind of
    change (the full plan lists every subscription, which would bury the demo's story)."""

    async def setup() -> SetupResult:
        engine = make_engine(settings.database_url)
        try:
            migrate(engine)
            async with IonClient(settings) as ion:
                return await run_setup(ion, settings, engine, echo=lambda _: None)
        finally:
            engine.dispose()

    result = asyncio.run(setup())
    echo(f"  bridge setup: {len(result.done)} changes in ION")
    echo(f"    receiver URL {result.plan.desired.webhook_uri}")
    subscriptions = [line for line in result.done if line.startswith("subscribed to ")]
    for line in result.done:
        if line not in subscriptions:
            echo(f"    ✓ {line}")
    if subscriptions:
        actions = " and ".join(settings.subscribe_actions)
        resources = len(settings.subscribe_resources)
        echo(f"    ✓ {len(subscriptions)} subscriptions ({actions} of {resources} resources)")
    return result


def last_ion_change(stands: StandIns) -> datetime:
    """When ION last wrote a tracked object (late-field follow-up writes included)."""
    stamps = [row["_updated"] for table in RESOURCES for row in stands.ion.rows(table)]
    return max(stamps, default=datetime.now(UTC))


def wait_for_violet(stands: StandIns, *, bound: float) -> float | None:
    """Seconds from ION's last change until Violet's view matched ION's truth on every tracked
    field; None if it did not within `bound` seconds of that change."""
    changed = last_ion_change(stands)
    pause = threading.Event()
    with httpx.Client(timeout=10) as http:
        while True:
            elapsed = (datetime.now(UTC) - changed).total_seconds()
            truth = fetch_truth(stands.ion_url, client=http)
            if compare(truth, fetch_view(stands.violet_url, client=http)).converged:
                return max(elapsed, 0.0)
            if elapsed >= bound:
                return None
            pause.wait(0.1)


class ThroughBridge:
    """A `Wire` (call it with the stand-ins): ION → bridge → Violet, provisioned by `setup`."""

    description = (
        "ION → bridge → Violet: provisioned by `bridge setup`, run by `bridge serve`, "
        f"reconciling every {RECONCILE_INTERVAL_SECONDS:g} s"
    )

    def __init__(self, *, echo: Echo = lambda _: None, screenshot: Path | None = None) -> None:
        self.echo = echo
        self.screenshot = screenshot

    @contextmanager
    def __call__(self, stands: StandIns) -> Iterator[Settle]:
        with ExitStack() as stack:
            # A fresh database every run: the demo starts from nothing, like a first install.
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bridge-demo-")))
            port = free_port()
            token = secrets.token_urlsafe(24)  # the status page's sign-in, for the screenshot
            settings = demo_settings(
                stands,
                port=port,
                database_url=f"sqlite:///{folder / 'bridge.db'}",
                admin_token=token,
            )
            provision(settings, self.echo)
            bridge = build_bridge(settings)
            server = ServerThread(create_app(bridge), port=port)
            server.start()
            stack.callback(server.stop)
            self.echo(
                f"  bridge serve: listening on {server.url}, reconciling every "
                f"{RECONCILE_INTERVAL_SECONDS:g} s,\n    polling for new PO lines every "
                f"{NEW_LINE_POLL_SECONDS:g} s"
            )

            def settle() -> Settled:
                return self._settle(stands, bridge, server.url, token)

            yield settle

    def _settle(self, stands: StandIns, bridge: Bridge, url: str, token: str) -> Settled:
        """Wait for Violet to be right (one interval at most), then gather the figures."""
        bound = RECONCILE_INTERVAL_SECONDS
        converged_after = wait_for_violet(stands, bound=bound)
        if converged_after is None:
            self.echo(f"  Violet still differs from ION {bound:g} s after ION's last change")
        else:
            self.echo(
                f"  Violet matches ION on every tracked field {converged_after:.1f} s "
                "after ION's last change"
            )
        figures = Figures.read(stands, service_of(bridge))
        if self.screenshot is not None:
            # The page checks ION for drift in the background; have the answer on the picture.
            drift = operate.install(bridge).drift
            if drift is not None:
                drift.refresh_now()
        shot = screenshot_line(self.screenshot, url, token)
        return Settled(
            converged_after=converged_after, bound=bound, report=(*figures.render(), shot)
        )


#: The kinds of repair `bridge.reconcile.repairs` tells apart, in words, in the gaps' order.
KIND_LABELS = {
    "new_line": "new PO line (ION sent nothing)",
    "empty_to_populated": "field filled in (empty → value)",
    "linked": "linked object (sent as an id)",
    "late_fields": "filled in just after creation",
    "new_object": "object Violet never got",
    "drift": "anything else (lost, out of order)",
}


@dataclass(frozen=True, kw_only=True)
class Figures:
    """What the bridge did for the day: gap-closure times per kind and the events Violet got."""

    gap_closure: dict[str, Any]
    repairs: int
    forwarded: int
    changed_objects: int

    @classmethod
    def read(cls, stands: StandIns, service: ReconcileService | None) -> Figures:
        origins = [r["headers"].get("x-bridge-origin") for r in stands.violet.requests()]
        # The day starts from an empty ION: every object ION holds was created (changed) today.
        truth = fetch_truth(stands.ion_url)
        return cls(
            gap_closure=_gap_closure(service),
            repairs=origins.count("reconcile"),
            forwarded=origins.count("ion"),
            changed_objects=sum(len(objects) for objects in truth.values()),
        )

    def render(self) -> tuple[RenderableType, ...]:
        table = Table(title="Gap closure through the bridge: ION's change → Violet right")
        table.add_column("kind of repair")
        table.add_column("repairs", justify="right")
        table.add_column("median", justify="right")
        table.add_column("max", justify="right")
        for kind, figures in _in_gap_order(self.gap_closure):
            table.add_row(
                KIND_LABELS.get(kind, kind),
                str(figures["count"]),
                f"{figures['median_s']:.1f} s",
                f"{figures['max_s']:.1f} s",
            )
        per_object = self.repairs / max(self.changed_objects, 1)
        events = Text(
            f"Repair events sent to Violet: {self.repairs} for {self.changed_objects} changed "
            f"objects ({per_object:.2f} per object),\nbesides the {self.forwarded} events "
            "ION sent, forwarded as they came."
        )
        return (table, events) if self.gap_closure else (events,)


def _gap_closure(service: ReconcileService | None) -> dict[str, Any]:
    if service is None:
        return {}
    # The bridge's event loop (another thread) may record a sample while this one reads.
    for _ in range(3):
        try:
            return service.gap_closure()
        except RuntimeError:
            threading.Event().wait(0.05)
    return service.gap_closure()


def _in_gap_order(gaps: dict[str, Any]) -> list[tuple[str, Any]]:
    order = list(KIND_LABELS)
    return sorted(gaps.items(), key=lambda item: order.index(item[0]) if item[0] in order else 99)


def screenshot_line(path: Path | None, url: str, token: str) -> Text:
    """Take the status page's screenshot if a browser is here; say where it is, or why not."""
    if path is None:
        return Text("Status page: no screenshot asked for.", style="dim")
    if not browser_available():
        return Text(
            f"Status page: screenshot skipped, Chromium is not installed ({CHROMIUM} with "
            f"{CHROMEDRIVER}).",
            style="dim",
        )
    try:
        capture_status_page(url, token, path)
    except ImportError as exc:  # Selenium comes with the test extras only
        return Text(f"Status page: screenshot skipped ({exc}).", style="dim")
    except Exception as exc:  # a broken browser must not spoil the demo's result
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return Text(f"Status page: screenshot failed ({reason}).", style="yellow")
    return Text(f"Status page: screenshot of the bridge's status page written to {path}.")
