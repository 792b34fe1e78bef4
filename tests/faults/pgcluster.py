"""A PostgreSQL cluster of the drill's own, so the drill can really restart it.

The tests' shared server cannot be restarted without breaking every other run on the machine. A
private cluster (initdb into a temporary folder, its own port, trust auth on loopback) costs
about a second and can be stopped the way a server goes down: `fast` (sessions ended with
"terminating connection due to administrator command", as in a planned restart) or `immediate`
(the postmaster kills its backends without a checkpoint and replays the WAL when it starts, as
after a crash).

The server's binaries are found with `pg_config --bindir`, or under `/usr/lib/postgresql/*/bin`.
PostgreSQL refuses to run as root: as root, the cluster belongs to the `postgres` user and every
command runs as that user (`runuser`).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
from pathlib import Path
from typing import Literal

from bridge.sandbox.serving import free_port

StopMode = Literal["fast", "immediate"]
_SERVER_USER = "postgres"


def find_bindir() -> Path | None:
    """Where `initdb` and `pg_ctl` are, or None when this machine has no PostgreSQL server."""
    candidates: list[str] = []
    if shutil.which("pg_config"):
        done = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, check=False, timeout=30
        )
        if done.returncode == 0:
            candidates.append(done.stdout.strip())
    candidates.extend(sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True))
    for folder in candidates:
        path = Path(folder)
        if (path / "initdb").is_file() and (path / "pg_ctl").is_file():
            return path
    return None


def unusable(bindir: Path | None) -> str | None:
    """Why no private cluster can be made here (`bindir`: `find_bindir()`), or None."""
    if bindir is None:
        return "no PostgreSQL server binaries (initdb, pg_ctl) on this machine"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(_SERVER_USER)
        except KeyError:
            return f"running as root, and there is no {_SERVER_USER!r} user to run PostgreSQL as"
        if shutil.which("runuser") is None:
            return "running as root, and there is no runuser to run PostgreSQL as another user"
    return None


class PrivateCluster:
    """initdb, start, stop (`fast` or `immediate`) and start again; removed by `destroy`."""

    def __init__(self, bindir: Path, folder: Path) -> None:
        self.bindir = bindir
        self.folder = folder
        self.data = folder / "data"
        self.port = free_port()
        self._as: list[str] = []
        if os.geteuid() == 0:
            self._as = ["runuser", "-u", _SERVER_USER, "--"]

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def create(self) -> PrivateCluster:
        self.folder.mkdir(parents=True, exist_ok=True)
        if self._as:
            entry = pwd.getpwnam(_SERVER_USER)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        return self.start()

    def start(self) -> PrivateCluster:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        log = str(self.folder / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "start")
        return self

    def stop(self, mode: StopMode) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.folder, ignore_errors=True)

    def _run(self, program: str, *args: str, check: bool = True) -> None:
        done = subprocess.run(
            [*self._as, str(self.bindir / program), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"{program} {args[-1]} failed: {done.stderr.strip()[-1000:]}")
