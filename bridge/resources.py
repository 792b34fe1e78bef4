"""Where the packaged data lives: `graphql/` and `config/`.

From a source checkout they sit at the repository root; in an installed wheel they travel inside
the package as `bridge/_data/{graphql,config}` (see pyproject's force-include).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


@cache
def data_dir(name: str) -> Path:
    """The directory `name` (``"graphql"`` or ``"config"``), wherever this install keeps it."""
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"bridge data directory {name!r} is missing from this install")


@cache
def graphql_document(name: str) -> str:
    """The text of `graphql/<name>.graphql` (one operation per file, named after it)."""
    path = data_dir("graphql") / f"{name}.graphql"
    return path.read_text(encoding="utf-8")
