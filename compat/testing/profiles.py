"""Suite profiles: how much of the equivalence suites one run collects.

``full`` (the default; ``nox -s tests``, the gate): every method on every check.
``matrix`` (a matrix cell): every method on every logits, invariance and
"prompt matters" check, and the generation checks on one method per way the
prompt reaches the model: ``prefix`` (a prefix in ``past_key_values``),
``prompt`` (virtual token embeddings), ``ptuning_mlp`` (an encoder-computed
prompt) and ``mpt`` (task ids). The methods it leaves out of generation differ
from those only in how their prompt parameters are computed (a projection MLP,
text initialisation, an LSTM instead of an MLP), which the logits checks cover.

Selected with the ``PCC_SUITE_PROFILE`` environment variable; a matrix cell
records the profile it ran in its report.

>>> describe("full")
'full: every method on every check'
>>> generation_methods("matrix")
('prefix', 'prompt', 'ptuning_mlp', 'mpt')
>>> active({"PCC_SUITE_PROFILE": "fast"})
Traceback (most recent call last):
...
ValueError: PCC_SUITE_PROFILE='fast': unknown suite profile (expected one of: full, matrix)
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from compat.testing import methods

__all__ = ["ENV_VAR", "PROFILES", "active", "describe", "generation_methods"]

ENV_VAR = "PCC_SUITE_PROFILE"

#: profile -> the methods the generation checks run on (None: all of them).
PROFILES: dict[str, tuple[str, ...] | None] = {
    "full": None,
    "matrix": ("prefix", "prompt", "ptuning_mlp", "mpt"),
}


def active(environ: Mapping[str, str] | None = None) -> str:
    """The profile named by ``PCC_SUITE_PROFILE`` (``full`` when unset)."""
    environ = os.environ if environ is None else environ
    name = environ.get(ENV_VAR, "").strip() or "full"
    if name not in PROFILES:
        raise ValueError(f"{ENV_VAR}={name!r}: unknown suite profile (expected one of: {', '.join(PROFILES)})")
    return name


def generation_methods(profile: str | None = None) -> tuple[str, ...]:
    """The methods the generation checks parametrize over in ``profile`` (default: the active one)."""
    chosen = PROFILES[profile or active()]
    return tuple(methods.METHODS) if chosen is None else chosen


def describe(profile: str) -> str:
    """One line saying what ``profile`` runs (for reports)."""
    chosen = PROFILES[profile]
    if chosen is None:
        return f"{profile}: every method on every check"
    return (f"{profile}: every method on the logits checks; generation checks on {', '.join(chosen)} "
            f"(one per way the prompt reaches the model)")
