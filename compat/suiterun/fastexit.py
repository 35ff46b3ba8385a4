"""End a suite run's pytest process without the interpreter's teardown once pytest has finished.

After the session, the pytest process of a suite run (a matrix cell, a gate side, the census)
holds torch, transformers, peft and hundreds of tiny models; Python's own shutdown (destroying
every module and object) costs 1.1-1.7 CPU s a cell here (``benchmarks/bench_suite.py profile``,
docs/matrix.md "Speed, 2026-12-01"), and nothing reads its results. Registered by the probe plugin
(:mod:`compat.suiterun.probe`), this module records the session's final exit status and, from an
``atexit`` handler registered before torch is imported (so it runs after every handler registered
later: pytest's, torch's, transformers'), flushes stdout and stderr and ends the process with
``os._exit(status)``, the exit code pytest itself would have returned.

It does nothing -- the interpreter exits normally -- when the session did not finish normally (a
usage error, an ``exit.Exception`` raised from a ``pytest_sessionfinish`` hook), when an exception
reached the top level after it (``sys.excepthook`` ran), in a pytest-xdist worker (whose exit
the controller manages), or when ``PCC_NO_FAST_EXIT`` is set.
"""

from __future__ import annotations

import atexit
import os
import sys
from collections.abc import Callable, Generator
from typing import Any

import pytest

__all__ = ["install"]

_STATUS: list[int] = []
_UNCAUGHT: list[bool] = []


def install(config: pytest.Config) -> None:
    """Register the plugin and the exit handler (once per process; not in xdist workers)."""
    if os.environ.get("PYTEST_XDIST_WORKER") or os.environ.get("PCC_NO_FAST_EXIT"):
        return
    if not config.pluginmanager.is_registered(sys.modules[__name__]):
        config.pluginmanager.register(sys.modules[__name__], "compat-suiterun-fastexit")
        atexit.register(_exit_now)
        sys.excepthook = _noting(sys.excepthook)


def _noting(hook: Callable[..., Any]) -> Callable[..., Any]:
    """``sys.excepthook`` that also notes an exception reached the top level (then exit normally)."""

    def excepthook(*exc_info: Any) -> Any:
        _UNCAUGHT.append(True)
        return hook(*exc_info)

    return excepthook


@pytest.hookimpl(wrapper=True, tryfirst=True)  # type: ignore[untyped-decorator, misc, unused-ignore]
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> Generator[None, None, None]:
    """Record the exit status pytest will return, once every other ``pytest_sessionfinish`` ran."""
    result = yield
    _STATUS.append(int(session.exitstatus))
    return result


def _exit_now() -> None:
    if not _STATUS or _UNCAUGHT:
        return
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):  # a closed stream: nothing left to flush
            pass
    os._exit(_STATUS[-1])
