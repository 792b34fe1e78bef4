"""Resending: one, many, or every FAILED delivery since a time. Used by the CLI and the API.

A resend is a new delivery (origin `resend`, `resend_of` = the original's webhook-id, sent with
`x-bridge-resend-of`) queued behind the open deliveries of the same object. It also lifts a
pause after a 410: resending is the operator saying Violet is reachable again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session

from bridge.delivery import destination, outbox
from bridge.delivery.log import find_delivery
from bridge.errors import UsageError
from bridge.store.models import Delivery


@dataclass(kw_only=True)
class ResendReport:
    """What a resend request did."""

    queued: list[Delivery] = field(default_factory=list)
    #: Originals whose earlier resend is still open: not queued twice.
    already_queued: list[Delivery] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    resumed: bool = False


def resend(
    session: Session,
    *,
    now: datetime,
    refs: Sequence[str | int] = (),
    status: str | None = None,
    since: datetime | None = None,
    limit: int = outbox.RESEND_LIMIT,
) -> ResendReport:
    """Queue copies of the deliveries named by `refs`, or of those in `status` since `since`."""
    if not refs and status is None:
        raise UsageError("name deliveries to resend, or a status (e.g. FAILED)")
    if len(refs) > outbox.RESEND_LIMIT:
        raise UsageError(f"at most {outbox.RESEND_LIMIT} deliveries per resend")
    report = ResendReport()
    originals: list[Delivery] = []
    for ref in refs:
        found = find_delivery(session, ref)
        if found is None:
            report.missing.append(str(ref))
        else:
            originals.append(found)
    if status is not None:
        try:
            originals.extend(
                outbox.resend_candidates(session, status=status.upper(), since=since, limit=limit)
            )
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    seen: set[int] = set()
    for original in originals:
        if original.id in seen:
            continue
        seen.add(original.id or 0)
        copy, created = outbox.resend(session, original, now=now)
        (report.queued if created else report.already_queued).append(copy)
    if report.queued or report.already_queued:
        report.resumed = destination.resume(session, now=now)
    return report
