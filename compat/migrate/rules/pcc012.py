"""PCC012 past-key-values-keyword: ``model(..., past_key_values=x)``, ``model.forward(...)``,
``model.generate(...)``."""

from __future__ import annotations

import ast

from compat.migrate.rules._keyword import KeywordSite, site_of
from compat.migrate.rules._unit import Context, Rule, RuleUnit

__all__ = ["PastKeyValuesKeyword"]

RULE = Rule(
    "PCC012",
    "past-key-values-keyword",
    "model(..., past_key_values=x) / model.forward(...) / model.generate(...)",
    "transformers 5.24 renamed the `past_key_values` argument of model forward/generate to `cache` "
    "(the old name draws a FutureWarning, removal announced for 5.40); `cache=` fails before 5.24",
    "**{compat.cache_argument(model): x} (**compat.cache_kwargs(model, x) for a legacy tuple "
    "passed to generate): the name the installed transformers takes",
    "if a model: **{compat.cache_argument(model): x} instead",
)


def _safe_position(site: KeywordSite) -> bool:
    """No ``*args`` after the keyword (``**{...}`` there would be a syntax error)."""
    at = (site.pkv.lineno, site.pkv.col_offset)
    return not any(isinstance(a, ast.Starred) and (a.lineno, a.col_offset) > at for a in site.call.args)


class PastKeyValuesKeyword(RuleUnit):
    rule = RULE

    def on_call(self, ctx: Context, node: ast.Call) -> bool:
        site = site_of(ctx, node)
        if site is None or site.model is None:
            return False
        if not ctx.report(site.pkv, RULE.id, fixable=site.is_model and _safe_position(site)):
            return False
        model, value = site.model, site.pkv.value
        if site.converted is not None:  # with PCC011: {name: to_cache(x, model=model)}
            ctx.cancel(value, site.converted)  # type: ignore[arg-type]
            ctx.rewrite(site.pkv, lambda _: f"**compat.cache_kwargs({ctx.text(model)}, {ctx.text(value)})")
        else:  # same object, right name: nothing else changes
            ctx.rewrite(site.pkv, lambda _: f"**{{compat.cache_argument({ctx.text(model)}): {ctx.text(value)}}}")
        return False
