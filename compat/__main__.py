"""``python -m compat``: print what the shim detected (``--json`` for JSON).

``python -m compat migrate ...`` runs the migration tool (``compat.migrate.cli``).
"""

from __future__ import annotations

import argparse
import importlib
import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["migrate"]:
        # Imported lazily: the migration tool needs libcst, not torch.
        cli = importlib.import_module("compat.migrate.cli")
        return int(cli.main(argv[1:]) or 0)
    parser = argparse.ArgumentParser(
        prog="python -m compat",
        description="Show what peft-cache-compat detected about the installed transformers/peft/torch. "
        "Subcommand: 'migrate' (see 'python -m compat migrate --help').",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    from compat.detect import capabilities

    caps = capabilities()
    print(caps.to_json() if args.json else caps.table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
