"""Run the suites in one environment: the command, its environment, the process, and its outcome.

A :class:`SuiteRun` says what to run where; :func:`run_suite` runs it and returns a
:class:`SuiteOutcome`, whose :meth:`~SuiteOutcome.judged` applies a caller's declarations. The
steps, in order:

1. **Command** (:meth:`SuiteRun.command`): ``python -m pytest -p compat.suiterun.probe
   -p no:cacheprovider -q -rs --tb=native -o junit_family=xunit1 --junitxml=... --basetemp=...``,
   then ``-n N`` (pytest-xdist) and extra arguments, then the suite paths. JUnit XML, the probe's
   JSON and pytest's ``--basetemp`` live in the caller's private scratch folder.
2. **Environment** (:meth:`SuiteRun.environment`): the environment's own variables, offline
   (:data:`compat.tools.children.OFFLINE_ENV`), one BLAS thread, bytecode caching on, the
   derandomised ``matrix`` hypothesis profile, the suite profile if one is given, the probe's
   output file, and ``PYTHONPATH`` = the suite's root, this package's import root
   (:func:`compat.resources.import_root`), then any extra entries.
3. **Process** (:func:`run_suite`): its own process group (killed whole at the time limit or on
   an interrupt), dying with this process (:func:`compat.tools.children.spawn_options`), output
   appended to the log.
4. **Outcome** (:func:`read_outcome`): the probe first (a CUDA torch where a CPU-only one is
   required is ``error:install``; an import that failed is ``error:import``), then the JUnit
   XML (:func:`compat.suiterun.outcomes.parse_junit`), then the time limit
   (``error:timeout``), then :func:`compat.suiterun.outcomes.classify`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from compat import resources
from compat.suiterun.outcomes import PROBE_EXIT, Classification, TestResult, classify, judge, parse_junit
from compat.tools.children import OFFLINE_ENV, spawn_options
from compat.tools.outputs import writing

__all__ = [
    "SUITE_ENV", "Processes", "SuiteOutcome", "SuiteRun", "existing_paths", "probe_error", "read_outcome", "run_suite",
]

#: What every suite run's environment sets on top of the environment's own variables.
SUITE_ENV = {
    **OFFLINE_ENV,
    "PYTHONDONTWRITEBYTECODE": "",  # private venvs: keep .pyc (saves ~2 s per process)
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "HYPOTHESIS_PROFILE": "matrix",  # derandomized, no shrinking (tests/property/conftest.py)
}

#: The probe plugin's module (loaded into the suite's pytest with ``-p``).
PROBE_PLUGIN = "compat.suiterun.probe"


def existing_paths(root: Path, paths: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The suite paths that exist under ``root``, in their order."""
    return tuple(p for p in paths if (root / p).exists())


@dataclasses.dataclass(frozen=True)
class SuiteRun:
    """One pytest run of suite ``paths`` with interpreter ``python``, from ``root``.

    ``scratch`` is the caller's private folder (never shared with another run); ``name`` names
    this run's files in it. ``cpu_only``: a torch built for CUDA is an install error (the matrix's
    cells are CPU-only; a gate on a GPU is not).
    """

    python: str
    paths: tuple[str, ...]
    root: Path
    scratch: Path
    name: str
    log: Path
    timeout: float
    environ: Mapping[str, str]
    profile: str | None = None  # $PCC_SUITE_PROFILE; None: the suites' own default
    workers: int = 0  # >0: pytest-xdist workers
    pytest_args: tuple[str, ...] = ()
    extra_env: Mapping[str, str] = dataclasses.field(default_factory=dict)
    pythonpath: tuple[str, ...] = ()  # after the suite's root and this package's root
    cpu_only: bool = True

    @property
    def junit(self) -> Path:
        return self.scratch / "junit" / f"{self.name}.xml"

    @property
    def probe_file(self) -> Path:
        return self.scratch / "probe" / f"{self.name}.json"

    @property
    def basetemp(self) -> Path:
        return self.scratch / "tmp" / self.name

    def command(self) -> list[str]:
        """The pytest command line (one set of flags for every tool)."""
        cmd = [
            self.python, "-m", "pytest", "-p", PROBE_PLUGIN, "-p", "no:cacheprovider",
            # --tb=native: pytest's own traceback formatting costs ~0.4 s per failure (minutes in
            # a run with hundreds); the message and the full Python traceback are kept.
            "-q", "-rs", "--tb=native", "-o", "junit_family=xunit1",
            # no:logging: pytest's log capture hooks a handler onto each of torch's non-propagating
            # loggers for every phase of every test (~10 % of a cell's CPU); it is not a check, and
            # the suites hear transformers' logged deprecations through their own handler.
            "-p", "no:logging",
            f"--junitxml={self.junit}", f"--basetemp={self.basetemp}",
        ]
        if self.workers > 0:
            cmd += ["-n", str(self.workers)]
        return [*cmd, *self.pytest_args, *self.paths]

    def environment(self) -> dict[str, str]:
        """The process environment (see the module's step 2)."""
        from compat.testing import profiles

        env = {**self.environ, **SUITE_ENV, **self.extra_env, "PCC_PROBE_OUT": str(self.probe_file)}
        if self.profile is not None:
            env[profiles.ENV_VAR] = self.profile
        # The suite's root first; this compat too (alone, from an install), so "-p compat.suiterun.probe" imports.
        roots = [str(self.root), str(resources.import_root(self.scratch)), *self.pythonpath]
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(p for p in roots if p))
        return env

    def prepare(self) -> None:
        """Make the scratch folders and remove what an earlier run of this name left."""
        for path in (self.probe_file, self.junit, self.basetemp):  # pytest makes --basetemp, not its parent
            path.parent.mkdir(parents=True, exist_ok=True)
        self.probe_file.unlink(missing_ok=True)
        self.junit.unlink(missing_ok=True)


@dataclasses.dataclass
class SuiteOutcome:
    """What one run came to: its raw classification (no declarations applied), the tests, the probe."""

    raw: Classification
    tests: list[TestResult]
    probe: dict[str, Any] | None
    exit_code: int | None
    seconds: float
    command: list[str]
    junit: Path | None = None  # the JUnit XML, when it was there and parsed

    def judged(self, *, expect: str | None = None, expect_tests: tuple[str, ...] = (),
               known: tuple[Any, ...] = ()) -> Classification:
        """The classification with a caller's declarations applied (:func:`~compat.suiterun.outcomes.judge`)."""
        return judge(self.raw, self.tests, expect=expect, expect_tests=expect_tests, known=known)


class Processes:
    """The process groups of running suites, killed together on an interrupt."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pids: set[int] = set()
        self.stopping = False

    def add(self, pid: int) -> None:
        with self._lock:
            self._pids.add(pid)

    def discard(self, pid: int) -> None:
        with self._lock:
            self._pids.discard(pid)

    def kill_all(self) -> None:
        self.stopping = True
        with self._lock:
            for pid in list(self._pids):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)


def _run_process(run: SuiteRun, cmd: list[str], processes: Processes) -> tuple[int | None, float]:
    """Run ``cmd`` in its own process group; returns (exit code, or None at the time limit; seconds)."""
    started = time.perf_counter()
    with writing(run.log):
        run.log.parent.mkdir(parents=True, exist_ok=True)
        log = open(run.log, "a", encoding="utf-8")  # noqa: SIM115 - closed below
        log.write(f"\n$ {' '.join(map(str, cmd))}\n")
        log.flush()
    with log:
        proc = subprocess.Popen(cmd, cwd=run.root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                **spawn_options(run.environment()))
        processes.add(proc.pid)
        try:
            rc: int | None = proc.wait(timeout=run.timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            rc = None
        finally:
            processes.discard(proc.pid)
    return rc, time.perf_counter() - started


def _read_probe(path: Path) -> dict[str, Any] | None:
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def probe_error(rc: int | None, probe: dict[str, Any] | None, cpu_only: bool) -> Classification | None:
    """``error:install`` for a CUDA torch where CPU-only is required, ``error:import`` for a failed import."""
    if cpu_only and probe is not None and probe.get("torch_cuda") is not None:
        return classify(pytest_rc=rc, tests=[], error="error:install",
                        error_message=f"torch is not CPU-only: torch.version.cuda={probe['torch_cuda']}")
    if rc == PROBE_EXIT or (probe is not None and not probe.get("ok")):
        err = (probe or {}).get("error") or {}
        return classify(pytest_rc=rc, tests=[], error="error:import",
                        error_message=f"import of {err.get('stage', '?')} failed: "
                                      f"{err.get('message', 'no probe output')}")
    return None


def read_outcome(rc: int | None, *, junit: Path, probe_file: Path, timeout: float, cpu_only: bool = True,
                 seconds: float = 0.0, command: list[str] | None = None) -> SuiteOutcome:
    """What a finished pytest process came to, from its exit code (None: killed at the time
    limit), its JUnit XML and the probe's JSON (step 4 of the module)."""
    probe = _read_probe(probe_file) if probe_file.is_file() else None
    done: dict[str, Any] = {"exit_code": rc, "seconds": seconds, "command": list(command or []), "probe": probe}
    failed = probe_error(rc, probe, cpu_only)
    if failed is not None:
        return SuiteOutcome(raw=failed, tests=[], **done)
    tests: list[TestResult] = []
    problem = ""
    if junit.is_file():
        try:
            tests = parse_junit(junit)
        except Exception as exc:  # a truncated or empty file: pytest was killed while writing it
            problem = f"{type(exc).__name__}: {exc}"
    parsed = junit if junit.is_file() and not problem else None
    if rc is None:
        raw = classify(pytest_rc=rc, tests=tests, error="error:timeout",
                       error_message=f"no result within {timeout:g} s")
    else:
        raw = classify(pytest_rc=rc, tests=tests, junit_missing=parsed is None, junit_problem=problem)
    return SuiteOutcome(raw=raw, tests=tests, junit=parsed, **done)


def run_suite(run: SuiteRun, processes: Processes | None = None) -> SuiteOutcome:
    """Run ``run`` (steps 1-4 of the module). ``processes``: where the caller keeps running suites
    to kill them on an interrupt. A problem writing the log raises
    :class:`~compat.tools.outputs.OutputError`."""
    run.prepare()
    cmd = run.command()
    rc, seconds = _run_process(run, cmd, processes or Processes())
    return read_outcome(rc, junit=run.junit, probe_file=run.probe_file, timeout=run.timeout, cpu_only=run.cpu_only,
                        seconds=seconds, command=cmd)
