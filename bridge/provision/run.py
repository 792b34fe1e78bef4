"""One `bridge setup` run as a function: observe, plan, show the plan, apply it.

The CLI calls `run_setup` with a real `IonClient`; the demo and the tests call it the same way
with a client of their own (a stand-in's URL, a recording transport, a fake clock). Output goes
through `echo` line by line, so the plan is on screen before the first mutation is sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from bridge.clock import utcnow
from bridge.ion.client import IonClient
from bridge.provision.apply import apply_plan
from bridge.provision.credentials import CredentialStore, load_stored
from bridge.provision.observe import observe
from bridge.provision.plan import Plan, make_plan
from bridge.provision.steps import CreateReceiver, RotateSecret
from bridge.settings import Settings

Echo = Callable[[str], None]


@dataclass(frozen=True, kw_only=True)
class SetupResult:
    plan: Plan
    done: list[str] = field(default_factory=list)
    applied: bool = False


async def run_setup(
    ion: IonClient,
    settings: Settings,
    engine: Engine,
    *,
    dry_run: bool = False,
    prune: bool = False,
    rotate: bool = False,
    echo: Echo = print,
) -> SetupResult:
    """Make ION match the config (or, with `dry_run`, only say how); see `plan` for the rules.

    The database schema must be current unless `dry_run` (which writes nothing at all)."""
    stored = load_stored(engine, settings)
    observation = await observe(ion, settings, stored.receiver_id if stored else None)
    plan = make_plan(observation.desired, observation.receivers, stored, prune=prune, rotate=rotate)
    for line in plan.lines():
        echo(line)
    if dry_run:
        echo("Dry run: nothing was changed.")
        return SetupResult(plan=plan)
    if plan.is_empty:
        return SetupResult(plan=plan)
    store = CredentialStore(engine, settings, utcnow)
    done = await apply_plan(plan, ion, store, stored)
    echo(f"Done: {len(done)} change(s).")
    for line in done:
        echo(f"  ✓ {line}")
    if any(isinstance(step, CreateReceiver | RotateSecret) for step in plan.steps):
        echo(
            "The new shared secret and header token are stored in the bridge's database "
            "(encrypted / hashed); they are never shown."
        )
    return SetupResult(plan=plan, done=done, applied=True)
