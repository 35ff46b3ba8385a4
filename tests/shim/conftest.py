"""The shim suite's API-level modules (argument names, layouts, conversions, errors, capabilities)
check shapes and messages with CPU tensors they make themselves: they do not depend on the device,
dtype or attention kernel, and run in the default CPU session. Off the default suite axes
(:mod:`compat.testing.axes`) only the numerical oracle (test_oracle.py) is collected."""

from __future__ import annotations

from compat.testing import axes

collect_ignore = [] if axes.current().is_default else [
    "test_arguments.py",
    "test_capabilities.py",
    "test_convert.py",
    "test_errors.py",
    "test_layouts.py",
    "test_prefix.py",
    "test_token_noise.py",  # synthetic scores judged in explicit dtypes: a policy test, not a device one
]
