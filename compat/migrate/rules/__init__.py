"""The rule registry: one stable id per deprecated cache pattern, each rule one unit.

Each rule lives in its own module (``pcc001.py`` ...): its texts (a :class:`Rule`:
id, name, pattern, message, fix, TODO) and its detection and rewrite (a
:class:`RuleUnit`), the LibCST codemod way. :data:`UNITS` lists them in id order;
the engine calls their hooks on every node. Ids never change meaning; a retired rule
keeps its number. Every message says why the pattern breaks and in which transformers
versions (see docs/migrate.md).

>>> RULES["PCC001"].name
'from-legacy-cache'
>>> [r.id for r in RULES.values() if r.fix][:3]
['PCC001', 'PCC002', 'PCC003']
>>> select_rules(select=["PCC00"], ignore=["PCC002"])[:3]
['PCC001', 'PCC003', 'PCC004']
"""

from __future__ import annotations

from collections.abc import Iterable

from compat.migrate.rules import (
    pcc001,
    pcc002,
    pcc003,
    pcc004,
    pcc005,
    pcc006,
    pcc007,
    pcc008,
    pcc009,
    pcc010,
    pcc011,
    pcc012,
    pcc013,
)
from compat.migrate.rules._unit import Context, Rule, RuleUnit

__all__ = ["RULES", "UNITS", "Context", "Rule", "RuleUnit", "UnknownRuleError", "select_rules"]

#: Every rule, in id order (the order its hooks run in, and so the order of TODO comments).
UNITS: tuple[RuleUnit, ...] = (
    pcc001.FromLegacyCache(),
    pcc002.ToLegacyCache(),
    pcc003.KeyValueCacheLists(),
    pcc004.CacheConstructorWithData(),
    pcc005.CacheSubscript(),
    pcc006.CropNonNegative(),
    pcc007.MaxLengthApi(),
    pcc008.SeenTokens(),
    pcc009.GetUsableLength(),
    pcc010.ExplicitCachePosition(),
    pcc011.GenerateTuplePast(),
    pcc012.PastKeyValuesKeyword(),
    pcc013.OutputPastKeyValues(),
)

RULES: dict[str, Rule] = {unit.rule.id: unit.rule for unit in UNITS}


class UnknownRuleError(ValueError):
    """A ``--select``/``--ignore`` entry that names no rule."""


def _expand(codes: Iterable[str]) -> set[str]:
    chosen: set[str] = set()
    for raw in codes:
        code = raw.strip().upper()
        if not code:
            continue
        if code == "ALL":
            chosen.update(RULES)
            continue
        matched = {rid for rid in RULES if rid.startswith(code)}
        if not matched:
            raise UnknownRuleError(
                f"unknown rule id {raw.strip()!r}: expected one of {', '.join(RULES)} "
                "(or a prefix of them, or ALL)"
            )
        chosen.update(matched)
    return chosen


def select_rules(select: Iterable[str] | None = None, ignore: Iterable[str] | None = None) -> list[str]:
    """Rule ids enabled by ``--select`` (default: all) minus ``--ignore``; prefixes allowed.

    >>> select_rules(select=["PCC011"])
    ['PCC011']
    >>> select_rules(select=["PCC9"])  # doctest: +NORMALIZE_WHITESPACE
    Traceback (most recent call last):
    ...
    compat.migrate.rules.UnknownRuleError: unknown rule id 'PCC9': expected one of PCC001, PCC002, PCC003,
    PCC004, PCC005, PCC006, PCC007, PCC008, PCC009, PCC010, PCC011, PCC012, PCC013 (or a prefix of them, or ALL)
    """
    chosen = _expand(select) if select else set(RULES)
    chosen -= _expand(ignore or ())
    return sorted(chosen)
