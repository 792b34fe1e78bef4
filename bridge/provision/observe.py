"""Reading the inputs of a plan: the wanted state from the settings and ION's live resource
names, and the receivers ION has. Queries only: observing never changes anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.errors import ConfigError
from bridge.ion.client import IonClient
from bridge.ion.resources import map_resources, normalize
from bridge.provision.state import ACTIONS, Desired, ObservedReceiver, receiver_from_graphql
from bridge.settings import Settings

#: Where ION delivers, under BRIDGE_PUBLIC_URL (the inbox serves this path).
WEBHOOK_PATH = "/webhooks/ion"
#: More receivers than this at one URL is not a state the bridge can have made.
MAX_RECEIVERS = 50


def webhook_uri(settings: Settings) -> str:
    """The URL ION must deliver to; ConfigError for a missing or (unless allowed) http one."""
    return settings.require_public_url() + WEBHOOK_PATH


def wanted_actions(settings: Settings) -> tuple[str, ...]:
    actions = tuple(dict.fromkeys(normalize(a) for a in settings.subscribe_actions))
    wrong = [a for a in actions if a not in ACTIONS]
    if wrong:
        raise ConfigError(
            "BRIDGE_SUBSCRIBE_ACTIONS", f"unknown action {wrong[0]}; use {', '.join(ACTIONS)}"
        )
    return actions


def desired_state(settings: Settings, live_resources: list[str]) -> Desired:
    """What the config wants, with resource names mapped onto this tenant's spelling."""
    actions = wanted_actions(settings)
    mapping = map_resources(settings.subscribe_resources, live_resources)
    return Desired(
        name=settings.receiver_name,
        webhook_uri=webhook_uri(settings),
        header_name=settings.inbox_header_name,
        subscriptions=frozenset((r, a) for r in mapping.live for a in actions),
        unknown_resources=mapping.unknown,
    )


async def observe_receivers(
    ion: IonClient, uri: str, stored_receiver_id: int | None
) -> list[ObservedReceiver]:
    """Receivers that may be the bridge's: the one it stored, and any at its webhook URL."""
    filters: dict[str, object] = {"webhookUri": {"eq": uri}}
    if stored_receiver_id is not None:
        filters = {"or_": [{"id": {"eq": str(stored_receiver_id)}}, filters]}
    data = await ion.execute("WebhookReceivers", {"filters": filters, "first": MAX_RECEIVERS})
    edges = (data.get("webhookReceivers") or {}).get("edges") or []
    return [receiver_from_graphql(edge["node"]) for edge in edges if edge and edge.get("node")]


@dataclass(frozen=True, kw_only=True)
class Observation:
    desired: Desired
    receivers: list[ObservedReceiver]


async def observe(
    ion: IonClient, settings: Settings, stored_receiver_id: int | None
) -> Observation:
    """Everything a plan needs from the settings and from ION."""
    uri = webhook_uri(settings)  # fails on a bad public URL before any request is sent
    live = await ion.introspect_resource_enum()
    desired = desired_state(settings, live)
    receivers = await observe_receivers(ion, uri, stored_receiver_id)
    return Observation(desired=desired, receivers=receivers)
