"""PCC010 explicit-cache-position: ``cache_position=`` next to a non-None ``past_key_values=`` in a
call of a model or ``generate``."""

from __future__ import annotations

import ast

from compat.migrate.receivers import param_of_enclosing_function
from compat.migrate.rules._calls import is_none
from compat.migrate.rules._keyword import site_of
from compat.migrate.rules._unit import Context, Rule, RuleUnit

__all__ = ["ExplicitCachePosition"]

RULE = Rule(
    "PCC010",
    "explicit-cache-position",
    "f(..., past_key_values=..., cache_position=...)",
    "an explicit `cache_position` is trusted by transformers 4.38-5.3 (positions and the causal mask "
    "follow it: silently wrong logits if it does not start at the prefix length) and silently ignored "
    "from 5.4",
    "",
    "drop it unless it starts at the cache length (see compat.prefixed_call)",
)


class ExplicitCachePosition(RuleUnit):
    rule = RULE

    def on_call(self, ctx: Context, node: ast.Call) -> bool:
        site = site_of(ctx, node)
        if site is None or site.model is None:
            return False
        position = site.keywords.get("cache_position")
        if position is None or is_none(position.value) or is_none(site.pkv.value):
            return False
        if not param_of_enclosing_function(ctx.inf, position.value):  # else a forward passing its own on
            ctx.report(position, RULE.id, fixable=False)
        return False
