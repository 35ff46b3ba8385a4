"""PCC011 generate-tuple-past: ``model.generate(..., past_key_values=<tuple>)``."""

from __future__ import annotations

import ast

from compat.migrate.rules._keyword import site_of
from compat.migrate.rules._unit import Context, Rule, RuleUnit

__all__ = ["GenerateTuplePast"]

RULE = Rule(
    "PCC011",
    "generate-tuple-past",
    "model.generate(..., past_key_values=<tuple>)",
    "a tuple passed to `generate(past_key_values=...)` is deprecated in transformers 4.57 and raises "
    "ValueError from 5.0",
    "model.generate(..., past_key_values=compat.to_cache(<tuple>, model=model))",
    "pass compat.to_cache(<tuple>, model=<the model>)",
)


class GenerateTuplePast(RuleUnit):
    rule = RULE

    def on_call(self, ctx: Context, node: ast.Call) -> bool:
        site = site_of(ctx, node)
        if site is None or not site.is_generate:
            return False
        value = site.pkv.value
        if not ctx.inf.is_evident_legacy(value):
            return False
        if site.model is None:
            ctx.report(value, RULE.id, fixable=False)
        elif ctx.report(value, RULE.id, fixable=True):
            model = site.model
            site.converted = ctx.rewrite(value, lambda text: f"compat.to_cache({text}, model={ctx.text(model)})")
        return False
