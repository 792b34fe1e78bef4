"""`bridge teardown`: delete the bridge's subscriptions and receiver in ION, nothing else.

The receiver is found as setup finds it (stored id, else webhook URL); other receivers are never
touched. Subscriptions go first, each with its own etag; the receiver's etag is read again just
before it is deleted, because ION may bump it when its subscriptions change. The custom header
object stays behind: deleting the receiver detaches it, and ION's schema has no mutation to
delete a header. The stored credentials are retired (still accepted for the grace period, for
deliveries already in flight).
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.errors import ConfigError
from bridge.ion.client import IonClient
from bridge.provision.credentials import CredentialStore
from bridge.provision.observe import observe_receivers, webhook_uri
from bridge.provision.plan import find_receiver
from bridge.provision.state import Desired, ObservedReceiver, StoredCredential
from bridge.provision.steps import DeleteReceiver, DeleteSubscription
from bridge.settings import Settings


@dataclass(frozen=True, kw_only=True)
class TeardownPlan:
    receiver: ObservedReceiver | None
    subscriptions: tuple[DeleteSubscription, ...]
    notes: tuple[str, ...]

    @property
    def is_empty(self) -> bool:
        return self.receiver is None

    def lines(self) -> list[str]:
        if self.receiver is None:
            return ["Nothing to tear down: the bridge has no receiver in ION.", *self._notes()]
        delete = DeleteReceiver(
            id=self.receiver.id,
            etag=self.receiver.etag,
            name=self.receiver.name,
            webhook_uri=self.receiver.webhook_uri,
        )
        steps: list[DeleteSubscription | DeleteReceiver] = [*self.subscriptions, delete]
        return [
            "Teardown plan:",
            *(f"  - {step.describe()}" for step in steps),
            *self._notes(),
        ]

    def _notes(self) -> list[str]:
        return [f"  ! {note}" for note in self.notes]


def make_teardown_plan(
    name: str, uri: str, receivers: list[ObservedReceiver], stored: StoredCredential | None
) -> TeardownPlan:
    """Pure: what teardown deletes, given ION's receivers and the stored credential."""
    lookup = Desired(name=name, webhook_uri=uri, header_name="", subscriptions=frozenset())
    receiver, notes = find_receiver(lookup, receivers, stored)
    subscriptions = tuple(
        DeleteSubscription(
            id=s.id, etag=s.etag, resource=s.pair[0], action=s.pair[1], reason="teardown"
        )
        for s in (receiver.subscriptions if receiver else ())
    )
    return TeardownPlan(receiver=receiver, subscriptions=subscriptions, notes=tuple(notes))


def teardown_uri(settings: Settings, stored: StoredCredential | None) -> str:
    """The webhook URL to look for: from the settings, else the one stored at setup."""
    try:
        return webhook_uri(settings)
    except ConfigError:
        if stored is None:
            raise
        return stored.webhook_uri


async def plan_teardown(
    ion: IonClient, settings: Settings, stored: StoredCredential | None
) -> TeardownPlan:
    uri = teardown_uri(settings, stored)
    receivers = await observe_receivers(ion, uri, stored.receiver_id if stored else None)
    return make_teardown_plan(settings.receiver_name, uri, receivers, stored)


async def apply_teardown(plan: TeardownPlan, ion: IonClient, store: CredentialStore) -> list[str]:
    """Delete what the plan lists; returns one line per thing done."""
    done: list[str] = []
    for step in plan.subscriptions:
        await ion.execute("DeleteWebhookSubscription", {"id": step.id, "etag": step.etag})
        done.append(f"deleted subscription {step.id} ({step.resource} {step.action})")
    if plan.receiver is not None:
        fresh = await observe_receivers(ion, plan.receiver.webhook_uri, plan.receiver.id)
        etag = next((r.etag for r in fresh if r.id == plan.receiver.id), plan.receiver.etag)
        await ion.execute("DeleteWebhookReceiver", {"id": plan.receiver.id, "etag": etag})
        done.append(f"deleted receiver {plan.receiver.id} ({plan.receiver.name!r})")
    retired = store.retire_all()
    if retired:
        done.append(f"retired {retired} stored credential(s)")
    return done
