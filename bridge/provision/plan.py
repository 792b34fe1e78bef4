"""The provisioning plan: pure. Given what the config wants, what ION has and what the bridge
stored, list the steps that make ION match, and notes for what is left alone on purpose.

The plan is computed from scratch on every run, never from a log of past runs, which is what makes
`bridge setup` idempotent (nothing differs: no step) and makes a run that failed half-way converge
(whatever it did not get to still differs next time).

Deciding about the secret:
- no receiver yet: create one with a new secret and header token;
- `--rotate-secret`, no stored credential (a new database), or a stored secret the current key
  cannot decrypt: rotate, so the bridge's database is again the only holder of a usable secret;
- ION's secret differs from the stored one on the same receiver: put the stored one back;
- the header carrying the token is missing, doubled, or carries another value: replace it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bridge.provision.state import (
    Desired,
    ObservedHeader,
    ObservedReceiver,
    StoredCredential,
    compare_subscriptions,
    receiver_drift,
)
from bridge.provision.steps import (
    LOCAL_ONLY,
    CreateReceiver,
    CreateSubscription,
    DeleteSubscription,
    ReactivateSubscription,
    RecordReceiver,
    ReplaceHeader,
    RestoreSecret,
    RotateSecret,
    Step,
    UpdateReceiver,
)


@dataclass(frozen=True, kw_only=True)
class Plan:
    desired: Desired
    receiver: ObservedReceiver | None
    steps: tuple[Step, ...]
    notes: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.steps

    @property
    def sends_mutations(self) -> bool:
        return any(not isinstance(step, LOCAL_ONLY) for step in self.steps)

    def lines(self) -> list[str]:
        """The plan as text, one line per step or note; never a secret."""
        target = f"receiver {self.desired.name!r} -> {self.desired.webhook_uri}"
        if self.receiver is not None:
            target += f" (ION receiver {self.receiver.id})"
        out = [f"Plan for {target}:"]
        if self.is_empty:
            subs = len(self.desired.subscriptions)
            out.append(f"  nothing to do: the receiver and its {subs} subscriptions match")
        out += [f"  + {step.describe()}" for step in self.steps]
        out += [f"  ! {note}" for note in self.notes]
        return out


def make_plan(
    desired: Desired,
    receivers: Iterable[ObservedReceiver],
    stored: StoredCredential | None,
    *,
    prune: bool = False,
    rotate: bool = False,
) -> Plan:
    """The steps that make ION's receivers match `desired` (see the module docstring)."""
    receiver, notes = find_receiver(desired, list(receivers), stored)
    notes += [
        f"resource {name!r} is not in ION's ResourceEnum: not subscribed"
        for name in desired.unknown_resources
    ]
    steps: list[Step] = []
    if receiver is None:
        steps.append(CreateReceiver(name=desired.name, webhook_uri=desired.webhook_uri))
        steps.append(ReplaceHeader(header_name=desired.header_name))
    else:
        drift = receiver_drift(receiver, desired)
        if drift:
            steps.append(UpdateReceiver(receiver_id=receiver.id, changes=tuple(drift.items())))
        steps += _credential_steps(desired, receiver, stored, rotate=rotate)
    steps += _subscription_steps(desired, receiver, notes, prune=prune)
    return Plan(desired=desired, receiver=receiver, steps=tuple(steps), notes=tuple(notes))


def find_receiver(
    desired: Desired, receivers: list[ObservedReceiver], stored: StoredCredential | None
) -> tuple[ObservedReceiver | None, list[str]]:
    """The bridge's receiver: the one whose id it stored, else one at the webhook URL."""
    notes: list[str] = []
    chosen: ObservedReceiver | None = None
    if stored is not None and stored.receiver_id is not None:
        chosen = next((r for r in receivers if r.id == stored.receiver_id), None)
        if chosen is None:
            notes.append(f"receiver {stored.receiver_id}, stored by the bridge, is gone from ION")
    same_url = sorted(
        (r for r in receivers if r.webhook_uri == desired.webhook_uri),
        key=lambda r: (r.name != desired.name, r.id),
    )
    if chosen is None and same_url:
        chosen = same_url[0]
    notes += [
        f"receiver {r.id} ({r.name!r}) also delivers to {desired.webhook_uri}; left alone"
        for r in same_url
        if r is not chosen
    ]
    return chosen, notes


def _credential_steps(
    desired: Desired,
    receiver: ObservedReceiver,
    stored: StoredCredential | None,
    *,
    rotate: bool,
) -> list[Step]:
    reason = _rotation_reason(receiver, stored, rotate=rotate)
    ours = receiver.headers_named(desired.header_name)
    remove = tuple(h.id for h in ours)
    if reason is not None:
        return [
            RotateSecret(receiver_id=receiver.id, reason=reason),
            ReplaceHeader(header_name=desired.header_name, remove_ids=remove),
        ]
    assert stored is not None  # _rotation_reason returns a reason when nothing is stored
    steps: list[Step] = []
    if receiver.secret_sha256 is not None and receiver.secret_sha256 != stored.secret_sha256:
        steps.append(RestoreSecret(receiver_id=receiver.id))
    header_problem = _header_problem(ours, stored)
    if header_problem:
        steps.append(
            ReplaceHeader(header_name=desired.header_name, remove_ids=remove, reason=header_problem)
        )
    kept_header = ours[0].id if ours and not header_problem else None
    if not steps and (stored.receiver_id, stored.header_id, stored.webhook_uri) != (
        receiver.id,
        kept_header,
        desired.webhook_uri,
    ):
        steps.append(RecordReceiver(receiver_id=receiver.id, header_id=kept_header))
    return steps


def _rotation_reason(
    receiver: ObservedReceiver, stored: StoredCredential | None, *, rotate: bool
) -> str | None:
    if rotate:
        return "asked for with --rotate-secret; the old ones stay valid for the grace period"
    if stored is None:
        return "the bridge has no stored secret for it (a new database?)"
    if stored.secret_sha256 is None:
        return "the stored secret cannot be decrypted with the current key"
    if stored.receiver_id != receiver.id and receiver.secret_sha256 != stored.secret_sha256:
        return f"the stored secret belongs to receiver {stored.receiver_id}"
    return None


def _header_problem(ours: tuple[ObservedHeader, ...], stored: StoredCredential) -> str:
    """Why the token header must be replaced, or "" when it is the stored one."""
    if not ours:
        return "the header is missing"
    if len(ours) > 1:
        return f"{len(ours)} headers share the name"
    header = ours[0]
    if header.value_sha256 is None:
        # ION hides the value: trust the header the bridge recorded, replace any other.
        return "" if header.id == stored.header_id else "an unknown header"
    if header.value_sha256 != stored.token_sha256:
        return "its value differs from the stored token"
    return ""


def _subscription_steps(
    desired: Desired, receiver: ObservedReceiver | None, notes: list[str], *, prune: bool
) -> list[Step]:
    diff = compare_subscriptions(desired.subscriptions, receiver.subscriptions if receiver else ())
    steps: list[Step] = [CreateSubscription(resource=r, action=a) for r, a in diff.missing]
    steps += [
        ReactivateSubscription(id=s.id, etag=s.etag, resource=s.pair[0], action=s.pair[1])
        for s in diff.inactive
    ]
    # A duplicate is never wanted (ION would deliver every event twice), --prune or not.
    steps += [
        DeleteSubscription(
            id=s.id, etag=s.etag, resource=s.pair[0], action=s.pair[1], reason="a duplicate"
        )
        for s in diff.duplicates
    ]
    for sub in diff.extra:
        resource, action = sub.pair
        if prune:
            steps.append(
                DeleteSubscription(
                    id=sub.id,
                    etag=sub.etag,
                    resource=resource,
                    action=action,
                    reason="not in the config (--prune)",
                )
            )
        else:
            notes.append(
                f"subscription {sub.id} ({resource} {action}) is not in the config; "
                "kept (--prune deletes it)"
            )
    return steps
