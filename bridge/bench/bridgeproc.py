"""`bridge serve` in a subprocess, wired the way `bridge setup` would leave it.

The database is migrated and given a receiver credential (shared secret + header token) before
the process starts, exactly as provisioning stores them, so the inbox checks real signatures.
`kill()` is kill -9; `restart()` starts the same command on the same port and database.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from bridge import crypto
from bridge.bench.processes import ProcessFailed, Spawned
from bridge.clock import utcnow
from bridge.delivery import destination
from bridge.sandbox.serving import free_port
from bridge.settings import load_settings
from bridge.store.db import make_engine, session_scope
from bridge.store.migrate import upgrade
from bridge.store.models import ReceiverCredential

HEADER_NAME = "x-bridge-token"
SECRET_KEY = "bench-storage-key"  # noqa: S105 -- encrypts a throwaway bench secret
SHARED_SECRET = "bench-shared-secret"  # noqa: S105
HEADER_TOKEN = "bench-header-token"  # noqa: S105


@dataclass(frozen=True, kw_only=True)
class Credential:
    """What ION would send: the secret it signs with and the custom header it adds."""

    secret: str = SHARED_SECRET
    header: tuple[str, str] = (HEADER_NAME, HEADER_TOKEN)


def prepare_database(database_url: str, env: Mapping[str, str], credential: Credential) -> None:
    """Migrate `database_url` and store `credential` as provisioning does (encrypted, hashed)."""
    engine = make_engine(database_url)
    try:
        upgrade(engine)
        settings = load_settings(environ={**env, "BRIDGE_DATABASE_URL": database_url})
        key = crypto.storage_key(settings)
        with session_scope(engine) as session:
            session.add(
                ReceiverCredential(
                    webhook_uri="http://127.0.0.1/webhooks/ion",
                    secret_encrypted=crypto.encrypt_secret(credential.secret, key),
                    token_sha256=crypto.hash_token(credential.header[1]),
                    header_name=credential.header[0],
                    created_at=utcnow(),
                )
            )
    finally:
        engine.dispose()


def pause_destination(database_url: str) -> None:
    """Pause sending to Violet the way a 410 does (the flag every `serve` process reads)."""
    engine = make_engine(database_url)
    try:
        with session_scope(engine) as session:
            destination.pause(session, now=utcnow(), status_code=410, delivery_id=None)
    finally:
        engine.dispose()


class BridgeProcess:
    """One `python -m bridge serve` child; the same port and database across restarts."""

    def __init__(
        self,
        *,
        database_url: str,
        violet_url: str,
        log_dir: Path,
        env: Mapping[str, str] | None = None,
        credential: Credential | None = None,
        port: int = 0,
        name: str = "bridge",
        reconcile: bool = False,
    ) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.database_url = database_url
        self.credential = credential or Credential()
        self.env = {
            "BRIDGE_DATABASE_URL": database_url,
            "BRIDGE_VIOLET_WEBHOOK_URL": violet_url,
            "BRIDGE_SECRET_KEY": SECRET_KEY,
            "BRIDGE_PUBLIC_URL": f"http://{self.host}:{self.port}",
            "BRIDGE_ALLOW_INSECURE_PUBLIC_URL": "true",
            "BRIDGE_LOG_LEVEL": "warning",
            "BRIDGE_LOG_FORMAT": "json",
            **(env or {}),
        }
        args = ["serve", "--host", self.host, "--port", str(self.port)]
        if not reconcile:
            args.append("--no-reconcile")
        self.process = Spawned(name, "bridge", args, log_dir=log_dir, env=self.env)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def prepare(self) -> BridgeProcess:
        prepare_database(self.database_url, self.env, self.credential)
        return self

    def start(self, timeout: float = 30.0) -> BridgeProcess:
        self.process.start()
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Until `/readyz` answers 200 (database reachable, worker running)."""
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2, trust_env=False) as http:
            while time.monotonic() < deadline:
                if self.process.returncode is not None:
                    raise ProcessFailed(
                        f"bridge exited with {self.process.returncode}:\n{self.process.tail()}"
                    )
                try:
                    if http.get(f"{self.url}/readyz").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.05)
        raise ProcessFailed(f"bridge not ready after {timeout}s:\n{self.process.tail()}")

    def kill(self) -> None:
        self.process.kill()

    def stop(self) -> None:
        self.process.stop()

    def restart(self, timeout: float = 30.0) -> None:
        self.process.stop()
        self.start(timeout)

    def cpu_seconds(self) -> float:
        return self.process.cpu_seconds()
