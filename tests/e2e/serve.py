"""`bridge serve` as a real subprocess, started the way an operator would, for crash tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

import httpx

from bridge.sandbox.serving import free_port
from tests.harness import STORAGE_KEY, wait_until

#: The same scaled-down values as the in-process tests, as BRIDGE_* variables.
FAST_ENV = {
    "BRIDGE_SECRET_KEY": STORAGE_KEY,
    "BRIDGE_DELIVERY_RETRY_SCHEDULE": "[0.3, 0.6, 1.2, 2.4, 4.8]",
    "BRIDGE_DELIVERY_JITTER": "0",
    "BRIDGE_DELIVERY_TIMEOUT_SECONDS": "2",
    "BRIDGE_DELIVERY_LEASE_SECONDS": "3",
    "BRIDGE_DELIVERY_POLL_SECONDS": "0.05",
    "BRIDGE_SHUTDOWN_GRACE_SECONDS": "2",
    "BRIDGE_BREAKER_MIN_REQUESTS": "1000",
    "BRIDGE_LOG_LEVEL": "warning",
    "BRIDGE_LOG_FORMAT": "json",
}


class ServeProcess:
    """One `python -m bridge serve` on a loopback port, its output kept in a file."""

    def __init__(
        self,
        *,
        database_url: str,
        violet_url: str,
        log_dir: Path,
        name: str,
        **env: str,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"{name}.log"
        self.env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("BRIDGE_") or key.startswith("BRIDGE_TEST_")
        }
        self.env.update(FAST_ENV)
        self.env.update(
            {
                "BRIDGE_DATABASE_URL": database_url,
                "BRIDGE_VIOLET_WEBHOOK_URL": violet_url,
                "BRIDGE_HOST": "127.0.0.1",
                "BRIDGE_PORT": str(self.port),
                **env,
            }
        )
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> ServeProcess:
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bridge", "serve", "--no-reconcile"],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        wait_until(self.ready, timeout=30, what=f"bridge serve on {self.port} ({self.log_path})")
        return self

    def ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"serve exited: {self.log_path.read_text()[-3000:]}")
        try:
            return httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        """kill -9: no shutdown of any kind."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def terminate(self, timeout: float = 20) -> int:
        """SIGTERM and wait for the graceful exit; the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        if self._log is not None:
            self._log.close()

    def __enter__(self) -> ServeProcess:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()
