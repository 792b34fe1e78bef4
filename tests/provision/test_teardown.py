"""`bridge teardown` against the ION stand-in: removes the bridge's receiver and subscriptions,
nothing else, and retires the stored credentials."""

from __future__ import annotations

from tests.ion.standin import Ion
from tests.provision.conftest import Bridge
from tests.provision.test_setup import URI, credentials

FOREIGN_RECEIVER = """mutation($input: CreateWebhookReceiverInput!) {
  createWebhookReceiver(input: $input) { webhookReceiver { id } } }"""


def test_teardown_removes_only_the_bridges_receiver(
    bridge: Bridge, ion: Ion, database_url: str
) -> None:
    """Subscriptions and receiver go (with their etags); another receiver stays; the stored
    credential is retired."""
    assert bridge("setup").code == 0
    ion.gql(
        FOREIGN_RECEIVER,
        {"input": {"name": "someone else", "webhookUri": "https://other.example/hook"}},
    )
    ion.reset_stats()
    result = bridge("teardown", "--yes")
    assert result.code == 0, result.err
    assert ion.mutations() == {"deleteWebhookSubscription": 20, "deleteWebhookReceiver": 1}
    assert [r["name"] for r in ion.receivers()] == ["someone else"]
    assert all(c.retired_at is not None for c in credentials(database_url))
    assert URI in result.out


def test_teardown_twice_has_nothing_to_do(bridge: Bridge, ion: Ion) -> None:
    """A second teardown finds nothing and sends no mutation."""
    assert bridge("setup").code == 0
    assert bridge("teardown", "--yes").code == 0
    ion.reset_stats()
    again = bridge("teardown", "--yes")
    assert again.code == 0
    assert "Nothing to tear down" in again.out
    assert ion.stats()["mutations"]["total"] == 0


def test_setup_after_teardown_starts_over(bridge: Bridge, ion: Ion, database_url: str) -> None:
    """Teardown then setup provisions a new receiver with a new current credential."""
    assert bridge("setup").code == 0
    assert bridge("teardown", "--yes").code == 0
    assert bridge("setup").code == 0
    rows = credentials(database_url)
    assert [c.retired_at is None for c in rows] == [False, True]
    assert len(ion.receivers()) == 1
