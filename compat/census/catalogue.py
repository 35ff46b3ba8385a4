"""The census's known upstream issues: ``matrices/census-known.toml`` in the matrix's catalogue
format (:mod:`compat.matrix.known`), test globs on ``census[arch-method-check]`` ids.

>>> issues = load()
>>> all(i.tests for i in issues)
True
"""

from __future__ import annotations

from pathlib import Path

from compat.matrix.known import KnownIssue, load_catalogue

__all__ = ["DEFAULT", "load"]

#: the catalogue shipped next to the matrices (one documented rule: the repository's matrices/)
DEFAULT = Path(__file__).resolve().parents[2] / "matrices" / "census-known.toml"


def load(path: str | Path | None = None) -> tuple[KnownIssue, ...]:
    """The declarations of ``path`` (default :data:`DEFAULT`; none if that file is absent)."""
    target = Path(path) if path is not None else DEFAULT
    if path is None and not target.exists():
        return ()
    return load_catalogue(target)
