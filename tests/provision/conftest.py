"""Fixtures for the provisioning tests: the ION stand-in, a bridge environment pointing at it
(on each database backend), and the `bridge` CLI run in-process."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from bridge.cli import main
from tests.ion.standin import Ion, running_ion


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


Bridge = Callable[..., Result]


@pytest.fixture
def ion() -> Iterator[Ion]:
    with running_ion() as standin:
        yield standin


@pytest.fixture
def bridge_env(ion: Ion, database_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """BRIDGE_* variables set for this test: the stand-in, a fresh database, loopback http."""
    env = ion.env(database_url)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def bridge(bridge_env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> Bridge:
    """Run `bridge <args>` in this process; returns its exit code and output."""

    def run(*args: str) -> Result:
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        captured = capsys.readouterr()
        return Result(code=code, out=captured.out, err=captured.err)

    return run
