"""``python -m compat.migrate PATH...`` (same as ``python -m compat migrate``)."""

import sys

from compat.migrate import run

sys.exit(run(prog="python -m compat.migrate"))
