"""Servers in processes of their own: started, awaited, measured, stopped or killed (-9).

Each server the bench or a drill measures runs in its own Python process, so the load generator,
the bridge and the stand-ins never share a GIL, as in production where they are different hosts.
Output goes to a log file per process, kept for a post-mortem when something fails.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


class ProcessFailed(RuntimeError):
    """A server process exited or did not start listening in time."""


def wait_for_port(host: str, port: int, *, timeout: float, alive: Spawned | None = None) -> None:
    """Return once `host:port` accepts a TCP connection; raise ProcessFailed at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive is not None and alive.returncode is not None:
            raise ProcessFailed(f"{alive.name} exited with {alive.returncode}: {alive.tail()}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise ProcessFailed(f"nothing listens on {host}:{port} after {timeout}s")


class Spawned:
    """One child process running a Python module (`python -m module args...`)."""

    def __init__(
        self,
        name: str,
        module: str,
        args: Sequence[str],
        *,
        log_dir: Path,
        env: Mapping[str, str] | None = None,
        port: int = 0,
    ) -> None:
        self.name = name
        self.port = port  # where it listens, when the caller chose (informational)
        self.argv = [sys.executable, "-m", module, *args]
        self.env = {**os.environ, **(env or {})}
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> Spawned:
        self.starts += 1
        log = self.log_path.open("ab")
        log.write(f"--- start {self.starts}: {' '.join(self.argv[1:])}\n".encode())
        log.flush()
        self.process = subprocess.Popen(  # noqa: S603 -- our own interpreter and module
            self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        return self

    @property
    def pid(self) -> int:
        if self.process is None:
            raise ProcessFailed(f"{self.name} was never started")
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def cpu_seconds(self) -> float:
        """User + system CPU time so far of the process and the processes it started (Linux
        /proc): `serve`'s ingest writer process counts as `serve`'s."""
        return tree_cpu_seconds(self.pid)

    def kill(self) -> None:
        """kill -9: no shutdown hook runs, as when the host loses power to the process."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (graceful), then SIGKILL if it has not exited within `timeout`."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of `pid` and its living descendants (Linux /proc)."""
    return sum(_cpu_of(member) for member in _tree(pid))


def _cpu_of(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _tree(pid: int) -> list[int]:
    """`pid` and its living descendants (each thread lists the children it started)."""
    found, frontier = [pid], [pid]
    while frontier:
        parent = frontier.pop()
        for children in Path(f"/proc/{parent}/task").glob("*/children"):
            try:
                kids = [int(child) for child in children.read_text().split()]
            except OSError:
                continue
            found += kids
            frontier += kids
    return found
