"""The one error type of the gate: bad input or an environment the gate could not use.

A :class:`GateError` ends the run with exit code 2 and an explicit *error* report
(never a verdict).

>>> str(GateError("--model: /nope does not exist"))
'--model: /nope does not exist'
"""

from __future__ import annotations

__all__ = ["EXIT_ERROR", "GateError"]

#: Exit code of a run that ended without a verdict (bad input, unusable environment).
EXIT_ERROR = 2


class GateError(Exception):
    """Bad input, or a side the gate could not set up: no verdict can be given."""
