"""The release watch: catch a new transformers or peft release the day it ships.

``nox -s watch`` (also ``peft-cache-compat watch``, ``python -m compat watch``,
``python -m compat.watch``) asks the package index for the newest transformers
and peft (:mod:`.newest`, through ``uv pip compile``), runs the upgrade gate
(:mod:`compat.gate`, its own entry point, suites included) from the project's
default pins to them (:mod:`.gatecall`), and writes a dated
``reports/watch.{json,md}`` (:mod:`.report`) with both version pairs, the verdict
and a summary of the evidence. Nothing new on the index: verdict ``same``,
nothing gated, no environment built. Exit codes as the gate's (0 same,
1 changed, 2 broken; 2 with an error report without a verdict).
``python -m compat.watch.check reports/watch.json`` is the CI check (:mod:`.check`).
See ``docs/watch.md``.

Torch-free, like the gate's orchestrator:

>>> import subprocess, sys
>>> from compat.toolchain import PROJECT_ROOT
>>> code = "import sys, compat.watch.cli; sys.exit('torch' in sys.modules)"
>>> subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT).returncode
0
"""

from __future__ import annotations

from compat.watch.errors import WatchError
from compat.watch.result import SCHEMA, SCHEMA_VERSION, Change, PackageUpdate, Status, Verdict, WatchResult

__all__ = ["SCHEMA", "SCHEMA_VERSION", "Change", "PackageUpdate", "Status", "Verdict", "WatchError", "WatchResult"]
