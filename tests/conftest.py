"""Suite-wide settings: offline, deterministic, single-threaded torch per worker."""

from __future__ import annotations

import logging
import os
import re
import warnings

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


# transformers' wording for its cache deprecations (tuple/Cache 4.36-4.57, the `cache` keyword 5.24+)
DEPRECATION = re.compile(r"deprecat|will be removed|removed in|tuple of tuples|legacy", re.I)


def _forget_warning_once():
    """transformers logs its deprecations with a once-per-process cache: clear it."""
    from transformers.utils import logging as hf_logging

    once = getattr(hf_logging, "warning_once", None)
    if hasattr(once, "cache_clear"):
        once.cache_clear()


@pytest.fixture
def deprecations(caplog):
    """``deprecations(call)`` -> ``(call(), messages)``: the deprecation messages that ``call``
    alone warned (``warnings``) or logged (transformers' logger), whatever ran before it."""

    def run(call):
        caplog.clear()
        _forget_warning_once()
        with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.WARNING, "transformers"):
            warnings.simplefilter("always")
            result = call()
            logged = [r.getMessage() for r in caplog.records]
        said = [str(w.message) for w in caught] + logged
        return result, [m for m in said if DEPRECATION.search(m)]

    return run
