"""The one error type of the release watch: it ends the run without a verdict.

A :class:`WatchError` means the watch could not say whether the newest releases
change anything: the default pins are unusable, the package index could not be
asked, or the gate gave no verdict. It ends with exit code 2 and an *error*
report (``status: error``, ``verdict: null``).

>>> str(WatchError("transformers: the package index did not answer within 180 s (offline?)"))
'transformers: the package index did not answer within 180 s (offline?)'
"""

from __future__ import annotations

__all__ = ["WatchError"]


class WatchError(Exception):
    """No verdict could be given; the message names what was wrong and what was expected."""
