"""PCC008 seen-tokens: ``cache.seen_tokens``."""

from __future__ import annotations

import ast

from compat.migrate.receivers import receiver
from compat.migrate.rules._unit import Context, Rule, RuleUnit

__all__ = ["SeenTokens"]

RULE = Rule(
    "PCC008",
    "seen-tokens",
    "cache.seen_tokens",
    "`seen_tokens` is a deprecated property from transformers 4.39 and removed in 4.54; "
    "it also stays 0 for `DynamicCache(data)` in 4.50-4.53",
    "",
    "get_seq_length() is the length (differs after crop / for sink caches)",
)


class SeenTokens(RuleUnit):
    rule = RULE

    def on_attribute(self, ctx: Context, node: ast.Attribute) -> bool:
        if node.attr != "seen_tokens":
            return False
        if receiver(ctx.inf, node.value, node.attr, name_hint=True) is not None:
            ctx.report(node, RULE.id, fixable=False)
        return True
