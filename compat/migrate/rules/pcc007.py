"""PCC007 max-length-api: ``cache.get_max_length()``, ``cache.get_max_cache_shape()``."""

from __future__ import annotations

import ast

from compat.migrate.receivers import receiver
from compat.migrate.rules._unit import Context, Rule, RuleUnit

__all__ = ["MaxLengthApi"]

RULE = Rule(
    "PCC007",
    "max-length-api",
    "cache.get_max_length() / cache.get_max_cache_shape()",
    "`get_max_length()` returns None for dynamic caches in transformers 4.36-4.48, is removed in 4.49-5.12 "
    "and returns -1 from 5.13; `get_max_cache_shape()` exists 4.46-5.19 (None until 4.53, -1 after) "
    "and is removed in 5.20",
    "",
    "no portable call: read the limit from the model config",
)
_METHODS = ("get_max_length", "get_max_cache_shape")


class MaxLengthApi(RuleUnit):
    rule = RULE

    def on_call(self, ctx: Context, node: ast.Call) -> bool:
        func = node.func
        if not (isinstance(func, ast.Attribute) and func.attr in _METHODS):
            return False
        if receiver(ctx.inf, func.value, func.attr, name_hint=func.attr == "get_max_length") is not None:
            ctx.report(node, RULE.id, fixable=False)
        return True
