"""PCC006 crop-non-negative: ``cache.crop(0)``, ``cache.crop(n)`` with n >= 0 or unknown."""

from __future__ import annotations

import ast

from compat.migrate.receivers import receiver
from compat.migrate.rules._calls import plain_args
from compat.migrate.rules._unit import Context, Rule, RuleUnit

__all__ = ["CropNonNegative"]

RULE = Rule(
    "PCC006",
    "crop-non-negative",
    "cache.crop(0) / cache.crop(n) with n >= 0",
    "`crop(max_length)` up to transformers 5.14 (crop(0) EMPTIES the cache) became "
    "`crop(tokens_to_remove)` in 5.15 (crop(0) does nothing; a positive value is deprecated) "
    "and a positive value raises ValueError from 5.20",
    "",
    "only crop(-n), n > 0, is portable; to empty a cache build a new one",
)


def _portable_or_other(value: ast.expr) -> bool:
    """``crop(-n)`` (the one portable form), or PIL-style ``crop(box)`` and friends."""
    if isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.USub):
        return True
    if isinstance(value, (ast.Tuple, ast.List)):
        return True
    return isinstance(value, ast.Constant) and isinstance(value.value, (str, bytes, float))


class CropNonNegative(RuleUnit):
    rule = RULE

    def on_call(self, ctx: Context, node: ast.Call) -> bool:
        func = node.func
        args = plain_args(node)
        if not (isinstance(func, ast.Attribute) and func.attr == "crop") or args is None:
            return False
        if len(args[0]) != 1 or args[1]:
            return False
        if not _portable_or_other(args[0][0]) and receiver(ctx.inf, func.value, "crop", name_hint=True) is not None:
            ctx.report(node, RULE.id, fixable=False)
        return True
