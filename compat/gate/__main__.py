"""``python -m compat.gate`` (what ``nox -s gate`` runs); see :mod:`compat.gate.cli`."""

import sys

from compat.gate.cli import main

if __name__ == "__main__":
    sys.exit(main())
