"""PCC005 cache-subscript: ``cache[i]``, ``for k, v in cache`` on a known cache."""

from __future__ import annotations

import ast

from compat.migrate.receivers import READABLE, receiver
from compat.migrate.rules._calls import compat_call, single_index
from compat.migrate.rules._unit import Context, Rule, RuleUnit

__all__ = ["CacheSubscript"]

RULE = Rule(
    "PCC005",
    "cache-subscript",
    "cache[i] / for layer in cache (cache known to be a Cache)",
    "a Cache is subscriptable (giving (k, v)) only up to transformers 4.57; from 5.0 `cache[i]` raises "
    "TypeError and iterating yields (k, v, sliding) 3-tuples",
    "compat.to_legacy(cache)[i]: reads of a cache built in the same scope",
    "index compat.to_legacy(cache, model=model); never write through it",
)


def _to_legacy(ctx: Context, node: ast.expr) -> None:
    ctx.rewrite(node, lambda text: compat_call("to_legacy", text))


class CacheSubscript(RuleUnit):
    rule = RULE

    def on_subscript(self, ctx: Context, node: ast.Subscript) -> bool:
        inf = ctx.inf
        kind = inf.cache_kind(node.value)
        # A slice never worked on a Cache, so sliced ``x.past_key_values[1:]`` is a tuple (e.g. TF models).
        if kind is not None and single_index(node) is not None and receiver(inf, node.value, "__getitem__") is not None:
            fixable = not inf.is_store(node) and kind in READABLE
            if ctx.report(node, RULE.id, fixable=fixable):
                _to_legacy(ctx, node.value)
        return True

    def on_iteration(self, ctx: Context, iterable: ast.expr) -> bool:
        inf = ctx.inf
        kind = inf.cache_kind(iterable)
        if kind is None or receiver(inf, iterable, "__iter__") is None:
            return False
        if ctx.report(iterable, RULE.id, fixable=kind in READABLE):
            _to_legacy(ctx, iterable)
        return True
