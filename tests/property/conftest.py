"""Hypothesis profiles for the property suites.

``ci`` (default): derandomized, so every run of a matrix cell draws the same
examples; modest ``max_examples``; no deadline (CPU time is shared and noisy).
``matrix`` (set by the matrix runner): ``ci`` without the shrink phase, so a
cell where a property fails reports the first (derandomized, reproducible)
counter-example in about a second instead of shrinking it for 10-20 s.
``dev``: many more, randomized examples. Select with ``HYPOTHESIS_PROFILE=dev``.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=25,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "matrix",
    settings.get_profile("ci"),
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    report_multiple_bugs=False,
)
settings.register_profile("dev", max_examples=300, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
