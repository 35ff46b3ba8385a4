"""``python -m compat``: print what the shim detected (``--json`` for JSON).

``python -m compat migrate ...`` runs the migration tool (``compat.migrate.cli``);
``python -m compat watch ...`` the release watch (``compat.watch.cli``). The console
script ``peft-cache-compat`` is this same entry point.
"""

from __future__ import annotations

import argparse
import importlib
import sys

__all__ = ["SUBCOMMANDS", "main"]

#: subcommand -> the module whose ``main(argv)`` runs it
SUBCOMMANDS = {"migrate": "compat.migrate.cli", "watch": "compat.watch.cli"}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] and argv[0] in SUBCOMMANDS:
        # Imported lazily: the tools need libcst or uv, not torch.
        cli = importlib.import_module(SUBCOMMANDS[argv[0]])
        return int(cli.main(argv[1:]) or 0)
    parser = argparse.ArgumentParser(
        prog="python -m compat",
        description="Show what peft-cache-compat detected about the installed transformers/peft/torch. "
        "Subcommands: 'migrate' and 'watch' (see 'python -m compat migrate --help', "
        "'python -m compat watch --help').",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    from compat.detect import capabilities

    caps = capabilities()
    print(caps.to_json() if args.json else caps.table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
