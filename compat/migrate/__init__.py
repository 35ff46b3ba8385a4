"""``compat migrate``: a libcst linter and codemod for transformers KV-cache
usage that breaks across versions (rules ``PCC001``...).

Fixes go only where the rewrite works on every transformers version the shim
supports, routed through :mod:`compat`; everything else gets a
``# TODO(compat):`` comment. See ``docs/migrate.md``.

>>> from compat.migrate import check_source
>>> [f.code for f in check_source("cache.crop(0)\\n").findings]
['PCC006']
"""

from compat.migrate.cli import main
from compat.migrate.engine import Finding, ParseFailure, Result, check_source
from compat.migrate.rules import RULES, Rule, select_rules

__all__ = ["RULES", "Finding", "ParseFailure", "Result", "Rule", "check_source", "main", "select_rules"]
