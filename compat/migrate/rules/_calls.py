"""Small questions and renderings about calls, shared by the rule units.

>>> import ast
>>> call = ast.parse("f(a, *b)", mode="eval").body
>>> plain_args(call) is None
True
>>> positional, keywords = plain_args(ast.parse("f(a, k=1)", mode="eval").body)
>>> len(positional), sorted(keywords)
(1, ['k'])
"""

from __future__ import annotations

import ast

from compat.migrate.rules._unit import Context

__all__ = ["argument_text", "compat_call", "has_call", "is_none", "keywords_of", "plain_args", "single_index"]


def is_none(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def has_call(node: ast.AST) -> bool:
    return any(isinstance(sub, ast.Call) for sub in ast.walk(node))


def single_index(node: ast.Subscript) -> ast.expr | None:
    """The index of ``x[i]`` (not a slice, not ``x[i, j]``, not starred)."""
    index = node.slice
    return None if isinstance(index, (ast.Slice, ast.Starred, ast.Tuple)) else index


def plain_args(call: ast.Call) -> tuple[list[ast.expr], dict[str, ast.keyword]] | None:
    """Positional and keyword args, or None when ``*args``/``**kw`` make them unknowable."""
    if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
        return None
    return list(call.args), {k.arg: k for k in call.keywords if k.arg is not None}


def keywords_of(call: ast.Call) -> dict[str, ast.keyword]:
    return {k.arg: k for k in call.keywords if k.arg is not None}


def argument_text(ctx: Context, call: ast.Call, value: ast.expr) -> str:
    """``value`` as the only argument of a new call: its text and the space after it (the
    argument keeps its own spacing; a trailing comma is dropped with what follows it)."""
    text = ctx.text(value)
    last = max([*call.args, *call.keywords], key=lambda n: (n.end_lineno, n.end_col_offset))
    if last is not value and not (isinstance(last, ast.keyword) and last.value is value):
        return text
    inf = ctx.inf
    tail = inf.source[inf.span(value)[1]:inf.span(call)[1] - 1]
    return text + tail.partition(",")[0]  # a trailing comma goes, and the space after it


def compat_call(name: str, *args: str) -> str:
    return f"compat.{name}({', '.join(args)})"
