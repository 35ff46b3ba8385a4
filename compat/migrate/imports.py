"""Import bookkeeping for ``--fix``: add ``import compat``, drop the transformers
cache-class imports a rewrite left unused (so the fixed module also imports on
transformers < 4.36, which has no ``cache_utils``). Text edits located with ``ast``;
libcst re-renders only an import statement that loses some of its names.

>>> import ast
>>> from compat.migrate.infer import Inference
>>> before = "from transformers import DynamicCache, LlamaConfig\\nc = DynamicCache.from_legacy_cache(x)\\n"
>>> after = "from transformers import DynamicCache, LlamaConfig\\nc = compat.to_cache(x)\\n"
>>> print(fix_imports(Inference(ast.parse(before), before), after, "m.py"), end="")
from transformers import LlamaConfig
import compat
<BLANKLINE>
c = compat.to_cache(x)
"""

from __future__ import annotations

import ast
import os
import re

from compat.migrate.infer import Inference
from compat.migrate.parsing import gc_paused

__all__ = ["fix_imports"]

_NEWLINE = re.compile(r"\r\n|\r|\n")


def _uses(tree: ast.Module, text: str, words: set[str]) -> tuple[set[str], list[str]]:
    """The identifiers among ``words`` used outside import statements, and the string constants,
    in the top-level statements whose text mentions one of ``words`` (the others cannot use them)."""
    pattern = re.compile(r"\b(?:" + "|".join(map(re.escape, sorted(words))) + r")\b")
    starts = [0] + [m.end() for m in _NEWLINE.finditer(text)]
    names: set[str] = set()
    strings: list[str] = []
    for statement in tree.body:
        if isinstance(statement, (ast.Import, ast.ImportFrom)):
            continue
        end = statement.end_lineno or statement.lineno
        segment = text[starts[statement.lineno - 1]:starts[end] if end < len(starts) else len(text)]
        if not pattern.search(segment):
            continue
        for node in ast.walk(statement):
            if isinstance(node, ast.Name):
                names.add(node.id)
            elif isinstance(node, ast.Attribute):
                names.add(node.attr)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.arg) or (isinstance(node, ast.keyword) and node.arg):
                names.add(node.arg)  # type: ignore[arg-type]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                strings.append(node.value)
    return names & words, strings


def _names_in_string(name: str, text: str) -> bool:
    """``name`` in a string that could be code (``__all__`` entry, string annotation):
    one without spaces. Docstrings and messages that merely mention it do not count."""
    return not any(ch.isspace() for ch in text) and re.search(rf"\b{re.escape(name)}\b", text) is not None


class _Lines:
    """A module's lines (with their endings) and its top-level statements' line ranges."""

    def __init__(self, text: str) -> None:
        self.text = text
        with gc_paused():
            self.tree = ast.parse(text)
        self.lines = [m.group() for m in re.finditer(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$", text)]
        body = self.tree.body
        self.ranges = [(min([s.lineno, *(d.lineno for d in getattr(s, "decorator_list", ()))]),
                        s.end_lineno or s.lineno) for s in body]

    def shares_line(self, i: int) -> bool:
        first, last = self.ranges[i]
        return any(j != i and not (r[1] < first or r[0] > last) for j, r in enumerate(self.ranges))

    def is_import_line(self, i: int) -> bool:
        return isinstance(self.tree.body[i], (ast.Import, ast.ImportFrom)) and not self.shares_line(i)

    def trailing_comment(self, i: int) -> bool:
        """Statement ``i`` ends with a comment on its last line."""
        stmt = self.tree.body[i]
        last = self.lines[self.ranges[i][1] - 1].encode("utf-8")
        return b"#" in last[stmt.end_col_offset or 0:]

    def gap(self, i: int) -> list[str]:
        """The lines between statement ``i - 1`` and statement ``i`` (libcst's leading lines;
        the first statement's belong to the module header)."""
        if i == 0:
            return []
        return self.lines[self.ranges[i - 1][1]:self.ranges[i][0] - 1]


def _drop_aliases(statement: str, drop: set[str]) -> str:
    """``statement`` (one ``from ... import`` line or block) without the local names in ``drop``."""
    import libcst as cst  # only here: a partial import line is re-rendered by libcst

    module = cst.parse_module(statement)
    node = module.body[0].body[0]  # type: ignore[attr-defined]
    keep = []
    for alias in node.names:
        local = alias.asname.name.value if alias.asname is not None else getattr(alias.name, "value", None)
        if local not in drop:
            keep.append(alias)
    if node.lpar is None:  # unparenthesized: no trailing comma allowed
        keep[-1] = keep[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
    line = module.body[0].with_changes(body=[node.with_changes(names=keep)])  # type: ignore[attr-defined]
    return module.with_changes(body=[line]).code


def _unused_cache_imports(before: Inference, layout: _Lines, path: str) -> dict[int, set[str] | None]:
    """Top-level ``from transformers... import XCache`` statements (by index) -> the names the fix
    made unused (None: all of them, drop the statement).

    Never in an ``__init__.py``, never a name that appears in any string (``__all__``,
    string annotations), never a statement carrying comments.
    """
    if os.path.basename(path) == "__init__.py":
        return {}
    candidates: dict[int, list[str]] = {}  # statement -> local names of its *Cache aliases
    for i, stmt in enumerate(layout.tree.body):
        if not isinstance(stmt, ast.ImportFrom) or stmt.level or any(a.name == "*" for a in stmt.names):
            continue
        if (stmt.module or "").split(".")[0] != "transformers" or layout.shares_line(i):
            continue
        if any(line.lstrip().startswith("#") for line in layout.gap(i)):
            continue
        local = [alias.asname or alias.name for alias in stmt.names if alias.name.endswith("Cache")]
        if local:
            candidates[i] = local
    if not candidates:
        return {}
    words = {name for names in candidates.values() for name in names}
    before_names, _ = _uses(before.tree, before.source, words)
    after_names, after_strings = _uses(layout.tree, layout.text, words)
    out: dict[int, set[str] | None] = {}
    for i, local in candidates.items():
        unused = {name for name in local if name in before_names and name not in after_names
                  and not any(_names_in_string(name, s) for s in after_strings)}
        if not unused:
            continue
        if len(unused) < len(layout.tree.body[i].names):  # type: ignore[attr-defined]
            out[i] = unused
        elif not layout.trailing_comment(i):  # else its comment would go with it
            out[i] = None
    return out


def _imports_compat(layout: _Lines) -> bool:
    return any(
        layout.is_import_line(i) and isinstance(stmt, ast.Import)
        and any(a.name == "compat" and a.asname is None for a in stmt.names)
        for i, stmt in enumerate(layout.tree.body)
    )


def _block_end(layout: _Lines, kept: list[int]) -> int:
    """How many of the ``kept`` statements form the leading docstring/import block."""
    at = 0
    for n, i in enumerate(kept):
        stmt = layout.tree.body[i]
        is_docstring = (n == 0 and i == 0 and isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)
                        and isinstance(stmt.value.value, str))
        if not (is_docstring or layout.is_import_line(i)):
            break
        at = n + 1
    return at


def _import_line(layout: _Lines, kept: list[int], at: int, newline: str) -> tuple[int, str]:
    """``(line index, text)``: ``import compat`` after the block (after the module header when
    there is none), with a blank line after it when code would follow it directly."""
    if at > 0:
        where = layout.ranges[kept[at - 1]][1]
    else:
        where = layout.ranges[0][0] - 1 if kept else len(layout.lines)
    text = f"import compat{newline}"
    if at < len(kept) and not layout.is_import_line(kept[at]):
        following = layout.gap(kept[at]) if (at > 0 or kept[at] != 0) else []
        if all(line.strip() for line in following):  # keep code off the import
            text += newline
    if at > 0 and not layout.lines[where - 1].endswith(("\n", "\r")):
        text = newline + text
    return where, text


def fix_imports(before: Inference, fixed: str, path: str) -> str:
    """Drop the cache imports ``fixed`` no longer uses, then add ``import compat`` after the
    leading docstring/import block (unless present), keeping code off it with a blank line."""
    layout = _Lines(fixed)
    drops = _unused_cache_imports(before, layout, path)
    match = _NEWLINE.search(fixed)
    kept = [i for i in range(len(layout.tree.body)) if drops.get(i, ()) is not None]
    where, addition = _import_line(layout, kept, _block_end(layout, kept), match.group() if match else "\n")
    if _imports_compat(layout):
        addition = ""
    removed: set[int] = set()
    for i, names in drops.items():
        if names is None:  # the whole statement, and its leading lines with it
            first, last = layout.ranges[i]
            removed.update(range(layout.ranges[i - 1][1] if i > 0 else first - 1, last))
    out = [line for number, line in enumerate(layout.lines) if number not in removed]
    out.insert(sum(1 for number in range(min(where, len(layout.lines))) if number not in removed), addition)
    text = "".join(out)
    for i, names in drops.items():
        if names is not None:  # keeps some of its names: re-rendered (located again by its text)
            first, last = layout.ranges[i]
            original = "".join(layout.lines[first - 1:last])
            text = text.replace(original, _drop_aliases(original, names), 1)
    return text
