"""`bridge demo`'s machinery: stand-ins, wirings, one scripted day played per wiring, measured.

A *wiring* is how ION's changes reach Violet. `direct` is Violet's documented setup: an ION
webhook receiver with only `name` and `webhookUri` (Violet's capability URL), subscribed to CREATE
and UPDATE of every resource. "through the bridge" (`bridge.sandbox.through_bridge`) puts
`bridge setup` and `bridge serve` in between. Each wiring gets its own fresh pair of stand-ins and
the same day (same seed), so the columns of the table differ only by the wiring.

A `Wire` is a context manager factory: entering it connects ION to Violet for the given stand-ins
and yields a `settle` callable, which `run_wiring` calls once ION's own webhook queue has drained,
to let whatever sits in between finish (an outbox, a reconciliation run) before measuring. It may
return a `Settled`: how long Violet took to become right, and more to report under the table.
`bridge.sandbox.cli.run_demo` plays the wirings and tells the story around the table.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from rich.console import RenderableType

from bridge.sandbox.ion import IonWorld, Limitations
from bridge.sandbox.ion import create_app as create_ion_app
from bridge.sandbox.report import Convergence, compare, fetch_truth, fetch_view
from bridge.sandbox.scenario import TOKEN_PATH, DayReport, load_document, play_day
from bridge.sandbox.serving import ServerThread
from bridge.sandbox.violet import VioletWorld
from bridge.sandbox.violet import create_app as create_violet_app

CLIENT_ID = "sandbox-client"
CLIENT_SECRET = "sandbox-secret"  # noqa: S105 -- the stand-in's fixed demo key
RESOURCES = ("PURCHASE_ORDERS", "PURCHASE_ORDER_LINES", "LOCATIONS", "SUPPLIERS", "PARTS")
#: Short retry delays keep the demo quick; ION's real schedule is minutes long.
RETRY_DELAYS = (0.1, 0.2, 0.5, 1.0)
SETTLE_DELAY = 0.5
#: Seconds between the day's user actions. At full speed the whole day lands in a few seconds,
#: and a bridge sharing this process's one core with both stand-ins and the users falls behind
#: the burst; a steady pace (still far busier than a real factory) shows its normal latency.
PACE_SECONDS = 0.025
#: Fills of empty fields played after the day, LATE_FILL_AFTER_SECONDS later: longer than the
#: bridge's settle window in the demo (`through_bridge.SETTLE_DELAYS_SECONDS`), so they are the
#: empty → populated gap, not ION's own late fields (a test keeps the two apart).
LATE_FILLS = 20
LATE_FILL_AFTER_SECONDS = 3.0
QUIET_TIMEOUT = 30.0


@dataclass(frozen=True, kw_only=True)
class StandIns:
    """A running ION stand-in and Violet stand-in, and how to reach them."""

    ion: IonWorld
    violet: VioletWorld
    ion_url: str
    violet_url: str
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET

    @property
    def hook_url(self) -> str:
        """Violet's capability URL (the secret a Violet user pastes into ION)."""
        return f"{self.violet_url}{self.violet.hook_path()}"

    @property
    def token_url(self) -> str:
        return f"{self.ion_url}{TOKEN_PATH}"


@dataclass(frozen=True, kw_only=True)
class Settled:
    """What a wiring's settle step measured, and what it has to say under the table."""

    #: Seconds from ION's last change until Violet held ION's truth on every tracked field;
    #: None when that did not happen within `bound` seconds of the change.
    converged_after: float | None
    bound: float  # one reconciliation interval
    report: tuple[RenderableType, ...] = ()


#: A settle step returning None (the direct wiring) has nothing to measure or report.
Settle = Callable[[], Settled | None]
Wire = Callable[[StandIns], AbstractContextManager[Settle]]
Progress = Callable[[str], None]


@dataclass(frozen=True, kw_only=True)
class WiringResult:
    name: str
    convergence: Convergence
    day: DayReport
    seconds: float
    settled: Settled | None = None

    @property
    def ok(self) -> bool:
        """A wiring that settles promises 100 % within its bound; one that does not, nothing."""
        settled = self.settled
        return settled is None or (
            self.convergence.converged and settled.converged_after is not None
        )

    def verdict(self) -> str:
        total, settled = self.convergence.total, self.settled
        if settled is None:
            return f"wired {self.name}, {total.percent:.1f} % of the tracked fields are right"
        if settled.converged_after is None or not self.ok:
            return (
                f"{self.name}, Violet was not right on every tracked field within "
                f"{settled.bound:g} s of ION's last change ({total.wrong} wrong at the end)"
            )
        return (
            f"{self.name}, Violet holds ION's truth on every tracked field "
            f"{settled.converged_after:.1f} s after ION's last change (within one "
            f"{settled.bound:g} s reconciliation interval)"
        )


@dataclass(frozen=True, kw_only=True)
class DemoResult:
    wirings: dict[str, WiringResult] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def columns(self) -> dict[str, Convergence]:
        return {name: result.convergence for name, result in self.wirings.items()}

    @property
    def ok(self) -> bool:
        return all(result.ok for result in self.wirings.values())

    def verdict(self) -> str:
        """One line: the wirings that settle (the bridge) first, then the others."""
        ordered = sorted(self.wirings.values(), key=lambda result: result.settled is None)
        return "Verdict: " + "; ".join(result.verdict() for result in ordered) + "."


@contextmanager
def stand_ins(*, limitations: Limitations | None = None) -> Iterator[StandIns]:
    """A fresh ION stand-in and Violet stand-in on free loopback ports."""
    ion = IonWorld(
        clients={CLIENT_ID: CLIENT_SECRET},
        limitations=limitations or Limitations(),
        webhook_retry_delays=RETRY_DELAYS,
        settle_delay_seconds=SETTLE_DELAY,
    )
    violet = VioletWorld()
    with ExitStack() as stack:
        servers = [ServerThread(create_ion_app(ion)), ServerThread(create_violet_app(violet))]
        for server in servers:
            server.start()
            stack.callback(server.stop)
        yield StandIns(ion=ion, violet=violet, ion_url=servers[0].url, violet_url=servers[1].url)


class IonAdmin:
    """A few synchronous GraphQL calls as an ION admin (provisioning, queue checks)."""

    def __init__(self, stands: StandIns, http: httpx.Client) -> None:
        form = {"grant_type": "client_credentials", "client_id": stands.client_id}
        form["client_secret"] = stands.client_secret
        answer = http.post(stands.token_url, data=form)
        answer.raise_for_status()
        self.http = http
        self.url = f"{stands.ion_url}/graphql"
        self.headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}

    def run(self, operation: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        body = {"query": load_document(operation), "variables": dict(variables or {})}
        answer = self.http.post(self.url, json=body, headers=self.headers)
        answer.raise_for_status()
        payload: dict[str, Any] = answer.json()
        if payload.get("errors"):
            raise RuntimeError(f"ION refused {operation}: {payload['errors']}")
        data: dict[str, Any] = payload["data"]
        return data

    def subscribe(self, webhook_uri: str, name: str) -> int:
        """A receiver with only `name` and `webhookUri`, subscribed to CREATE and UPDATE."""
        receiver_input = {"name": name, "webhookUri": webhook_uri}
        created = self.run("SandboxCreateWebhookReceiver", {"input": receiver_input})
        receiver_id = int(created["createWebhookReceiver"]["webhookReceiver"]["id"])
        for resource in RESOURCES:
            for action in ("CREATE", "UPDATE"):
                subscription = {"resource": resource, "action": action, "receiverId": receiver_id}
                self.run("SandboxCreateWebhookSubscription", {"input": subscription})
        return receiver_id

    def pending_webhooks(self) -> int:
        data = self.run("SandboxPendingWebhookEvents")
        return int(data["webhookEvents"]["pageInfo"]["totalCount"])


@contextmanager
def direct(stands: StandIns) -> Iterator[Settle]:
    """Violet's documented wiring: ION posts straight to Violet's webhook URL."""
    with httpx.Client(timeout=10) as http:
        IonAdmin(stands, http).subscribe(stands.hook_url, "Violet")
    yield lambda: None


def wait_for_ion_quiet(stands: StandIns, *, day_ended: float) -> None:
    """Wait until ION's late-field writes have happened and its webhook queue is empty.

    Late fields are written `settle_delay_seconds` after a create, so nothing new can be queued
    once that long has passed since the day's last operation; after that an empty queue stays empty.
    """
    deadline = time.monotonic() + QUIET_TIMEOUT
    with httpx.Client(timeout=10) as http:
        admin = IonAdmin(stands, http)
        while time.monotonic() < deadline:
            settled = time.monotonic() - day_ended > stands.ion.settle_delay_seconds + 0.1
            if settled and admin.pending_webhooks() == 0:
                return
            time.sleep(0.05)
    raise TimeoutError(f"ION's webhook queue did not drain in {QUIET_TIMEOUT:g}s")


def run_wiring(
    name: str,
    wire: Wire,
    *,
    seed: int = 7,
    operations: int = 300,
    limitations: Limitations | None = None,
    pause: float = 0.0,
    late_fills: int = 0,
    progress: Progress | None = None,
) -> WiringResult:
    """Play the day against fresh stand-ins joined by `wire`; compare Violet's view with ION."""
    say = progress or (lambda _: None)
    started = time.monotonic()
    with stand_ins(limitations=limitations) as stands, wire(stands) as settle:
        later = f", then {late_fills} fills {LATE_FILL_AFTER_SECONDS:g} s later"
        later = later if late_fills else ""
        say(f"  playing {operations} operations of ION activity{later}")
        day = asyncio.run(
            play_day(
                stands.ion_url,
                client_id=stands.client_id,
                client_secret=stands.client_secret,
                seed=seed,
                operations=operations,
                pause=pause,
                late_fills=late_fills,
                late_after=LATE_FILL_AFTER_SECONDS,
            )
        )
        say(f"  done in {day.seconds:.1f} s; waiting for ION's webhook queue to drain")
        wait_for_ion_quiet(stands, day_ended=time.monotonic())
        settled = settle()
        convergence = compare(fetch_truth(stands.ion_url), fetch_view(stands.violet_url))
    seconds = time.monotonic() - started
    return WiringResult(
        name=name, convergence=convergence, day=day, seconds=seconds, settled=settled
    )
