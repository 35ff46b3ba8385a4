"""PCC009 get-usable-length: ``cache.get_usable_length(n[, layer_idx])``."""

from __future__ import annotations

import ast

from compat.migrate.receivers import receiver
from compat.migrate.rules._calls import has_call, plain_args
from compat.migrate.rules._unit import Context, Rule, RuleUnit

__all__ = ["GetUsableLength"]

RULE = Rule(
    "PCC009",
    "get-usable-length",
    "cache.get_usable_length(n[, layer_idx])",
    "`get_usable_length` exists only in transformers 4.36-4.53 and was removed in 4.54",
    "cache.get_seq_length(layer_idx), when `cache` is known to be a DynamicCache (no max length)",
    "a DynamicCache: get_seq_length(layer_idx); static caches capped it",
)


class GetUsableLength(RuleUnit):
    rule = RULE

    def on_call(self, ctx: Context, node: ast.Call) -> bool:
        func = node.func
        if not (isinstance(func, ast.Attribute) and func.attr == "get_usable_length"):
            return False
        kind = receiver(ctx.inf, func.value, func.attr)
        if kind is None:
            return True
        args = plain_args(node)
        fixable = False
        layer: ast.expr | ast.keyword | None = None
        if args is not None and kind == "DynamicCache":
            positional, keywords = args
            if set(keywords) <= {"new_seq_length", "layer_idx"} and len(positional) + len(keywords) in (1, 2):
                new_len = positional[0] if positional else getattr(keywords.get("new_seq_length"), "value", None)
                layer = positional[1] if len(positional) > 1 else keywords.get("layer_idx")
                fixable = new_len is not None and not has_call(new_len)
        if ctx.report(node, RULE.id, fixable=fixable, via_compat=False):
            # DynamicCache has no max length, so get_usable_length(n, i) == get_seq_length(i) (4.36-4.53).
            ctx.rewrite(node, lambda _: self._seq_length(ctx, func, layer))
        return True

    @staticmethod
    def _seq_length(ctx: Context, func: ast.Attribute, layer: ast.expr | ast.keyword | None) -> str:
        inf = ctx.inf
        dot = inf.source[inf.span(func.value)[1]:inf.span(func)[1] - len(func.attr)]
        argument = ""
        if isinstance(layer, ast.keyword):  # layer_idx=i, its own spacing kept
            argument = inf.source[inf.span(layer)[0]:inf.span(layer.value)[0]] + ctx.text(layer.value)
        elif layer is not None:
            argument = ctx.text(layer)
        return f"{ctx.text(func.value)}{dot}get_seq_length({argument})"
