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


#: Schema files (SDL), as opposed to operation documents.
SCHEMA_FILES = {"ion-standin.graphql"}


@cache
def graphql_documents() -> dict[str, Path]:
    """Every operation document under `graphql/` (any sub-folder), by operation name.

    One operation per file, the file named after the operation; names are unique across folders.
    """
    found: dict[str, Path] = {}
    for path in sorted(data_dir("graphql").rglob("*.graphql")):
        if path.name in SCHEMA_FILES:
            continue
        if path.stem in found:
            raise RuntimeError(
                f"two GraphQL documents named {path.stem}: {found[path.stem]}, {path}"
            )
        found[path.stem] = path
    return found


@cache
def graphql_document(name: str) -> str:
    """The text of the operation document `name` (e.g. ``"CreateWebhookReceiver"``)."""
    try:
        path = graphql_documents()[name]
    except KeyError:
        raise KeyError(f"no GraphQL document named {name!r} under graphql/") from None
    return path.read_text(encoding="utf-8")
