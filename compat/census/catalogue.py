"""The census's known upstream issues: ``matrices/census-known.toml`` in the matrix's catalogue
format (:mod:`compat.matrix.known`), test globs on ``census[arch-method-check]`` ids.

>>> issues = load()
>>> all(i.tests for i in issues)
True
"""

from __future__ import annotations

from pathlib import Path

from compat import resources
from compat.matrix.known import KnownIssue, load_catalogue

__all__ = ["load"]


def load(path: str | Path | None = None) -> tuple[KnownIssue, ...]:
    """The declarations of ``path`` (default: ``matrices/census-known.toml`` of the data root,
    :func:`compat.resources.census_catalogue`: the checkout's or the copy a wheel ships). A missing
    catalogue is an error from :func:`compat.matrix.known.load_catalogue`, never an empty one."""
    return load_catalogue(Path(path) if path is not None else resources.census_catalogue())
