"""`bridge setup` against the ION stand-in over real HTTP, on SQLite and PostgreSQL: from
scratch, idempotent re-runs, drift repair, --prune, --dry-run and secret rotation."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from bridge.clock import utcnow
from bridge.crypto import active_credentials, decrypt_secret, hash_token, storage_key
from bridge.store.db import make_engine, session_scope
from bridge.store.models import ReceiverCredential
from tests.ion.standin import PUBLIC_URL, Ion
from tests.provision.conftest import Bridge

URI = PUBLIC_URL + "/webhooks/ion"
#: The default config: 10 resources × CREATE, UPDATE.
SUBSCRIPTIONS = 20

DELETE_SUBSCRIPTION = """mutation($id: ID!, $etag: String!) {
  deleteWebhookSubscription(id: $id, etag: $etag) { id } }"""
UPDATE_SUBSCRIPTION = """mutation($input: UpdateWebhookSubscriptionInput!) {
  updateWebhookSubscription(input: $input) { webhookSubscription { id } } }"""
UPDATE_RECEIVER = """mutation($input: UpdateWebhookReceiverInput!) {
  updateWebhookReceiver(input: $input) { webhookReceiver { id } } }"""
CREATE_SUBSCRIPTION = """mutation($input: CreateWebhookSubscriptionInput!) {
  createWebhookSubscription(input: $input) { webhookSubscription { id } } }"""


def ours(ion: Ion) -> dict[str, Any]:
    """The one receiver ION delivers to the bridge at."""
    found = [r for r in ion.receivers() if r["webhookUri"] == URI]
    assert len(found) == 1, found
    return found[0]


def credentials(database_url: str) -> list[ReceiverCredential]:
    engine = make_engine(database_url)
    try:
        with session_scope(engine) as session:
            statement = select(ReceiverCredential).order_by(col(ReceiverCredential.id))
            return list(session.exec(statement))
    finally:
        engine.dispose()


def assert_fully_provisioned(ion: Ion, database_url: str) -> None:
    receiver = ours(ion)
    assert receiver["active"] is True
    subs = receiver["subscriptions"]
    assert len(subs) == SUBSCRIPTIONS
    assert all(s["active"] for s in subs)
    assert len({(s["resource"], s["action"]) for s in subs}) == SUBSCRIPTIONS
    [current] = [c for c in credentials(database_url) if c.retired_at is None]
    assert current.ion_receiver_id == receiver["id"]
    key = storage_key(ion.settings(database_url))
    assert decrypt_secret(current.secret_encrypted, key) == receiver["sharedSecret"]
    [header] = [h for h in receiver["headers"] if h["key"] == "x-bridge-token"]
    assert current.ion_header_id == header["id"]
    assert hash_token(header["value"]) == current.token_sha256


def test_setup_from_scratch(bridge: Bridge, ion: Ion, database_url: str) -> None:
    """An empty ION gets the receiver, its token header and every subscription; the secret
    and token are stored, never printed."""
    result = bridge("setup")
    assert result.code == 0, result.err
    assert_fully_provisioned(ion, database_url)
    assert ion.mutations() == {
        "createWebhookReceiver": 1,
        "createWebhookHeader": 1,
        "addHeaderToWebhookReceiver": 1,
        "createWebhookSubscription": SUBSCRIPTIONS,
    }
    receiver = ours(ion)
    assert receiver["sharedSecret"] not in result.out + result.err
    assert receiver["headers"][0]["value"] not in result.out + result.err
    assert "create receiver" in result.out
    assert "Done: 22 change(s)." in result.out


def test_second_run_sends_zero_mutations(bridge: Bridge, ion: Ion) -> None:
    """Re-running setup on a provisioned tenant prints "nothing to do" and mutates nothing."""
    assert bridge("setup").code == 0
    ion.reset_stats()
    result = bridge("setup")
    assert result.code == 0
    assert "nothing to do" in result.out
    assert ion.stats()["mutations"]["total"] == 0


def test_drift_is_repaired(bridge: Bridge, ion: Ion, database_url: str) -> None:
    """A subscription deleted by hand, one deactivated by hand and a wrong receiver URL are put
    right with exactly one mutation each; the run after that has nothing to do."""
    assert bridge("setup").code == 0
    receiver = ours(ion)
    first, second = receiver["subscriptions"][:2]
    ion.gql(DELETE_SUBSCRIPTION, {"id": first["id"], "etag": first["_etag"]})
    ion.gql(
        UPDATE_SUBSCRIPTION,
        {"input": {"id": second["id"], "active": False, "etag": second["_etag"]}},
    )
    wrong = {
        "id": receiver["id"],
        "webhookUri": "https://wrong.example/x",
        "etag": receiver["_etag"],
    }
    ion.gql(UPDATE_RECEIVER, {"input": wrong})
    ion.reset_stats()

    result = bridge("setup")
    assert result.code == 0, result.err
    assert ion.mutations() == {
        "updateWebhookReceiver": 1,
        "createWebhookSubscription": 1,
        "updateWebhookSubscription": 1,
    }
    assert_fully_provisioned(ion, database_url)
    ion.reset_stats()
    assert "nothing to do" in bridge("setup").out
    assert ion.stats()["mutations"]["total"] == 0


def test_prune_deletes_only_with_the_flag(bridge: Bridge, ion: Ion) -> None:
    """An extra subscription is kept (and mentioned) without --prune, deleted with it."""
    assert bridge("setup").code == 0
    receiver_id = ours(ion)["id"]
    ion.gql(
        CREATE_SUBSCRIPTION,
        {"input": {"resource": "RUNS", "action": "CREATE", "receiverId": receiver_id}},
    )
    ion.reset_stats()
    kept = bridge("setup")
    assert "--prune" in kept.out
    assert ion.stats()["mutations"]["total"] == 0

    pruned = bridge("setup", "--prune")
    assert pruned.code == 0
    assert ion.mutations() == {"deleteWebhookSubscription": 1}
    assert "RUNS" not in {s["resource"] for s in ours(ion)["subscriptions"]}


def test_dry_run_changes_nothing(bridge: Bridge, ion: Ion, database_url: str) -> None:
    """--dry-run prints the whole plan but sends no mutation and writes nothing."""
    result = bridge("setup", "--dry-run")
    assert result.code == 0
    assert "create receiver" in result.out
    assert "Dry run" in result.out
    assert ion.stats()["mutations"]["total"] == 0
    assert ion.receivers() == []
    assert credentials(database_url) == []


def test_rotate_secret_keeps_the_old_credential_for_the_grace_period(
    bridge: Bridge, ion: Ion, database_url: str
) -> None:
    """--rotate-secret: ION gets a new secret and header, the old row is retired but accepted."""
    assert bridge("setup").code == 0
    old_header = ours(ion)["headers"][0]["id"]
    result = bridge("setup", "--rotate-secret")
    assert result.code == 0, result.err
    assert_fully_provisioned(ion, database_url)
    assert old_header not in {h["id"] for h in ours(ion)["headers"]}
    old, new = credentials(database_url)
    assert old.retired_at is not None
    assert new.retired_at is None
    engine = make_engine(database_url)
    try:
        with session_scope(engine) as session:
            accepted = [c.id for c in active_credentials(session, utcnow(), 86400)]
    finally:
        engine.dispose()
    assert accepted == [new.id, old.id]


def test_a_fresh_database_rotates_to_a_secret_it_holds(
    bridge: Bridge, ion: Ion, database_url: str
) -> None:
    """The receiver exists but the database lost its credential: setup rotates and says why."""
    assert bridge("setup").code == 0
    engine = make_engine(database_url)
    try:
        with session_scope(engine) as session:
            for row in session.exec(select(ReceiverCredential)):
                session.delete(row)
    finally:
        engine.dispose()
    result = bridge("setup")
    assert result.code == 0, result.err
    assert "no stored secret" in result.out
    assert_fully_provisioned(ion, database_url)


def test_502s_during_setup_are_retried(bridge: Bridge, ion: Ion, database_url: str) -> None:
    """ION's 502s in the middle of a run are retried and the run completes."""
    ion.fault(graphql_502=3)
    result = bridge("setup")
    assert result.code == 0, result.err
    assert_fully_provisioned(ion, database_url)


def test_a_401_during_setup_is_survived(bridge: Bridge, ion: Ion, database_url: str) -> None:
    """ION refusing the token once (expired early) costs a new token, not the run."""
    ion.fault(unauthorized_once=True)
    assert bridge("setup").code == 0
    assert ion.stats()["token_requests"] == 2
    assert_fully_provisioned(ion, database_url)


def test_http_public_url_is_refused_unless_allowed(
    bridge: Bridge, ion: Ion, monkeypatch: Any
) -> None:
    """ION delivers only to https: an http BRIDGE_PUBLIC_URL is exit 2 naming the setting."""
    monkeypatch.setenv("BRIDGE_ALLOW_INSECURE_PUBLIC_URL", "false")
    result = bridge("setup")
    assert result.code == 2
    assert "BRIDGE_PUBLIC_URL" in result.err
    assert ion.stats()["graphql_requests"] == 0
