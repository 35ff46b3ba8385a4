"""``python -m compat.watch`` (what ``nox -s watch`` runs); see :mod:`compat.watch.cli`."""

import sys

from compat.watch.cli import main

if __name__ == "__main__":
    sys.exit(main())
