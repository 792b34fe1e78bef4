"""Carrying out a plan: one ION mutation (or two) per step, in the plan's order.

The receiver's etag changes with every mutation on it, so each answer's `_etag` is carried to
the next receiver mutation; subscriptions carry their own etags from the observing query.
New secrets and tokens exist only here, are stored (encrypted / hashed) before ION is told to use
them, and never reach the returned lines or the logs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog

from bridge.crypto import new_secret
from bridge.ion.client import IonClient
from bridge.logs import register_secret
from bridge.provision.credentials import CredentialStore
from bridge.provision.plan import Plan
from bridge.provision.state import CONTENT_TYPE, EXPECTED_RESPONSE_CODE, StoredCredential
from bridge.provision.steps import (
    CreateReceiver,
    CreateSubscription,
    DeleteReceiver,
    DeleteSubscription,
    ReactivateSubscription,
    RecordReceiver,
    ReplaceHeader,
    RestoreSecret,
    RotateSecret,
    Step,
    UpdateReceiver,
)

log = structlog.get_logger(__name__)


@dataclass
class _Context:
    """What earlier steps of this run learnt and later ones need."""

    receiver_id: int | None
    etag: str
    header_id: int | None
    webhook_uri: str
    #: The token a just-created or just-rotated credential holds, for its header.
    token: str | None = None

    def receiver(self) -> int:
        if self.receiver_id is None:
            raise RuntimeError("a receiver step ran before the receiver exists")
        return self.receiver_id


async def apply_plan(
    plan: Plan, ion: IonClient, store: CredentialStore, stored: StoredCredential | None
) -> list[str]:
    """Run every step; returns one line per step done. Stops at the first error, after saving
    which receiver and header the stored credential now points at."""
    observed = plan.receiver
    ctx = _Context(
        receiver_id=observed.id if observed else None,
        etag=observed.etag if observed else "",
        header_id=stored.header_id if stored else None,
        webhook_uri=observed.webhook_uri if observed else plan.desired.webhook_uri,
    )
    done: list[str] = []
    try:
        for step in plan.steps:
            done.append(await _apply(step, plan, ion, store, ctx))
            log.debug("provision.step", step=done[-1])
    finally:
        if ctx.receiver_id is not None:
            store.record(
                receiver_id=ctx.receiver_id, header_id=ctx.header_id, webhook_uri=ctx.webhook_uri
            )
    return done


async def _update_receiver(ion: IonClient, ctx: _Context, **fields: Any) -> None:
    data = await ion.execute(
        "UpdateWebhookReceiver", {"input": {"id": ctx.receiver(), "etag": ctx.etag, **fields}}
    )
    ctx.etag = data["updateWebhookReceiver"]["webhookReceiver"]["_etag"]


async def _apply(
    step: Step, plan: Plan, ion: IonClient, store: CredentialStore, ctx: _Context
) -> str:
    desired = plan.desired
    match step:
        case CreateReceiver():
            secret, ctx.token = new_secret(), new_secret()
            register_secret(secret, ctx.token)
            data = await ion.execute(
                "CreateWebhookReceiver",
                {
                    "input": {
                        "name": step.name,
                        "description": "ION -> Violet bridge (managed by `bridge setup`)",
                        "webhookUri": step.webhook_uri,
                        "sharedSecret": secret,
                        "contentType": CONTENT_TYPE,
                        "expectedResponseCode": EXPECTED_RESPONSE_CODE,
                        "active": True,
                    }
                },
            )
            created = data["createWebhookReceiver"]["webhookReceiver"]
            ctx.receiver_id, ctx.etag = int(created["id"]), created["_etag"]
            ctx.webhook_uri, ctx.header_id = step.webhook_uri, None
            store.start(
                receiver_id=ctx.receiver_id,
                webhook_uri=step.webhook_uri,
                secret=secret,
                token=ctx.token,
            )
            return f"created receiver {ctx.receiver_id} ({step.name!r})"
        case RotateSecret():
            secret, ctx.token = new_secret(), new_secret()
            register_secret(secret, ctx.token)
            # Stored first: the inbox must accept the new secret before ION signs with it.
            store.start(
                receiver_id=ctx.receiver(),
                webhook_uri=ctx.webhook_uri,
                secret=secret,
                token=ctx.token,
            )
            await _update_receiver(ion, ctx, sharedSecret=secret)
            return f"rotated receiver {ctx.receiver_id}'s shared secret (the old one is retired)"
        case RestoreSecret():
            await _update_receiver(ion, ctx, sharedSecret=store.current_secret())
            return f"set receiver {ctx.receiver_id}'s shared secret back to the stored one"
        case UpdateReceiver():
            await _update_receiver(ion, ctx, **dict(step.changes))
            ctx.webhook_uri = str(dict(step.changes).get("webhookUri", ctx.webhook_uri))
            return f"updated receiver {ctx.receiver_id}: {', '.join(k for k, _ in step.changes)}"
        case ReplaceHeader():
            return await _replace_header(step, ion, store, ctx)
        case RecordReceiver():
            ctx.receiver_id, ctx.header_id = step.receiver_id, step.header_id
            ctx.webhook_uri = desired.webhook_uri
            return f"recorded receiver {step.receiver_id} in the bridge's database"
        case CreateSubscription():
            data = await ion.execute(
                "CreateWebhookSubscription",
                {
                    "input": {
                        "resource": step.resource,
                        "action": step.action,
                        "receiverId": ctx.receiver(),
                        "active": True,
                    }
                },
            )
            sub_id = data["createWebhookSubscription"]["webhookSubscription"]["id"]
            return f"subscribed to {step.resource} {step.action} (subscription {sub_id})"
        case ReactivateSubscription():
            await ion.execute(
                "UpdateWebhookSubscription",
                {"input": {"id": step.id, "active": True, "etag": step.etag}},
            )
            return f"reactivated subscription {step.id} ({step.resource} {step.action})"
        case DeleteSubscription():
            await ion.execute("DeleteWebhookSubscription", {"id": step.id, "etag": step.etag})
            return f"deleted subscription {step.id} ({step.resource} {step.action})"
        case DeleteReceiver():
            await ion.execute("DeleteWebhookReceiver", {"id": step.id, "etag": step.etag})
            ctx.receiver_id = None
            return f"deleted receiver {step.id} ({step.name!r})"
    raise TypeError(f"unknown step {step!r}")


async def _replace_header(
    step: ReplaceHeader, ion: IonClient, store: CredentialStore, ctx: _Context
) -> str:
    token = ctx.token
    if token is None:
        token = new_secret()
        register_secret(token)
        store.set_token(token)  # before ION sends it, as with secrets
    ctx.token = None
    data = await ion.execute(
        "CreateWebhookHeader", {"input": {"key": step.header_name, "value": token}}
    )
    header_id = int(data["createWebhookHeader"]["webhookHeader"]["id"])
    # Added before the old one is removed: there is never a moment without a token header.
    await _header_link(ion, ctx, "addHeaderToWebhookReceiver", header_id)
    ctx.header_id = header_id
    for old in step.remove_ids:
        await _header_link(ion, ctx, "removeHeaderFromWebhookReceiver", old)
    removed = f", removed header {', '.join(map(str, step.remove_ids))}" if step.remove_ids else ""
    return f"added header {step.header_name!r} (header {header_id}) with a new token{removed}"


async def _header_link(ion: IonClient, ctx: _Context, field: str, header_id: int) -> None:
    """Add a header to the receiver or remove it (`field` is the mutation's root field)."""
    operation = field[0].upper() + field[1:]
    variables = {
        "input": {
            "etag": ctx.etag,
            "webhookReceiverId": ctx.receiver(),
            "webhookHeaderId": header_id,
        }
    }
    data = await ion.execute(operation, variables)
    ctx.etag = data[field]["webhookReceiver"]["_etag"]
