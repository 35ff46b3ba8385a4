"""Run the census over many architectures in parallel worker processes and collect typed
results. A worker that dies takes only the architecture it was on with it: that one fails
("worker died"), the rest of its share goes on in a fresh worker.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

from compat import resources
from compat.census.results import ArchResult, Census, CheckResult, MethodResult, Status
from compat.suiterun.outcomes import Classification
from compat.suiterun.run import SUITE_ENV, probe_error
from compat.tools.children import spawn_options

__all__ = ["CensusImportError", "check_imports", "run_census"]


class CensusImportError(RuntimeError):
    """torch, transformers, peft or the shim does not import here: no census (the message says which)."""


def check_imports() -> Classification | None:
    """The suites' import probe (:mod:`compat.suiterun.probe`), run here before any worker starts:
    ``error:import`` as a matrix cell or a gate side would get it, or None when everything imports."""
    from compat.suiterun.probe import probe

    return probe_error(None, probe(), cpu_only=False)


def _spawn(ids: Sequence[str]) -> subprocess.Popen:
    """A worker for ``ids``: the suites' environment (offline, one thread), dying with this process."""
    env = {**os.environ, **SUITE_ENV}
    root = str(resources.PACKAGE_DIR.parent)  # this interpreter, this compat
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return subprocess.Popen([sys.executable, "-m", "compat.census.worker", *ids], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, **spawn_options(env))


def _died(ident: str, rc: int) -> ArchResult:
    from compat.census import registry

    arch = next(a for a in registry.architectures() if a.id == ident)
    check = CheckResult("worker", Status.FAIL, f"the census worker died (exit code {rc}) on this architecture")
    return ArchResult(arch.id, arch.model_type, arch.mapping, arch.model_class, Status.FAIL, check.message,
                      0.0, 0.0, 0, (MethodResult("all", Status.FAIL, check.message, (check,)),))


def _shares(ids: Sequence[str], jobs: int) -> list[list[str]]:
    return [list(ids[i::jobs]) for i in range(jobs) if ids[i::jobs]]


def run_census(ids: Sequence[str], *, jobs: int = 2, progress: Callable[[ArchResult, int, int], None] | None = None
               ) -> Census:
    """Census ``ids`` with ``jobs`` workers; results in registry order. :class:`CensusImportError`
    when the stack does not import here."""
    failed = check_imports()
    if failed is not None:
        raise CensusImportError(f"{failed.status}: {failed.message}")
    import peft
    import torch
    import transformers

    from compat.census import catalogue

    start = time.perf_counter()
    pending = [list(s) for s in _shares(list(ids), max(1, jobs))]
    running = {i: (_spawn(share), share) for i, share in enumerate(pending)}
    results: dict[str, ArchResult] = {}
    while running:
        for slot, (proc, share) in list(running.items()):
            line = proc.stdout.readline() if proc.stdout else ""
            if line:
                r = ArchResult.from_json(json.loads(line))
                results[r.arch] = r
                share.remove(r.arch)
                if progress:
                    progress(r, len(results), len(ids))
                continue
            rc = proc.wait()
            del running[slot]
            if share:  # died on share[0]: record it and carry on with the rest
                results[share[0]] = _died(share[0], rc)
                if share[1:]:
                    running[slot] = (_spawn(share[1:]), share[1:])
    order = {ident: i for i, ident in enumerate(ids)}
    archs = tuple(sorted(results.values(), key=lambda r: order[r.arch]))
    return Census(transformers.__version__, peft.__version__, torch.__version__,
                  _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), time.perf_counter() - start,
                  jobs, archs, tuple(k.to_json() for k in catalogue.load()))
