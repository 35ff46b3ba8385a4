"""The rule registry: one stable id per deprecated cache pattern.

Ids never change meaning; a retired rule keeps its number. Every message says
why the pattern breaks and in which transformers versions (see docs/migrate.md).

>>> RULES["PCC001"].name
'from-legacy-cache'
>>> [r.id for r in RULES.values() if r.fix][:3]
['PCC001', 'PCC002', 'PCC003']
>>> select_rules(select=["PCC00"], ignore=["PCC002"])[:3]
['PCC001', 'PCC003', 'PCC004']
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

__all__ = ["RULES", "Rule", "UnknownRuleError", "select_rules"]


@dataclasses.dataclass(frozen=True)
class Rule:
    """One lint rule.

    Args:
        id: stable id, ``PCCnnn``.
        name: short kebab-case name.
        pattern: the pattern as a user would write it.
        message: why it breaks and in which transformers versions.
        fix: the rewrite ``--fix`` applies (when it applies), or ``""``.
        todo: what the ``# TODO(compat):`` comment asks a human to check.
    """

    id: str
    name: str
    pattern: str
    message: str
    fix: str
    todo: str


_RULES = [
    Rule(
        "PCC001",
        "from-legacy-cache",
        "DynamicCache.from_legacy_cache(x) / EncoderDecoderCache.from_legacy_cache(x)",
        "`from_legacy_cache` exists only in transformers 4.36-4.57 "
        "(EncoderDecoderCache 4.43-4.57) and was removed in 5.0 with no alias",
        "compat.from_legacy_cache(x) (None-safe: an empty cache, as before); compat.to_cache(x) for a tuple",
        "use compat.from_legacy_cache(x); it takes no other arguments",
    ),
    Rule(
        "PCC002",
        "to-legacy-cache",
        "cache.to_legacy_cache()",
        "`to_legacy_cache()` exists only in transformers 4.36-4.57 and was removed in 5.0 "
        "(in 4.56-4.57 an EncoderDecoderCache returns (k, v, None, None) even for decoder-only models)",
        "compat.to_legacy(cache)",
        "if a transformers cache: compat.to_legacy(cache); else silence",
    ),
    Rule(
        "PCC003",
        "key-value-cache-lists",
        "cache.key_cache[i] / cache.value_cache[i]",
        "`key_cache`/`value_cache` are deprecated wrappers in transformers 4.54-4.55 and removed in 4.56 "
        "(tensors live in `cache.layers[i].keys`/`.values` from 4.54)",
        "compat.layer_keys(cache, i) / compat.layer_values(cache, i) (O(1)): reads of a known DynamicCache",
        "read via compat.layer_keys/layer_values(cache, i); to write, build a new one",
    ),
    Rule(
        "PCC004",
        "cache-constructor-with-data",
        "DynamicCache(legacy) / EncoderDecoderCache(legacy)",
        "`DynamicCache(legacy)` raises TypeError up to transformers 4.45.1, is silently EMPTY in 4.45.2-4.49 "
        "(the argument binds to the deprecated `num_hidden_layers`) and silently broken in 4.54-4.55 "
        "(an extra empty layer); "
        "`EncoderDecoderCache(legacy)` works only from 4.56",
        "compat.from_legacy_cache(legacy) (compat.to_cache(legacy) for a tuple)",
        "data: compat.from_legacy_cache(data); a layer count: drop it",
    ),
    Rule(
        "PCC005",
        "cache-subscript",
        "cache[i] / for layer in cache (cache known to be a Cache)",
        "a Cache is subscriptable (giving (k, v)) only up to transformers 4.57; from 5.0 `cache[i]` raises "
        "TypeError and iterating yields (k, v, sliding) 3-tuples",
        "compat.to_legacy(cache)[i]: reads of a cache built in the same scope",
        "index compat.to_legacy(cache, model=model); never write through it",
    ),
    Rule(
        "PCC006",
        "crop-non-negative",
        "cache.crop(0) / cache.crop(n) with n >= 0",
        "`crop(max_length)` up to transformers 5.14 (crop(0) EMPTIES the cache) became "
        "`crop(tokens_to_remove)` in 5.15 (crop(0) does nothing; a positive value is deprecated) "
        "and a positive value raises ValueError from 5.20",
        "",
        "only crop(-n), n > 0, is portable; to empty a cache build a new one",
    ),
    Rule(
        "PCC007",
        "max-length-api",
        "cache.get_max_length() / cache.get_max_cache_shape()",
        "`get_max_length()` returns None for dynamic caches in transformers 4.36-4.48, is removed in 4.49-5.12 "
        "and returns -1 from 5.13; `get_max_cache_shape()` exists 4.46-5.19 (None until 4.53, -1 after) "
        "and is removed in 5.20",
        "",
        "no portable call: read the limit from the model config",
    ),
    Rule(
        "PCC008",
        "seen-tokens",
        "cache.seen_tokens",
        "`seen_tokens` is a deprecated property from transformers 4.39 and removed in 4.54; "
        "it also stays 0 for `DynamicCache(data)` in 4.50-4.53",
        "",
        "get_seq_length() is the length (differs after crop / for sink caches)",
    ),
    Rule(
        "PCC009",
        "get-usable-length",
        "cache.get_usable_length(n[, layer_idx])",
        "`get_usable_length` exists only in transformers 4.36-4.53 and was removed in 4.54",
        "cache.get_seq_length(layer_idx), when `cache` is known to be a DynamicCache (no max length)",
        "a DynamicCache: get_seq_length(layer_idx); static caches capped it",
    ),
    Rule(
        "PCC010",
        "explicit-cache-position",
        "f(..., past_key_values=..., cache_position=...)",
        "an explicit `cache_position` is trusted by transformers 4.38-5.3 (positions and the causal mask "
        "follow it: silently wrong logits if it does not start at the prefix length) and silently ignored "
        "from 5.4",
        "",
        "drop it unless it starts at the cache length (see compat.prefixed_call)",
    ),
    Rule(
        "PCC011",
        "generate-tuple-past",
        "model.generate(..., past_key_values=<tuple>)",
        "a tuple passed to `generate(past_key_values=...)` is deprecated in transformers 4.57 and raises "
        "ValueError from 5.0",
        "model.generate(..., past_key_values=compat.to_cache(<tuple>, model=model))",
        "pass compat.to_cache(<tuple>, model=<the model>)",
    ),
    Rule(
        "PCC012",
        "past-key-values-keyword",
        "model(..., past_key_values=x) / model.forward(...) / model.generate(...)",
        "transformers 5.24 renamed the `past_key_values` argument of model forward/generate to `cache` "
        "(the old name draws a FutureWarning, removal announced for 5.40); `cache=` fails before 5.24",
        "**{compat.cache_argument(model): x} (**compat.cache_kwargs(model, x) for a legacy tuple "
        "passed to generate): the name the installed transformers takes",
        "if a model: **{compat.cache_argument(model): x} instead",
    ),
    Rule(
        "PCC013",
        "output-past-key-values",
        "outputs.past_key_values (outputs of a model call)",
        "transformers 5.24 renamed the model output field `past_key_values` to `cache` (the old name "
        "logs a deprecation)",
        "compat.output_cache(outputs)",
        "read it with compat.output_cache(outputs)",
    ),
]

RULES: dict[str, Rule] = {rule.id: rule for rule in _RULES}


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
