"""Analyse only what can matter: top-level functions and classes with no candidate word
are replaced by a one-line stub before libcst computes its (costly) metadata, and put
back verbatim afterwards.

A stub keeps the name bound (so scope analysis still sees a function/class there) and
the line count (so every position libcst reports is the original one): the first line
becomes ``def name(*_a, **_k): pass  # <marker>`` and the others are left empty.

>>> src = "import torch\\n\\ndef plain(x):\\n    return x + 1\\n\\ndef uses(c):\\n    return c.key_cache[0]\\n"
>>> reduced = reduce_source(src, lambda text: "key_cache" in text)
>>> reduced.text.splitlines()[2].startswith("def plain(*_a, **_k): pass  # compat-migrate-stub-0")
True
>>> reduced.restore(reduced.text) == src
True
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Callable

__all__ = ["Reduced", "reduce_source"]

_MARKER = "# compat-migrate-stub-"


@dataclasses.dataclass(frozen=True)
class Reduced:
    """The reduced text and the original lines of every stub."""

    text: str
    stubs: tuple[tuple[str, ...], ...]  # per stub: its original lines (with their line endings)

    def restore(self, fixed: str) -> str:
        """Put the stubbed statements back into ``fixed`` (the reduced text after --fix)."""
        if not self.stubs:
            return fixed
        lines = fixed.splitlines(keepends=True)
        out: list[str] = []
        i = 0
        while i < len(lines):
            line = lines[i]
            at = line.find(_MARKER)
            if at >= 0 and not line[:1].isspace():
                number = int(line[at + len(_MARKER):].split()[0])
                original = self.stubs[number]
                out.extend(original)
                i += len(original)  # the stub line and the empty lines kept for the line count
                continue
            out.append(line)
            i += 1
        return "".join(out)


def _stub(node: ast.stmt, number: int, newline: str) -> str:
    keyword = "class" if isinstance(node, ast.ClassDef) else (
        "async def" if isinstance(node, ast.AsyncFunctionDef) else "def")
    signature = ":" if keyword == "class" else "(*_a, **_k):"
    return f"{keyword} {node.name}{signature} pass  {_MARKER}{number}{newline}"


def reduce_source(source: str, relevant: Callable[[str], bool]) -> Reduced:
    """Stub every top-level def/class whose text ``relevant`` rejects. Raises SyntaxError."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    stubs: list[tuple[str, ...]] = []
    replaced: dict[int, tuple[int, str]] = {}  # first line index -> (line count, stub text)
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) or node.end_lineno is None:
            continue
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
        original = tuple(lines[first:node.end_lineno])
        if not original or relevant("".join(original)) or not original[-1].endswith(("\n", "\r")):
            continue
        newline = original[0][len(original[0].rstrip("\r\n")):] or "\n"
        stub = _stub(node, len(stubs), newline)
        blanks = [line[len(line.rstrip("\r\n")):] or "\n" for line in original[1:]]
        replaced[first] = (len(original), stub + "".join(blanks))
        stubs.append(original)
    if not stubs:
        return Reduced(source, ())
    out: list[str] = []
    i = 0
    while i < len(lines):
        if i in replaced:
            count, text = replaced[i]
            out.append(text)
            i += count
            continue
        out.append(lines[i])
        i += 1
    return Reduced("".join(out), tuple(stubs))
