"""Import bookkeeping for ``--fix``: add ``import compat``, drop the transformers
cache-class imports a rewrite left unused (so the fixed module also imports on
transformers < 4.36, which has no ``cache_utils``).

>>> import libcst as cst
>>> before = cst.parse_module(
...     "from transformers import DynamicCache, LlamaConfig\\nc = DynamicCache.from_legacy_cache(x)\\n")
>>> after = cst.parse_module("from transformers import DynamicCache, LlamaConfig\\nc = compat.to_cache(x)\\n")
>>> print(drop_unused_cache_imports(before, after, "m.py").code, end="")
from transformers import LlamaConfig
c = compat.to_cache(x)
>>> print(ensure_import_compat(cst.parse_module("import os\\n\\nx = 1\\n")).code, end="")
import os
import compat
<BLANKLINE>
x = 1
"""

from __future__ import annotations

import os
import re

import libcst as cst

__all__ = ["drop_unused_cache_imports", "ensure_import_compat"]


def _is_import_line(stmt: cst.CSTNode) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and all(
        isinstance(small, (cst.Import, cst.ImportFrom)) for small in stmt.body
    )


def _imports_compat(stmt: cst.CSTNode) -> bool:
    return _is_import_line(stmt) and any(
        isinstance(small, cst.Import)
        and any(isinstance(a.name, cst.Name) and a.name.value == "compat" and a.asname is None for a in small.names)
        for small in stmt.body
    )


def ensure_import_compat(module: cst.Module) -> cst.Module:
    """Add ``import compat`` after the leading docstring/import block, unless present.

    (libcst's ``AddImportsVisitor`` does the same but resolves scope metadata
    again, which doubled the cost of ``--fix`` on large files.)
    """
    body = list(module.body)
    if any(_imports_compat(stmt) for stmt in body):
        return module
    at = 0
    for i, stmt in enumerate(body):
        is_docstring = (
            i == 0
            and isinstance(stmt, cst.SimpleStatementLine)
            and isinstance(stmt.body[0], cst.Expr)
            and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
        )
        if is_docstring or _is_import_line(stmt):
            at = i + 1
            continue
        break
    if at < len(body) and not _is_import_line(body[at]) and hasattr(body[at], "leading_lines"):
        following = body[at]
        if not any(line.comment is None for line in following.leading_lines):  # keep code off the import
            body[at] = following.with_changes(leading_lines=[cst.EmptyLine(), *following.leading_lines])
    body.insert(at, cst.SimpleStatementLine([cst.Import([cst.ImportAlias(cst.Name("compat"))])]))
    return module.with_changes(body=body)


class _Uses(cst.CSTVisitor):
    """Every identifier used outside import statements, and the text of every string."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.strings: list[str] = []

    def visit_Import(self, node: cst.Import) -> bool:
        return False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> bool:
        return False

    def visit_Name(self, node: cst.Name) -> None:
        self.names.add(node.value)

    def visit_SimpleString(self, node: cst.SimpleString) -> None:
        self.strings.append(node.value)


def _names_in_string(name: str, literal: str) -> bool:
    """``name`` in a string that could be code (``__all__`` entry, string annotation):
    one without spaces. Docstrings and messages that merely mention it do not count."""
    text = literal.strip("\"'rbuRBU")
    return not any(ch.isspace() for ch in text) and re.search(rf"\b{re.escape(name)}\b", text) is not None


def _uses(module: cst.Module) -> _Uses:
    uses = _Uses()
    module.visit(uses)
    return uses


def _local_name(alias: cst.ImportAlias) -> str | None:
    if alias.asname is not None:
        return alias.asname.name.value if isinstance(alias.asname.name, cst.Name) else None
    return alias.name.value if isinstance(alias.name, cst.Name) else None


def _module_name(node: cst.ImportFrom) -> str:
    if node.module is None or node.relative:
        return ""
    return cst.Module([]).code_for_node(node.module)


def drop_unused_cache_imports(original: cst.Module, fixed: cst.Module, path: str) -> cst.Module:
    """Remove top-level ``from transformers... import XCache`` names that the
    original module used and the fixed one no longer does.

    Never in an ``__init__.py``, never a name that appears in any string (``__all__``,
    string annotations), never a statement carrying comments.
    """
    if os.path.basename(path) == "__init__.py":
        return fixed
    before, after = _uses(original), _uses(fixed)
    body = list(fixed.body)
    changed = False
    for i, stmt in enumerate(body):
        if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
            continue
        node = stmt.body[0]
        if not isinstance(node, cst.ImportFrom) or isinstance(node.names, cst.ImportStar):
            continue
        if _module_name(node).split(".")[0] != "transformers" or any(line.comment for line in stmt.leading_lines):
            continue
        keep = []
        for alias in node.names:
            name = _local_name(alias)
            imported = alias.name.value if isinstance(alias.name, cst.Name) else ""
            unused_now = (
                name is not None
                and imported.endswith("Cache")
                and name in before.names
                and name not in after.names
                and not any(_names_in_string(name, text) for text in after.strings)
            )
            if not unused_now:
                keep.append(alias)
        if len(keep) == len(node.names):
            continue
        changed = True
        if not keep:
            if stmt.trailing_whitespace.comment is not None:
                continue  # its comment would go with it
            body[i] = None
            continue
        if node.lpar is None:  # unparenthesized: no trailing comma allowed
            keep[-1] = keep[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        body[i] = stmt.with_changes(body=[node.with_changes(names=keep)])
    if not changed:
        return fixed
    return fixed.with_changes(body=[stmt for stmt in body if stmt is not None])
