"""How the tools start their subprocesses: offline, and never outliving the tool.

:data:`OFFLINE_ENV` is the environment every suite, golden recording and replay runs with (no
hub access; the tools add their own thread limits). :func:`spawn_options` gives the
``subprocess`` keyword arguments that make a child die with the process that started it, so a
runner killed with SIGKILL (which it cannot catch) leaves no cell's pytest running:

* Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` in the child before ``exec`` (a ``preexec_fn``;
  the ``prctl`` function is looked up before ``fork``, so the child runs no import). The signal
  comes when the *thread* that started the child exits; the matrix runner's worker threads wait
  for their child, so that is when the runner dies.
* elsewhere (no ``prctl``): the child gets ``$PCC_PARENT_PID`` and calls :func:`watch_parent`
  (the matrix probe plugin and ``compat.gate.inenv`` do), a daemon thread that kills the
  child's process group within a second of its parent's death.

>>> sorted(OFFLINE_ENV)
['HF_DATASETS_OFFLINE', 'HF_HUB_OFFLINE', 'TOKENIZERS_PARALLELISM', 'TRANSFORMERS_OFFLINE']
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["OFFLINE_ENV", "PARENT_ENV", "has_pdeathsig", "offline_child", "spawn_options", "watch_parent"]

#: Nothing is downloaded at run time: tests build tiny models from configs.
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
}

#: Set in a child's environment when it must watch its parent itself (no ``prctl``).
PARENT_ENV = "PCC_PARENT_PID"

_PR_SET_PDEATHSIG = 1


def _find_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.restype = ctypes.c_int
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    return prctl


_PRCTL = _find_prctl()


def has_pdeathsig() -> bool:
    """Whether children get ``PR_SET_PDEATHSIG`` (Linux); otherwise they watch their parent."""
    return _PRCTL is not None


def _die_with(parent: int, prctl: Callable[..., int]) -> Callable[[], None]:
    def preexec() -> None:  # runs in the child between fork and exec: no imports
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def spawn_options(env: dict[str, str]) -> dict[str, Any]:
    """``subprocess`` keyword arguments: ``env`` plus whatever makes the child die with this process."""
    if _PRCTL is not None:
        return {"env": env, "preexec_fn": _die_with(os.getpid(), _PRCTL)}
    return {"env": {**env, PARENT_ENV: str(os.getpid())}}


def watch_parent(poll: float = 0.5) -> threading.Thread | None:
    """In a child started with :func:`spawn_options` where there is no ``prctl``: exit with the parent.

    Returns the watchdog thread, or None when ``$PCC_PARENT_PID`` is not set.
    """
    raw = os.environ.get(PARENT_ENV)
    if not raw:
        return None
    parent = int(raw)

    def gone() -> None:
        try:
            if os.getpgrp() == os.getpid():  # a session/group leader: take its own children along
                os.killpg(os.getpgrp(), signal.SIGKILL)
        finally:
            os._exit(137)

    if os.getppid() != parent:
        gone()

    def watch() -> None:
        while True:
            threading.Event().wait(poll)
            if os.getppid() != parent:
                gone()

    thread = threading.Thread(target=watch, name="pcc-parent-watch", daemon=True)
    thread.start()
    return thread


def offline_child() -> threading.Thread | None:
    """At the start of a tool's child process: the offline variables (those not set already), and
    :func:`watch_parent` (where the parent could not set ``PR_SET_PDEATHSIG``)."""
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
    return watch_parent()
