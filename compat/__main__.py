"""``python -m compat``: print what the shim detected (``--json`` for JSON).

``python -m compat migrate ...`` runs the migration tool (``compat.migrate.cli``);
``python -m compat gate ...`` (or the console command ``peft-cache-compat gate ...``) runs the
upgrade gate (``compat.gate.cli``) and exits with its verdict's code: what CI should call.
"""

from __future__ import annotations

import argparse
import importlib
import sys

__all__ = ["main"]


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """``python -m compat [--json]``, ``... migrate ...``, ``... gate ...``; returns the exit code.

    ``prog``: how it was started (the ``peft-cache-compat`` console command or ``python -m compat``).
    """
    prog = prog or ("python -m compat" if sys.argv[0].endswith("__main__.py") else "peft-cache-compat")
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["migrate"]:
        # Imported lazily: the migration tool needs libcst (the "migrate" extra), not torch.
        return importlib.import_module("compat.migrate").run(argv[1:], prog=f"{prog} migrate")
    if argv[:1] == ["gate"]:
        # The upgrade gate, with its own exit code: 0 same, 1 changed, 2 broken or no verdict.
        return importlib.import_module("compat.gate.cli").main(argv[1:], prog=f"{prog} gate")
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Show what peft-cache-compat detected about the installed transformers/peft/torch. "
        "Subcommands: 'migrate' (see 'python -m compat migrate --help'), 'gate' (the upgrade gate, "
        "see 'python -m compat gate --help').",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    from compat.detect import capabilities

    caps = capabilities()
    print(caps.to_json() if args.json else caps.table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
