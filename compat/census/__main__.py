"""``python -m compat.census``: see :mod:`compat.census.cli`."""

import sys

from compat.census.cli import main

sys.exit(main(prog="python -m compat.census"))
