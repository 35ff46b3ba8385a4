"""Lint and fix one module: Python's ``ast`` finds every rule hit (the rule units of
:mod:`compat.migrate.rules`), and with ``fix=True`` the safe ones are rewritten as
text edits and ``# TODO(compat):`` comments are left on the rest. Everything outside
an edit stays byte for byte as it was.

>>> src = "from transformers import DynamicCache\\ncache = DynamicCache.from_legacy_cache(tuple(pkv))\\n"
>>> result = check_source(src, "m.py")
>>> [f.text() for f in result.findings]  # doctest: +ELLIPSIS
['m.py:2:9: PCC001 [*] `DynamicCache.from_legacy_cache(tuple(pkv))`: `from_legacy_cache` exists only in ...']
>>> print(check_source(src, "m.py", fix=True).fixed_source, end="")
import compat
<BLANKLINE>
cache = compat.to_cache(tuple(pkv))
"""

from __future__ import annotations

import ast
import bisect
import dataclasses
import re
from collections.abc import Iterable

from compat.migrate.imports import fix_imports
from compat.migrate.infer import Inference
from compat.migrate.parsing import ParseFailure, gc_paused, parse
from compat.migrate.prefilter import may_match
from compat.migrate.project import ProjectIndex
from compat.migrate.receivers import version_guarded
from compat.migrate.rules import RULES, UNITS
from compat.migrate.rules._unit import Edit

__all__ = ["Finding", "ParseFailure", "Result", "check_source", "parse"]

_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Za-z]+[0-9]+(?:[,\s]+[A-Za-z]+[0-9]+)*))?", re.IGNORECASE)
_TODO_PREFIX = "# TODO(compat): "
_MAX_TODO = 100
_NEWLINE = re.compile(r"\r\n|\r|\n")


@dataclasses.dataclass(frozen=True)
class Finding:
    """One rule hit: where, which rule, why, and whether ``--fix`` rewrites it."""

    path: str
    line: int
    col: int
    code: str
    message: str
    fixable: bool
    fixed: bool = False

    def text(self) -> str:
        """ruff's concise format: ``path:line:col: CODE [*] message`` (``[*]``: fixable)."""
        mark = "[*] " if self.fixable else ""
        return f"{self.path}:{self.line}:{self.col}: {self.code} {mark}{self.message}"

    def as_json(self) -> dict:
        return {
            "filename": self.path,
            "location": {"row": self.line, "column": self.col},
            "code": self.code,
            "name": RULES[self.code].name,
            "message": self.message,
            "fixable": self.fixable,
            "fixed": self.fixed,
            "fix": RULES[self.code].fix if self.fixable else None,
        }


@dataclasses.dataclass(frozen=True)
class Result:
    """Findings of one module and (with ``fix=True``) its rewritten source."""

    path: str
    findings: list[Finding]
    source: str
    fixed_source: str

    @property
    def changed(self) -> bool:
        return self.fixed_source != self.source


def _snippet(code: str, limit: int = 48) -> str:
    text = " ".join(code.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _noqa_map(source: str) -> dict[int, set[str] | None]:
    """Line -> suppressed codes (None: every code) from ``# noqa`` comments."""
    out: dict[int, set[str] | None] = {}
    for number, line in enumerate(source.splitlines(), start=1):
        match = _NOQA.search(line)
        if match:
            codes = match.group("codes")
            out[number] = None if codes is None else {c.upper() for c in re.split(r"[,\s]+", codes) if c}
    return out


def _todo(code: str, text: str) -> str:
    """``# TODO(compat): PCCnnn text``, at most 100 characters (the docs explain each id)."""
    line = f"{_TODO_PREFIX}{code} {text}"
    return line if len(line) <= _MAX_TODO else line[: _MAX_TODO - 3].rstrip() + "..."


def _first_line(statement: ast.stmt) -> int:
    decorators = getattr(statement, "decorator_list", None) or ()
    return min([statement.lineno, *(d.lineno for d in decorators)])


class _Checker:
    """The :class:`compat.migrate.rules.Context` of one module: findings, edits, TODOs."""

    def __init__(self, inf: Inference, path: str, enabled: set[str], fix: bool) -> None:
        self.inf = inf
        self.path = path
        self.enabled = enabled
        self.fix = fix
        self.noqa = _noqa_map(inf.source)
        self.findings: list[Finding] = []
        self.need_compat = False
        self.notes: dict[tuple[str, int], object] = {}
        self._edits: dict[ast.AST, list[Edit]] = {}
        self._todos: dict[int, list[str]] = {}  # first line of a statement -> its TODO lines
        self._spans: list[tuple[int, int, ast.AST]] | None = None
        self._starts: list[int] = []

    # -- the Context protocol ---------------------------------------------------
    def report(self, node: ast.AST, code: str, fixable: bool, *, via_compat: bool = True,
               note: str | None = None) -> bool:
        if code not in self.enabled or version_guarded(self.inf, node):
            return False
        line, col = self.inf.line_col(node)
        suppressed = self.noqa.get(line, set())
        if line in self.noqa and (suppressed is None or code in suppressed):
            return False
        rule = RULES[code]
        apply = self.fix and fixable
        message = f"`{_snippet(self.inf.code(node))}`: {rule.message}"
        self.findings.append(Finding(self.path, line, col, code, message, fixable, fixed=apply))
        if self.fix and (not fixable or note):
            statement = self.inf.statement(node)
            self._todos.setdefault(_first_line(statement), []).append(_todo(code, note or rule.todo))
        if apply and via_compat:
            self.need_compat = True
        return apply

    def rewrite(self, node: ast.AST, edit: Edit) -> Edit:
        self._edits.setdefault(node, []).append(edit)
        return edit

    def cancel(self, node: ast.AST, edit: Edit) -> None:
        self._edits[node].remove(edit)

    def text(self, node: ast.AST) -> str:
        start, end = self.inf.span(node)
        text = self._render(start, end, exclude=node)
        for edit in self._edits.get(node, ()):
            text = edit(text)
        return text

    def code(self, node: ast.AST) -> str:
        return self.inf.code(node)

    # -- checking --------------------------------------------------------------
    def run(self) -> None:
        """Every unit's hook on every node, children first; the first unit whose hook claims a
        node (returns True) ends that node's dispatch (``any`` stops there)."""
        for node in self.inf.order:
            if isinstance(node, ast.Call):
                any(unit.on_call(self, node) for unit in UNITS)
            elif isinstance(node, ast.Attribute):
                any(unit.on_attribute(self, node) for unit in UNITS)
            elif isinstance(node, ast.Subscript):
                any(unit.on_subscript(self, node) for unit in UNITS)
            elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
                any(unit.on_iteration(self, node.iter) for unit in UNITS)

    # -- rendering -------------------------------------------------------------
    def _outermost(self, start: int, end: int, exclude: ast.AST | None) -> list[tuple[int, int, ast.AST]]:
        """The edited nodes inside ``[start, end)`` not inside another one (``exclude`` left out)."""
        if self._spans is None:  # fixed once rendering starts (edits are registered before)
            self._spans = sorted(((*self.inf.span(n), n) for n, edits in self._edits.items() if edits),
                                 key=lambda s: (s[0], -s[1]))
            self._starts = [s[0] for s in self._spans]
        found, last = [], start
        for s, e, node in self._spans[bisect.bisect_left(self._starts, start):]:
            if s >= end:
                break
            if s >= last and e <= end and node is not exclude:
                found.append((s, e, node))
                last = e
        return found

    def _render(self, start: int, end: int, exclude: ast.AST | None = None,
                inserts: dict[int, str] | None = None) -> str:
        source = self.inf.source
        pieces: list[str] = []
        at = start
        events = [(s, 1, e, n) for s, e, n in self._outermost(start, end, exclude)]
        events += [(offset, 0, offset, None) for offset in (inserts or {})]
        for s, _kind, e, node in sorted(events, key=lambda ev: (ev[0], ev[1])):
            pieces.append(source[at:s])
            if node is None:
                pieces.append((inserts or {})[s])
                at = max(at, s)
                continue
            pieces.append(self.text(node))
            at = e
        pieces.append(source[at:end])
        return "".join(pieces)

    def _comments_above(self, line: int) -> set[str]:
        lines = self.inf.lines
        found = set()
        number = line - 1  # 1-based line above
        while number >= 1 and lines[number - 1].lstrip().startswith("#"):
            found.add(lines[number - 1].strip())
            number -= 1
        return found

    def fixed_source(self) -> str:
        """The module with every applied rewrite and the new TODO comments."""
        source = self.inf.source
        match = _NEWLINE.search(source)
        newline = match.group() if match else "\n"
        inserts: dict[int, str] = {}
        for line, todos in self._todos.items():
            present = self._comments_above(line)
            new = [t for t in dict.fromkeys(todos) if t not in present]
            if new:
                text = self.inf.lines[line - 1]
                indent = text[: len(text) - len(text.lstrip(" \t"))]
                inserts[self.inf.line_start(line)] = "".join(f"{indent}{t}{newline}" for t in new)
        if not inserts and not any(self._edits.values()):
            return source
        return self._render(0, len(source), inserts=inserts)


def check_source(
    source: str,
    path: str = "<string>",
    *,
    rules: Iterable[str] | None = None,
    fix: bool = False,
    index: ProjectIndex | None = None,
    module: str | None = None,
    tree: ast.Module | None = None,
) -> Result:
    """Lint ``source`` (and with ``fix=True`` rewrite it). Raises :class:`ParseFailure`.

    ``index`` describes the whole scanned tree (cache subclasses, star imports,
    monkeypatches across files) and ``module`` names this file in it; without
    them the file is its own tree. ``tree``: ``source`` already parsed.
    """
    if module is None:
        module = "__main__"
    if tree is None:
        tree = parse(source)
    if index is None:
        index = ProjectIndex.build({module: source}, trees={module: tree})
    if not may_match(source, index.cache_class_names()):
        return Result(path, [], source, source)  # no rule can fire: no word any rule needs
    try:
        with gc_paused():
            inference = Inference(tree, source, index, module)
        checker = _Checker(inference, path, set(rules if rules is not None else RULES), fix)
        checker.run()
    except RecursionError:
        raise ParseFailure("cannot parse: RecursionError: nested too deeply") from None
    findings = sorted(checker.findings, key=lambda f: (f.line, f.col, f.code))
    if not fix:
        return Result(path, findings, source, source)
    fixed = checker.fixed_source()
    if checker.need_compat and fixed != source:
        fixed = fix_imports(inference, fixed, path)
    return Result(path, findings, source, fixed)
