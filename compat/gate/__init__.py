"""The upgrade gate: does moving to another transformers/peft pair change prompt-learning outputs?

``nox -s gate -- --from transformers==A peft==B --to transformers==C peft==D``
builds both environments, records goldens (saved weights, logits, greedy/beam/
sampled generations) on the baseline, replays them on the candidate, runs the
equivalence suites on both, and writes ``reports/gate.{md,json}`` with a verdict:
``same`` (exit 0), ``changed`` (1) or ``broken`` (2). See ``docs/gate.md``.

Torch-free modules (the orchestrator): :mod:`~compat.gate.cli`, :mod:`~compat.gate.pins`,
:mod:`~compat.gate.userinput`, :mod:`~compat.gate.suites`, :mod:`~compat.gate.verdict`,
:mod:`~compat.gate.report`. In-environment modules (import torch when used):
:mod:`~compat.gate.inenv`, :mod:`~compat.gate.cases`, :mod:`~compat.gate.golden`,
:mod:`~compat.gate.replay`, :mod:`~compat.gate.compare`.

The orchestrator never imports torch (it runs in nox's tooling environment):

>>> import subprocess, sys
>>> from compat.toolchain import PROJECT_ROOT
>>> code = "import sys, compat.gate.cli; sys.exit('torch' in sys.modules)"
>>> subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT).returncode
0
>>> import compat.gate
>>> compat.gate.EXIT_CODES
{'same': 0, 'changed': 1, 'broken': 2}
"""

from __future__ import annotations

from compat.gate.errors import EXIT_ERROR, GateError
from compat.gate.verdict import EXIT_CODES, decide

__all__ = ["EXIT_CODES", "EXIT_ERROR", "GateError", "decide"]
