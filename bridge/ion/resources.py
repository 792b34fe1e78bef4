"""Resource names: what the config says, what this ION tenant accepts, what the bridge uses inside.

ION's 2023 schema names resources after plural tables (`PURCHASE_ORDERS`, `RECEIPT_ITEMS`,
`PURCHASE_ORDERS_ATTRIBUTES`, but `PART_ATTRIBUTES` and `PARTS_INVENTORY`); today's docs show
singular names (`PURCHASE_ORDER`, `PART_INVENTORY`). Neither spelling can be hard-coded
(ion.md, assumed), so a name is matched by its *spelling variants*: each word singular or plural,
the unchanged name first, then changes to the last word, then to the others.

- `map_resources(configured, live)` maps configured names onto the tenant's live `ResourceEnum`.
- `canonical(name)` is the plural name the bridge uses internally (the keys of
  `bridge.sandbox.tracked.TRACKED`), whatever spelling ION's webhook body carries.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

#: The internal (2023 schema) spellings of the resources the bridge knows by name.
KNOWN: frozenset[str] = frozenset(
    {
        "PURCHASE_ORDERS",
        "PURCHASE_ORDER_LINES",
        "PURCHASE_ORDER_FEES",
        "PURCHASE_ORDERS_ATTRIBUTES",
        "PURCHASE_ORDER_LINES_ATTRIBUTES",
        "PURCHASE_ORDER_LINE_INVENTORIES",
        "PURCHASE_ORDER_APPROVALS",
        "SUPPLIERS",
        "SUPPLIERS_ATTRIBUTES",
        "LOCATIONS",
        "LOCATIONS_ATTRIBUTES",
        "PARTS",
        "PART_ATTRIBUTES",
        "PARTS_INVENTORY",
        "RECEIPTS",
        "RECEIPTS_ATTRIBUTES",
        "RECEIPT_ITEMS",
        "RUNS",
        "ISSUES",
    }
)


def normalize(name: str) -> str:
    """Upper case, words joined by underscores: `purchase-order lines` -> `PURCHASE_ORDER_LINES`."""
    return "_".join(name.replace("-", " ").replace("_", " ").upper().split())


def _forms(word: str) -> list[str]:
    """The word itself, then its plural or singular spellings (English rules ION's tables use)."""
    forms = [word]
    if word.endswith("IES") and len(word) > 3:
        forms.append(word[:-3] + "Y")
    elif word.endswith(("SES", "XES", "CHES", "SHES")):
        forms += [word[:-2], word[:-1]]
    elif word.endswith("S") and not word.endswith("SS"):
        forms.append(word[:-1])
    elif word.endswith("Y") and len(word) > 1 and word[-2] not in "AEIOU":
        forms.append(word[:-1] + "IES")
    elif word.endswith(("S", "X", "CH", "SH")):
        forms.append(word + "ES")
    else:
        forms.append(word + "S")
    return forms


def variants(name: str) -> list[str]:
    """Spellings of `name` to try, most likely first; the name itself always leads."""
    words = normalize(name).split("_")
    if not words or words == [""]:
        return []
    # The last word changes most often (PART -> PARTS); order by how many other words change.
    choices = [_forms(word) for word in words]
    ranked: list[tuple[int, int, str]] = []
    for combo in itertools.product(*(range(len(c)) for c in choices)):
        spelled = "_".join(c[i] for c, i in zip(choices, combo, strict=True))
        changed_others = sum(1 for i in combo[:-1] if i)
        ranked.append((changed_others, combo[-1] != 0, spelled))
    seen: dict[str, None] = {}
    for _others, _last, spelled in sorted(ranked, key=lambda r: (r[0], r[1])):
        seen.setdefault(spelled, None)
    return list(seen)


def match(name: str, universe: Iterable[str]) -> str | None:
    """The spelling of `name` found in `universe`, or None."""
    pool = set(universe)
    return next((v for v in variants(name) if v in pool), None)


@cache
def canonical(name: str) -> str:
    """The bridge's internal name for a resource: the 2023 plural spelling when known, else the
    name with its last word made plural (`PURCHASE_ORDER` -> `PURCHASE_ORDERS`)."""
    known = match(name, KNOWN)
    if known:
        return known
    words = normalize(name).split("_")
    last = words[-1]
    if last == "ATTRIBUTES" and len(words) > 1:
        return "_".join([*words[:-2], _plural(words[-2]), last])
    return "_".join([*words[:-1], _plural(last)])


def _plural(word: str) -> str:
    forms = _forms(word)
    # A word that already looks plural keeps its spelling; the alternative is its singular.
    if word.endswith("S") and not word.endswith("SS"):
        return word
    return forms[1]


@dataclass(frozen=True, kw_only=True)
class ResourceMapping:
    """Configured names mapped onto live ones; `unknown` are those ION does not have."""

    mapped: dict[str, str]  # configured name -> live ResourceEnum value
    unknown: tuple[str, ...]

    @property
    def live(self) -> tuple[str, ...]:
        """The distinct live names, in configured order (two spellings may meet on one)."""
        return tuple(dict.fromkeys(self.mapped.values()))


def map_resources(configured: Iterable[str], live: Iterable[str]) -> ResourceMapping:
    """Map each configured name onto the live `ResourceEnum`; names ION lacks are reported."""
    pool = set(live)
    mapped: dict[str, str] = {}
    unknown: list[str] = []
    for name in configured:
        found = match(name, pool)
        if found is None:
            unknown.append(name)
        else:
            mapped[name] = found
    return ResourceMapping(mapped=mapped, unknown=tuple(unknown))
