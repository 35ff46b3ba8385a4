"""PCC004 cache-constructor-with-data: ``DynamicCache(legacy)``, ``DynamicCache(ddp_cache_data=...)``,
``EncoderDecoderCache(legacy)``."""

from __future__ import annotations

import ast

from compat.migrate.infer import terminal_name
from compat.migrate.rules._calls import is_none, plain_args
from compat.migrate.rules._unit import Context, Rule, RuleUnit
from compat.migrate.rules.pcc001 import legacy_to_cache

__all__ = ["CacheConstructorWithData"]

RULE = Rule(
    "PCC004",
    "cache-constructor-with-data",
    "DynamicCache(legacy) / EncoderDecoderCache(legacy)",
    "`DynamicCache(legacy)` raises TypeError up to transformers 4.45.1, is silently EMPTY in 4.45.2-4.49 "
    "(the argument binds to the deprecated `num_hidden_layers`) and silently broken in 4.54-4.55 "
    "(an extra empty layer); "
    "`EncoderDecoderCache(legacy)` works only from 4.56",
    "compat.from_legacy_cache(legacy) (compat.to_cache(legacy) for a tuple)",
    "data: compat.from_legacy_cache(data); a layer count: drop it",
)
_DATA_KEYWORDS = ("ddp_cache_data", "_distributed_cache_data")


class CacheConstructorWithData(RuleUnit):
    rule = RULE

    def on_call(self, ctx: Context, node: ast.Call) -> bool:
        cls = ctx.inf.transformers_cache_class(node.func)
        if cls not in ("DynamicCache", "EncoderDecoderCache"):
            return False
        args = plain_args(node)
        if args is None:
            return True
        positional, keywords = args
        if cls == "DynamicCache":
            data_kw = [k for k in _DATA_KEYWORDS if k in keywords]
            data = positional[0] if positional else (keywords[data_kw[0]].value if data_kw else None)
            if data is None or is_none(data):
                return True
            count_like = (isinstance(data, ast.Constant) and type(data.value) is int) or (
                "layer" in (terminal_name(data) or "").lower())
            fixable = len(positional) + len(keywords) == 1 and not count_like
        else:
            if len(positional) != 1 or is_none(positional[0]):
                return True
            data = positional[0]
            fixable = not keywords
        if ctx.report(node, RULE.id, fixable=fixable):
            legacy_to_cache(ctx, node, data, cls)
        return True
