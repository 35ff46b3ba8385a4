"""``compat migrate``: a libcst linter and codemod for transformers KV-cache
usage that breaks across versions (rules ``PCC001``...).

Fixes go only where the rewrite works on every transformers version the shim
supports, routed through :mod:`compat`; everything else gets a
``# TODO(compat):`` comment. See ``docs/migrate.md``.

The rules run on Python's own ``ast``; libcst (the ``migrate`` extra) is needed by
``--fix``/``--diff`` only (to re-render an import line that loses some of its names), and
the command says which extra to install, in one line, when it is missing.

>>> from compat.migrate import check_source
>>> [f.code for f in check_source("cache.crop(0)\\n").findings]
['PCC006']
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

#: What to install when libcst is missing.
INSTALL_HINT = "pip install 'peft-cache-compat[migrate]'"

# public name -> submodule that defines it (all of them need libcst)
_EXPORTS = {
    "main": "compat.migrate.cli",
    "Finding": "compat.migrate.engine",
    "ParseFailure": "compat.migrate.engine",
    "Result": "compat.migrate.engine",
    "check_source": "compat.migrate.engine",
    "RULES": "compat.migrate.rules",
    "Rule": "compat.migrate.rules",
    "select_rules": "compat.migrate.rules",
}

# a literal list, so linters and type checkers see the public API; tests/tooling/test_migrate_cli.py
# checks that it names exactly the lazy exports, INSTALL_HINT and run
__all__ = [
    "INSTALL_HINT",
    "RULES",
    "Finding",
    "ParseFailure",
    "Result",
    "Rule",
    "check_source",
    "main",
    "run",
    "select_rules",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'compat.migrate' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


def run(argv: Sequence[str] | None = None, prog: str = "python -m compat migrate") -> int:
    """The command line; exit 2 with one line naming the extra to install when libcst is missing."""
    try:
        cli = importlib.import_module("compat.migrate.cli")
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] != "libcst":
            raise
        print(f"{prog}: needs libcst, which is not installed; install the migrate extra: {INSTALL_HINT}",
              file=sys.stderr)
        return 2
    return int(cli.main(argv) or 0)


if TYPE_CHECKING:  # pragma: no cover
    from compat.migrate.cli import main
    from compat.migrate.engine import Finding, ParseFailure, Result, check_source
    from compat.migrate.rules import RULES, Rule, select_rules
