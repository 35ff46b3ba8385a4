"""PCC002 to-legacy-cache: ``cache.to_legacy_cache()``."""

from __future__ import annotations

import ast

from compat.migrate.receivers import READABLE, receiver
from compat.migrate.rules._calls import compat_call
from compat.migrate.rules._unit import Context, Rule, RuleUnit

__all__ = ["ToLegacyCache"]

RULE = Rule(
    "PCC002",
    "to-legacy-cache",
    "cache.to_legacy_cache()",
    "`to_legacy_cache()` exists only in transformers 4.36-4.57 and was removed in 5.0 "
    "(in 4.56-4.57 an EncoderDecoderCache returns (k, v, None, None) even for decoder-only models)",
    "compat.to_legacy(cache)",
    "if a transformers cache: compat.to_legacy(cache); else silence",
)


class ToLegacyCache(RuleUnit):
    rule = RULE

    def on_call(self, ctx: Context, node: ast.Call) -> bool:
        func = node.func
        if not (isinstance(func, ast.Attribute) and func.attr == "to_legacy_cache") or node.args or node.keywords:
            return False
        kind = receiver(ctx.inf, func.value, func.attr)
        if kind is not None and ctx.report(node, RULE.id, fixable=kind in READABLE | {"past_key_values"}):
            ctx.rewrite(node, lambda _: compat_call("to_legacy", ctx.text(func.value)))
        return True
