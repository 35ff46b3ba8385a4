"""PCC001 from-legacy-cache: ``DynamicCache.from_legacy_cache(x)`` / ``EncoderDecoderCache.from_legacy_cache(x)``."""

from __future__ import annotations

import ast

from compat.migrate.rules._calls import argument_text, compat_call, is_none, plain_args
from compat.migrate.rules._unit import Context, Rule, RuleUnit

__all__ = ["FromLegacyCache", "legacy_to_cache"]

RULE = Rule(
    "PCC001",
    "from-legacy-cache",
    "DynamicCache.from_legacy_cache(x) / EncoderDecoderCache.from_legacy_cache(x)",
    "`from_legacy_cache` exists only in transformers 4.36-4.57 "
    "(EncoderDecoderCache 4.43-4.57) and was removed in 5.0 with no alias",
    "compat.from_legacy_cache(x) (None-safe: an empty cache, as before); compat.to_cache(x) for a tuple",
    "use compat.from_legacy_cache(x); it takes no other arguments",
)


def legacy_to_cache(ctx: Context, call: ast.Call, data: ast.expr, cls: str) -> None:
    """Rewrite ``call`` to ``compat.to_cache(x)`` for an evident tuple, else ``compat.from_legacy_cache(x)``
    (None-safe; ``encoder_decoder=True`` for an EncoderDecoderCache). Shared with PCC004."""
    if cls == "EncoderDecoderCache":
        ctx.rewrite(call, lambda _: compat_call("from_legacy_cache", ctx.text(data), "encoder_decoder=True"))
    elif cls == "DynamicCache" and ctx.inf.is_evident_legacy(data):
        ctx.rewrite(call, lambda _: compat_call("to_cache", argument_text(ctx, call, data)))
    else:
        ctx.rewrite(call, lambda _: compat_call("from_legacy_cache", argument_text(ctx, call, data)))


class FromLegacyCache(RuleUnit):
    rule = RULE

    def on_call(self, ctx: Context, node: ast.Call) -> bool:
        func = node.func
        if not (isinstance(func, ast.Attribute) and func.attr == "from_legacy_cache"):
            return False
        inf = ctx.inf
        cls = inf.transformers_cache_class(func.value)
        if cls is None:
            own = inf.own_cache_class(func.value)
            if own is not None and not inf.index.defines(own, "from_legacy_cache"):
                ctx.report(node, RULE.id, fixable=False)  # inherited: returns the subclass
            return True
        args = plain_args(node)
        ok = args is not None and len(args[0]) == 1 and not args[1] and cls in ("DynamicCache", "EncoderDecoderCache")
        if ok and args is not None and is_none(args[0][0]) and cls == "DynamicCache":
            # from_legacy_cache(None) is an empty cache; DynamicCache() is one on 4.36-5.23.
            if ctx.report(node, RULE.id, fixable=True, via_compat=False):
                ctx.rewrite(node, lambda _: f"{ctx.text(func.value)}()")
            return True
        if ctx.report(node, RULE.id, fixable=ok) and args is not None:
            legacy_to_cache(ctx, node, args[0][0], cls)
        return True
