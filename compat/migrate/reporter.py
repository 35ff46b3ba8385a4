"""Render findings: ruff-style text, JSON for CI, per-rule statistics, diffs.

>>> from compat.migrate.engine import Finding
>>> f = Finding("a.py", 3, 9, "PCC002", "`c.to_legacy_cache()`: removed in 5.0", True)
>>> print(render_text([f], errors=[], fixed=0))
a.py:3:9: PCC002 [*] `c.to_legacy_cache()`: removed in 5.0
Found 1 finding.
[*] 1 fixable with the `--fix` option.
>>> print(render_statistics([f, f]))
    2  PCC002  [*] to-legacy-cache
"""

from __future__ import annotations

import difflib
import json
from collections import Counter
from collections.abc import Sequence

from compat.migrate.engine import Finding
from compat.migrate.rules import RULES

__all__ = ["FileError", "render_diff", "render_json", "render_statistics", "render_text"]

JSON_SCHEMA_VERSION = 1


class FileError(tuple):
    """``(path, message)`` for a file that could not be read or parsed."""

    def __new__(cls, path: str, message: str):
        return super().__new__(cls, (path, message))

    @property
    def path(self) -> str:
        return self[0]

    @property
    def message(self) -> str:
        return self[1]

    def text(self) -> str:
        return f"{self.path}: error: {self.message}"


def render_text(findings: Sequence[Finding], errors: Sequence[FileError], fixed: int) -> str:
    """One line per remaining finding, then a summary like ruff's."""
    remaining = [f for f in findings if not f.fixed]
    lines = [f.text() for f in remaining]
    fixable = sum(f.fixable for f in remaining)
    if fixed:
        lines.append(f"Found {len(findings)} finding{'s' * (len(findings) != 1)} "
                     f"({fixed} fixed, {len(remaining)} remaining).")
    elif remaining:
        lines.append(f"Found {len(remaining)} finding{'s' * (len(remaining) != 1)}.")
        if fixable:
            lines.append(f"[*] {fixable} fixable with the `--fix` option.")
    elif not errors:
        lines.append("All checks passed!")
    if errors:
        lines.append(f"{len(errors)} file{'s' * (len(errors) != 1)} could not be checked (see errors above).")
    return "\n".join(lines)


def render_json(
    findings: Sequence[Finding], errors: Sequence[FileError], fixed: int, diffs: dict[str, str] | None = None
) -> str:
    """A JSON object: ``findings`` (ruff-like dicts), ``errors``, counts (and ``diffs`` with --diff)."""
    extra = {"diffs": diffs} if diffs is not None else {}
    return json.dumps(
        {
            **extra,
            "schema_version": JSON_SCHEMA_VERSION,
            "findings": [f.as_json() for f in findings],
            "errors": [{"filename": e.path, "message": e.message} for e in errors],
            "summary": {
                "findings": len(findings),
                "fixed": fixed,
                "remaining": sum(not f.fixed for f in findings),
                "errors": len(errors),
            },
        },
        indent=2,
    )


def render_statistics(findings: Sequence[Finding]) -> str:
    """``count  code  [*] name`` per rule, most frequent first (like ruff ``--statistics``)."""
    counts = Counter(f.code for f in findings)
    fixable = {f.code for f in findings if f.fixable}
    rows = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return "\n".join(
        f"{n:5d}  {code}  {'[*] ' if code in fixable else '    '}{RULES[code].name}" for code, n in rows
    )


def render_diff(path: str, before: str, after: str) -> str:
    """Unified diff of one file (empty when unchanged)."""
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True), after.splitlines(keepends=True), fromfile=path, tofile=path
        )
    )
