"""The provisioning plan, pure: desired config × ION's receivers × the stored credential."""

from __future__ import annotations

from dataclasses import replace

from bridge.crypto import hash_token
from bridge.provision.plan import make_plan
from bridge.provision.state import (
    Desired,
    ObservedHeader,
    ObservedReceiver,
    ObservedSubscription,
    StoredCredential,
    receiver_from_graphql,
)
from bridge.provision.steps import (
    CreateReceiver,
    CreateSubscription,
    DeleteSubscription,
    ReactivateSubscription,
    RecordReceiver,
    ReplaceHeader,
    RestoreSecret,
    RotateSecret,
    UpdateReceiver,
)

URI = "https://bridge.example.com/webhooks/ion"
SECRET, TOKEN = "s3cret-value-abcdefgh", "t0ken-value-abcdefgh"
PAIRS = frozenset(
    {("PURCHASE_ORDERS", "CREATE"), ("PURCHASE_ORDERS", "UPDATE"), ("PARTS", "CREATE")}
)
DESIRED = Desired(
    name="ion-violet-bridge", webhook_uri=URI, header_name="x-bridge-token", subscriptions=PAIRS
)
STORED = StoredCredential(
    id=1,
    receiver_id=7,
    header_id=3,
    webhook_uri=URI,
    secret_sha256=hash_token(SECRET),
    token_sha256=hash_token(TOKEN),
)


def sub(id: int, resource: str, action: str, active: bool = True) -> ObservedSubscription:
    return ObservedSubscription(
        id=id, etag=f"e{id}", resource=resource, action=action, active=active
    )


def receiver(**changes: object) -> ObservedReceiver:
    """The bridge's receiver exactly as setup leaves it; `changes` make it drift."""
    base = ObservedReceiver(
        id=7,
        etag="r7",
        name="ion-violet-bridge",
        webhook_uri=URI,
        active=True,
        content_type="JSON",
        expected_response_code=200,
        secret_sha256=hash_token(SECRET),
        headers=(ObservedHeader(id=3, key="x-bridge-token", value_sha256=hash_token(TOKEN)),),
        subscriptions=(
            sub(1, "PURCHASE_ORDERS", "CREATE"),
            sub(2, "PURCHASE_ORDERS", "UPDATE"),
            sub(3, "PARTS", "CREATE"),
        ),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def kinds(plan: object) -> list[str]:
    return [type(step).__name__ for step in plan.steps]  # type: ignore[attr-defined]


def test_nothing_in_ion_plans_receiver_header_and_every_subscription() -> None:
    """From scratch: create the receiver, its token header, one subscription per pair."""
    plan = make_plan(DESIRED, [], None)
    assert kinds(plan) == ["CreateReceiver", "ReplaceHeader"] + ["CreateSubscription"] * 3
    assert plan.steps[0] == CreateReceiver(name="ion-violet-bridge", webhook_uri=URI)
    assert {(s.resource, s.action) for s in plan.steps[2:]} == PAIRS  # type: ignore[union-attr]


def test_matching_state_plans_nothing() -> None:
    """Everything as setup left it: an empty plan that says so."""
    plan = make_plan(DESIRED, [receiver()], STORED)
    assert plan.is_empty
    assert not plan.sends_mutations
    assert "nothing to do" in "\n".join(plan.lines())


def test_deleted_and_deactivated_subscriptions_are_repaired() -> None:
    """A subscription deleted by hand is recreated; one deactivated is reactivated."""
    drifted = receiver(
        subscriptions=(sub(1, "PURCHASE_ORDERS", "CREATE", active=False), sub(3, "PARTS", "CREATE"))
    )
    plan = make_plan(DESIRED, [drifted], STORED)
    assert plan.steps == (
        CreateSubscription(resource="PURCHASE_ORDERS", action="UPDATE"),
        ReactivateSubscription(id=1, etag="e1", resource="PURCHASE_ORDERS", action="CREATE"),
    )


def test_wrong_url_and_inactive_receiver_are_updated() -> None:
    """A receiver whose URL or active flag drifted gets one update with the wanted values."""
    plan = make_plan(DESIRED, [receiver(webhook_uri="https://old.example/x", active=False)], STORED)
    assert plan.steps == (
        UpdateReceiver(receiver_id=7, changes=(("webhookUri", URI), ("active", True))),
    )


def test_extra_subscription_is_only_noted_without_prune() -> None:
    """A subscription the config no longer wants is kept, and the plan says how to delete it."""
    extra = receiver(subscriptions=(*receiver().subscriptions, sub(9, "RUNS", "CREATE")))
    plan = make_plan(DESIRED, [extra], STORED)
    assert plan.is_empty
    assert any("--prune" in note for note in plan.notes)


def test_prune_deletes_extra_subscriptions() -> None:
    """With --prune the unwanted subscription is deleted with its etag."""
    extra = receiver(subscriptions=(*receiver().subscriptions, sub(9, "RUNS", "CREATE")))
    plan = make_plan(DESIRED, [extra], STORED, prune=True)
    assert plan.steps == (
        DeleteSubscription(
            id=9, etag="e9", resource="RUNS", action="CREATE", reason="not in the config (--prune)"
        ),
    )


def test_duplicates_are_deleted_keeping_the_active_one() -> None:
    """Two subscriptions for one pair would double every event: the surplus one goes."""
    doubled = receiver(
        subscriptions=(
            *receiver().subscriptions,
            sub(11, "PARTS", "CREATE"),
        )
    )
    plan = make_plan(DESIRED, [doubled], STORED)
    assert kinds(plan) == ["DeleteSubscription"]
    assert plan.steps[0].id == 11  # type: ignore[union-attr]


def test_unknown_resources_are_noted() -> None:
    """A configured resource ION lacks appears in the plan as unknown."""
    plan = make_plan(replace(DESIRED, unknown_resources=("WIDGETS",)), [receiver()], STORED)
    assert plan.is_empty
    assert any("WIDGETS" in note and "not subscribed" in note for note in plan.notes)


def test_receiver_found_by_url_without_stored_secret_is_rotated() -> None:
    """A fresh database: the receiver is found by URL and gets a new secret and token."""
    plan = make_plan(DESIRED, [receiver()], None)
    assert kinds(plan) == ["RotateSecret", "ReplaceHeader"]
    assert plan.steps[1] == ReplaceHeader(header_name="x-bridge-token", remove_ids=(3,))
    assert "no stored secret" in plan.steps[0].reason  # type: ignore[union-attr]


def test_rotate_secret_replaces_secret_and_header() -> None:
    """--rotate-secret: a new secret, a new header replacing the old one."""
    plan = make_plan(DESIRED, [receiver()], STORED, rotate=True)
    assert kinds(plan) == ["RotateSecret", "ReplaceHeader"]


def test_unreadable_stored_secret_is_rotated() -> None:
    """A stored secret the current key cannot decrypt is replaced, not trusted."""
    plan = make_plan(DESIRED, [receiver()], replace(STORED, secret_sha256=None))
    assert kinds(plan) == ["RotateSecret", "ReplaceHeader"]


def test_secret_changed_in_ion_is_put_back() -> None:
    """ION's secret changed by hand: the stored one is restored (no new credential)."""
    plan = make_plan(DESIRED, [receiver(secret_sha256=hash_token("someone-else-1234"))], STORED)
    assert plan.steps == (RestoreSecret(receiver_id=7),)


def test_masked_secret_in_ion_is_not_a_drift() -> None:
    """A tenant that masks sharedSecret must not cause a repair on every run."""
    masked = receiver_from_graphql(
        {"id": 7, "_etag": "r7", "name": "n", "webhookUri": URI, "sharedSecret": "********"}
    )
    assert masked.secret_sha256 is None
    plan = make_plan(DESIRED, [replace(receiver(), secret_sha256=None)], STORED)
    assert plan.is_empty


def test_missing_or_altered_header_is_replaced() -> None:
    """The token header gone, or carrying another value: a new token header."""
    gone = make_plan(DESIRED, [receiver(headers=())], STORED)
    assert gone.steps == (
        ReplaceHeader(header_name="x-bridge-token", reason="the header is missing"),
    )
    other = ObservedHeader(id=3, key="X-Bridge-Token", value_sha256=hash_token("nope-12345"))
    altered = make_plan(DESIRED, [receiver(headers=(other,))], STORED)
    assert altered.steps[0].remove_ids == (3,)  # type: ignore[union-attr]


def test_other_headers_are_left_alone() -> None:
    """Headers with other names (someone else's) are neither compared nor removed."""
    theirs = ObservedHeader(id=8, key="x-other", value_sha256=hash_token("whatever-123"))
    plan = make_plan(DESIRED, [receiver(headers=(*receiver().headers, theirs))], STORED)
    assert plan.is_empty


def test_stored_receiver_wins_over_others_at_the_same_url() -> None:
    """The receiver whose id was stored is the bridge's; another at its URL is only noted."""
    stranger = replace(receiver(), id=9, name="someone else", subscriptions=())
    plan = make_plan(DESIRED, [stranger, receiver()], STORED)
    assert plan.receiver is not None
    assert plan.receiver.id == 7
    assert plan.is_empty
    assert any("receiver 9" in note and "left alone" in note for note in plan.notes)


def test_stored_receiver_gone_from_ion_is_recreated() -> None:
    """The stored receiver was deleted by hand: say so, and create a new one."""
    plan = make_plan(DESIRED, [], STORED)
    assert kinds(plan)[:2] == ["CreateReceiver", "ReplaceHeader"]
    assert any("gone from ION" in note for note in plan.notes)


def test_same_secret_on_a_receiver_with_another_id_is_only_recorded() -> None:
    """The credential matches a receiver found by URL: only the database learns its id."""
    plan = make_plan(DESIRED, [receiver()], replace(STORED, receiver_id=None))
    assert plan.steps == (RecordReceiver(receiver_id=7, header_id=3),)
    assert not plan.sends_mutations


def test_plan_lines_never_hold_a_secret() -> None:
    """Printing a plan shows steps and notes, never the secret or token or their hashes."""
    plan = make_plan(DESIRED, [receiver(headers=())], None, prune=True)
    text = "\n".join(plan.lines())
    for secret in (SECRET, TOKEN, hash_token(SECRET), hash_token(TOKEN)):
        assert secret not in text
    assert isinstance(plan.steps[0], RotateSecret)
