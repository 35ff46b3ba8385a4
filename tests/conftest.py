"""Suite-wide settings: offline, deterministic, single-threaded torch per worker."""

from __future__ import annotations

import contextlib
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
    from compat.testing import axes

    try:
        axes.current()  # a bad PCC_DEVICE/PCC_DTYPE/PCC_ATTN/PCC_SIZE stops the run with one line
    except axes.AxesError as exc:
        raise pytest.UsageError(str(exc)) from None
    try:
        import torch
    except ImportError:  # tooling-only environments
        return
    # One thread per process: xdist workers share 2 cores, and single-threaded
    # kernels make "bitwise where the kernels are the same" reproducible.
    torch.set_num_threads(1)


#: Recorded per suite test as the JUnit property ``axes``: device-dtype-attn-size it ran on.
AXES_PROPERTY = "axes"


def _is_tooling(item) -> bool:
    return "tests/tooling/" in str(item.path).replace("\\", "/")


def pytest_collection_modifyitems(config, items):
    """Record the suite axes on every suite test; where the axes ask for CUDA and this machine has
    none, every suite test is not applicable (said once, with the reason), never run on the CPU."""
    from compat.testing import axes

    ax = axes.current()
    suite = [item for item in items if not _is_tooling(item)]
    for item in suite:
        item.user_properties.append((AXES_PROPERTY, ax.label()))
    if ax.device == "cpu" or not suite:
        return
    why = axes.device_check(ax)
    if why:
        mark = pytest.mark.skip(reason=f"not-applicable: {why}")
        for item in suite:
            item.add_marker(mark)


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


class _Records(logging.Handler):
    """Keeps the records that reach it (attached to transformers' library logger, which does not
    propagate: pytest's log capture is switched off in the suite runs, ``-p no:logging``)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def _transformers_log():
    logger = logging.getLogger("transformers")
    handler, level = _Records(), logger.level
    logger.addHandler(handler)
    logger.setLevel(min(level or logging.WARNING, logging.WARNING))
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.fixture
def deprecations():
    """``deprecations(call, baseline=None)`` -> ``(call(), messages)``: the deprecation messages
    that ``call`` alone warned (``warnings``) or logged (transformers' logger), whatever ran before
    it, less those the ``baseline`` call (the same model without the shim's arguments) also
    draws: a message the kernel draws on every call (e.g. flex attention's) is not the shim's."""

    def said_by(call):
        _forget_warning_once()
        with warnings.catch_warnings(record=True) as caught, _transformers_log() as logged:
            warnings.simplefilter("always")
            result = call()
        said = [str(w.message) for w in caught] + logged
        return result, [m for m in said if DEPRECATION.search(m)]

    def run(call, baseline=None):
        base = set(said_by(baseline)[1]) if baseline is not None else set()
        result, said = said_by(call)
        return result, [m for m in said if m not in base]

    return run


#: Recorded per test as the JUnit property ``warnings``: what a known issue's ``match`` (its
#: mechanism's signature, see compat.matrix.known) is searched in besides the failure message.
WARNINGS_PROPERTY = "warnings"
#: Likewise an exception's notes (PEP 678), e.g. the trace of what PEFT's generate handed the model.
NOTES_PROPERTY = "notes"
_WARNINGS_KEPT = 2000  # characters


def _module_of(filename: str) -> str:
    """``.../site-packages/transformers/utils/generic.py`` -> ``transformers.utils.generic``
    (what the ``module`` part of a warnings filter is matched against)."""
    path = filename.replace("\\", "/")
    tail = path.split("site-packages/")[-1] if "site-packages/" in path else path.rsplit("/", 1)[-1]
    return tail[:-3].replace("/", ".") if tail.endswith(".py") else tail


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """Record every warning the test body raised (even those the ini filters hide) and the notes
    of the exception it raised as properties, then hand each warning on unchanged, so pytest's own
    filters and summary still see them."""
    caught: list = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            return (yield)
    except BaseException as exc:
        notes = getattr(exc, "__notes__", None)
        if notes:
            item.user_properties.append((NOTES_PROPERTY, " | ".join(notes)[:_WARNINGS_KEPT]))
        raise
    finally:
        seen = list(dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught))
        if seen:
            item.user_properties.append((WARNINGS_PROPERTY, " | ".join(seen)[:_WARNINGS_KEPT]))
        for w in caught:  # outside the recording block: handed on to pytest's own capture
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, module=_module_of(w.filename))
