"""Suite-wide settings: offline, deterministic, single-threaded torch per worker."""

from __future__ import annotations

import os

import pytest

# No model or data set is ever downloaded: tiny models are built from configs.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def pytest_configure(config):
    try:
        import torch
    except ImportError:  # tooling-only environments
        return
    # One thread per process: xdist workers share 2 cores, and single-threaded
    # kernels make "bitwise where the kernels are the same" reproducible.
    torch.set_num_threads(1)


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem):
    """A reference that cannot be built on this install makes its check not applicable
    (``compat.testing.reference.ReferenceNotApplicable`` says why), never a pass."""
    from compat.testing.reference import ReferenceNotApplicable

    try:
        return (yield)
    except ReferenceNotApplicable as exc:
        pytest.skip(f"not-applicable: {exc}")
