"""Firing webhooks the way ION does: one signed POST per matching subscription, retried.

Each delivery is a `webhookEvents` row whose id is the body's `event_id`. Deliveries run as
background tasks on the server's loop, so a mutation answers before its webhooks arrive, and a
retry of an older event may land after a newer event: ION promises neither order nor exactly-once.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from datetime import datetime
from typing import Any

import httpx

from bridge.sandbox.ion.tables import EVENTS, HEADERS, RECEIVERS, SUBSCRIPTIONS
from bridge.sandbox.ion.world import IonWorld, Row

log = logging.getLogger(__name__)

_RESPONSE_LIMIT = 2000  # characters of a receiver's answer kept in `responseData`


def sign(secret: str, body: bytes) -> str:
    """`x-ion-signature`: hex HMAC-SHA256 of the raw body, keyed with the shared secret."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def timestamp(at: datetime) -> str:
    """The body's `timestamp`: UTC, milliseconds, `Z` (`2026-11-22T10:15:03.120Z`)."""
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


class WebhookEngine:
    """Records and delivers the webhooks a committed write fires."""

    def __init__(self, world: IonWorld) -> None:
        self.world = world
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._client = httpx.AsyncClient(
            timeout=self.world.webhook_timeout_seconds, trust_env=False, follow_redirects=False
        )

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def emit(
        self,
        resource: str,
        action: str,
        object_id: int,
        changes: dict[str, Any],
        data: dict[str, Any],
    ) -> list[int]:
        """Record one webhookEvent per matching subscription and start delivering it."""
        world = self.world
        event_ids = []
        for subscription in world.rows(SUBSCRIPTIONS):
            receiver = world.find(RECEIVERS, subscription["receiverId"])
            if not (
                subscription["active"]
                and subscription["resource"] == resource
                and subscription["action"] == action
                and receiver is not None
                and receiver["active"]
            ):
                continue
            event_id = world.next_id(EVENTS)
            body = {
                "event_id": event_id,
                "subscription_id": subscription["id"],
                "resource": resource,
                "action": action,
                "id": object_id,
                "timestamp": timestamp(world.now()),
                "changes": changes,
                "data": data,
            }
            world.insert(
                EVENTS,
                {
                    "id": event_id,
                    "subscriptionId": subscription["id"],
                    "requestData": json.dumps(body),
                },
            )
            event_ids.append(event_id)
            task = asyncio.get_running_loop().create_task(self._deliver(event_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return event_ids

    async def _deliver(self, event_id: int) -> None:
        delays = self.world.webhook_retry_delays
        try:
            for attempt in range(len(delays) + 1):
                if attempt:
                    await asyncio.sleep(delays[attempt - 1])
                    self.world.update(EVENTS, event_id, {"numberOfRetries": attempt})
                succeeded = await self._post(event_id)
                if succeeded is None:
                    return
                if succeeded:
                    self.world.update(EVENTS, event_id, {"status": "SUCCEEDED"})
                    return
                last = attempt == len(delays)
                self.world.update(EVENTS, event_id, {"status": "FAILED" if last else "RETRYING"})
        except Exception:  # a bug here must not kill the loop; the event shows it failed
            log.exception("webhook delivery %s crashed", event_id)
            self.world.update(EVENTS, event_id, {"status": "FAILED"})

    async def _post(self, event_id: int) -> bool | None:
        """One attempt: True on the expected status, False otherwise, None if undeliverable."""
        world = self.world
        event = world.get(EVENTS, event_id)
        subscription = world.find(SUBSCRIPTIONS, event["subscriptionId"])
        receiver = (
            None if subscription is None else world.find(RECEIVERS, subscription["receiverId"])
        )
        if receiver is None or not receiver["active"]:
            world.update(
                EVENTS, event_id, {"status": "FAILED", "responseData": "receiver gone or inactive"}
            )
            return None
        body = event["requestData"].encode()
        world.stats.webhook_posts += 1
        status: int | None = None
        try:
            client = self._client or httpx.AsyncClient(trust_env=False)
            self._client = client
            response = await client.post(
                receiver["webhookUri"],
                content=body,
                headers=self._headers(receiver, body),
                timeout=world.webhook_timeout_seconds,
            )
            status, answer = response.status_code, response.text[:_RESPONSE_LIMIT]
        except httpx.HTTPError as exc:
            answer = f"{type(exc).__name__}: {exc}"[:_RESPONSE_LIMIT]
        world.update(
            EVENTS,
            event_id,
            {
                "responseStatusCode": status,
                "responseData": answer,
                "responseReceivedAt": world.now(),
            },
        )
        return bool(status == receiver["expectedResponseCode"])

    def _headers(self, receiver: Row, body: bytes) -> dict[str, str]:
        headers = {"content-type": "application/json", "user-agent": "ION-Webhooks (stand-in)"}
        for header_id in self.world.receiver_headers.get(receiver["id"], ()):
            header = self.world.find(HEADERS, header_id)
            if header is not None:
                headers[header["key"]] = header["value"]
        # The signature is set last so a custom header can never replace it.
        headers["x-ion-signature"] = sign(receiver["sharedSecret"], body)
        return headers
