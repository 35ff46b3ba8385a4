"""``python -m compat``: print what the shim detected (``--json`` for JSON).

The console command ``peft-cache-compat`` (any install: ``pip install peft-cache-compat[gate]``) is
this same entry point; nox is one way in, not the only one:

- ``peft-cache-compat matrix run|report ...``: the version matrix (``compat.matrix``);
- ``peft-cache-compat report merge DIR...``: merge per-cell results (``matrix report``);
- ``peft-cache-compat gate ...``: the upgrade gate (``compat.gate.cli``); exits with its verdict's
  code: what CI should call;
- ``peft-cache-compat census ...``: the architecture census (``compat.census.cli``);
- ``peft-cache-compat migrate ...``: the migration tool (``compat.migrate.cli``);
- ``peft-cache-compat watch ...``: the release watch (``compat.watch.cli``).

``--data-root DIR`` before the subcommand sets ``$PCC_DATA_ROOT``: where the suites, matrices
and catalogues are read from (:mod:`compat.resources` has the rule).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from compat.resources import DATA_ROOT_ENV

__all__ = ["SUBCOMMANDS", "main"]

#: subcommand -> (module, function): ``function(argv, prog=...)`` runs it and returns the exit code.
#: Imported lazily: the tools need libcst or uv, not torch.
SUBCOMMANDS = {
    "migrate": ("compat.migrate", "run"),  # says which extra to install when libcst is missing
    "gate": ("compat.gate.cli", "main"),  # exit code = the verdict's: 0 same, 1 changed, 2 broken/no verdict
    "watch": ("compat.watch.cli", "main"),
    "census": ("compat.census.cli", "main"),  # the architecture census -> reports/census.{json,md,html}
    "matrix": ("compat.matrix.__main__", "main"),  # run|report: the transformers x peft matrix
    "report": ("compat.matrix.__main__", "report_main"),  # merge per-cell results: the matrix's report
}


def _take_data_root(argv: list[str]) -> list[str]:
    """``--data-root DIR`` (or ``--data-root=DIR``) in front of the subcommand -> ``$PCC_DATA_ROOT``.

    >>> _take_data_root(["--data-root=/x", "gate", "--to", "a"]), os.environ.pop("PCC_DATA_ROOT")
    (['gate', '--to', 'a'], '/x')
    """
    head = argv[0] if argv else ""
    if head == "--data-root" and len(argv) > 1:
        os.environ[DATA_ROOT_ENV], rest = argv[1], argv[2:]
    elif head.startswith("--data-root="):
        os.environ[DATA_ROOT_ENV], rest = head.partition("=")[2], argv[1:]
    else:
        return argv
    return rest


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """``python -m compat [--json]``, ``... migrate|gate|watch|census ...``; returns the exit code.

    ``prog``: how it was started (the ``peft-cache-compat`` console command or ``python -m compat``).
    """
    prog = prog or ("python -m compat" if sys.argv[0].endswith("__main__.py") else "peft-cache-compat")
    argv = _take_data_root(list(sys.argv[1:] if argv is None else argv))
    if argv[:1] and argv[0] in SUBCOMMANDS:
        module, function = SUBCOMMANDS[argv[0]]
        run = getattr(importlib.import_module(module), function)
        return int(run(argv[1:], prog=f"{prog} {argv[0]}") or 0)
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Show what peft-cache-compat detected about the installed transformers/peft/torch. "
        f"Subcommands: {', '.join(SUBCOMMANDS)} (matrix: the version matrix; report: merge its cell "
        "results; gate: the upgrade gate; census: the architecture census; migrate: rewrite deprecated "
        "cache code; watch: the release watch); see 'python -m compat SUBCOMMAND --help'. "
        f"--data-root DIR first: read suites, matrices and catalogues from DIR (${DATA_ROOT_ENV}).",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    from compat.detect import capabilities

    caps = capabilities()
    print(caps.to_json() if args.json else caps.table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
