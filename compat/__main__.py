"""``python -m compat``: print what the shim detected (``--json`` for JSON).

``python -m compat migrate ...`` runs the migration tool (``compat.migrate.cli``);
``python -m compat gate ...`` (or the console command ``peft-cache-compat gate ...``) runs the
upgrade gate (``compat.gate.cli``) and exits with its verdict's code: what CI should call;
``python -m compat watch ...`` the release watch (``compat.watch.cli``); ``python -m compat census ...``
the architecture census (``compat.census.cli``). The console
script ``peft-cache-compat`` is this same entry point.
"""

from __future__ import annotations

import argparse
import importlib
import sys

__all__ = ["SUBCOMMANDS", "main"]

#: subcommand -> (module, function): ``function(argv, prog=...)`` runs it and returns the exit code.
#: Imported lazily: the tools need libcst or uv, not torch.
SUBCOMMANDS = {
    "migrate": ("compat.migrate", "run"),  # says which extra to install when libcst is missing
    "gate": ("compat.gate.cli", "main"),  # exit code = the verdict's: 0 same, 1 changed, 2 broken/no verdict
    "watch": ("compat.watch.cli", "main"),
    "census": ("compat.census.cli", "main"),  # the architecture census -> reports/census.{json,md,html}
}


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """``python -m compat [--json]``, ``... migrate|gate|watch|census ...``; returns the exit code.

    ``prog``: how it was started (the ``peft-cache-compat`` console command or ``python -m compat``).
    """
    prog = prog or ("python -m compat" if sys.argv[0].endswith("__main__.py") else "peft-cache-compat")
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] and argv[0] in SUBCOMMANDS:
        module, function = SUBCOMMANDS[argv[0]]
        run = getattr(importlib.import_module(module), function)
        return int(run(argv[1:], prog=f"{prog} {argv[0]}") or 0)
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Show what peft-cache-compat detected about the installed transformers/peft/torch. "
        "Subcommands: 'migrate', 'gate' (the upgrade gate), 'watch' (the release watch) and 'census' "
        "(the architecture census); "
        "see 'python -m compat SUBCOMMAND --help'.",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    from compat.detect import capabilities

    caps = capabilities()
    print(caps.to_json() if args.json else caps.table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
