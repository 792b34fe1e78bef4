"""Fixtures for the ION client tests: the stand-in, served for real."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.ion.standin import Ion, running_ion


@pytest.fixture
def ion() -> Iterator[Ion]:
    with running_ion() as standin:
        yield standin
