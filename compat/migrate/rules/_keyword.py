"""The site PCC010, PCC011 and PCC012 share: a call of a model (or ``generate``) given
``past_key_values=``. Resolved once per call and kept in the context's notes.

>>> site_of.__doc__.split(":")[0]
'The model call ``node`` passes ``past_key_values=`` to'
"""

from __future__ import annotations

import ast
import dataclasses

from compat.migrate.receivers import model_target
from compat.migrate.rules._calls import keywords_of
from compat.migrate.rules._unit import Context

__all__ = ["KeywordSite", "site_of"]

# Calls whose method another rule owns (the old if-chain's order): never a keyword site.
_METHOD_RULES = ("from_legacy_cache", "get_max_length", "get_max_cache_shape", "get_usable_length")


@dataclasses.dataclass
class KeywordSite:
    """``call(..., past_key_values=value)``; ``model`` is the callee's model expression (None:
    not model-like), ``is_model`` whether there is evidence it is a model."""

    call: ast.Call
    keywords: dict[str, ast.keyword]
    pkv: ast.keyword
    model: ast.expr | None
    is_model: bool
    is_generate: bool
    converted: object = None  # PCC011's rewrite of the value, when it made one


def _claimed(ctx: Context, call: ast.Call) -> bool:
    func = call.func
    if isinstance(func, ast.Attribute):
        if func.attr in _METHOD_RULES or (func.attr == "to_legacy_cache" and not call.args and not call.keywords):
            return True
        if (func.attr == "crop" and len(call.args) == 1 and not call.keywords
                and not isinstance(call.args[0], ast.Starred)):
            return True
    return ctx.inf.transformers_cache_class(func) in ("DynamicCache", "EncoderDecoderCache")


def site_of(ctx: Context, node: ast.Call) -> KeywordSite | None:
    """The model call ``node`` passes ``past_key_values=`` to: its site, or None."""
    key = ("keyword-site", id(node))
    if key in ctx.notes:
        return ctx.notes[key]  # type: ignore[return-value]
    site = None
    keywords = keywords_of(node)
    if "past_key_values" in keywords and not _claimed(ctx, node):
        target = model_target(ctx.inf, node)
        is_generate = isinstance(node.func, ast.Attribute) and node.func.attr == "generate"
        site = KeywordSite(node, keywords, keywords["past_key_values"], target[0] if target else None,
                           bool(target and target[1]), is_generate)
    ctx.notes[key] = site
    return site
