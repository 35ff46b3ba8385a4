"""``python -m compat.migrate PATH...`` (same as ``python -m compat migrate``)."""

import sys

from compat.migrate.cli import main

sys.exit(main())
