"""Run the equivalence suites in one side's environment and compare outcomes (torch-free).

The suites run with the matrix's runner (:mod:`compat.suiterun`: one pytest command, the
import probe, JUnit XML, one classification), so a gate side and a matrix cell give the same
status for the same environment. :func:`compare_suites` turns
two of them into findings: a test that passed on the baseline and fails on the
candidate is *changed* when it failed an assertion (numbers differ) and
*broken* when it raised anything else, errored in setup, or disappeared.

>>> base = {t: TestResult(t, "passed") for t in ("t::a", "t::b", "t::c")}
>>> cand = {"t::a": TestResult("t::a", "passed"),
...         "t::b": TestResult("t::b", "failed", "AssertionError: logits: not close"),
...         "t::c": TestResult("t::c", "failed", "AttributeError: 'tuple' object has no attribute 'x'")}
>>> [(f["severity"], f["where"]) for f in compare_suites(base, cand)]
[('changed', 't::b'), ('broken', 't::c')]
"""

from __future__ import annotations

import dataclasses
import os
from collections import Counter
from pathlib import Path
from typing import Any

from compat.suiterun.outcomes import Outcome, Status, TestResult
from compat.suiterun.run import SuiteRun, existing_paths, run_suite
from compat.tools.children import OFFLINE_ENV

__all__ = ["SideSuites", "compare_suites", "default_env", "run_suites"]


@dataclasses.dataclass
class SideSuites:
    """One side's suite run as the gate compares it: the shared runner's status (None: not run,
    no suite directory exists), why, and every test's outcome by id."""

    status: Status | None
    message: str
    tests: dict[str, TestResult] = dataclasses.field(default_factory=dict)
    seconds: float = 0.0
    log: str = ""
    missing_paths: list[str] = dataclasses.field(default_factory=list)

    @property
    def label(self) -> str:
        return self.status.value if self.status is not None else "not-run"

    @property
    def ran(self) -> bool:
        """The suites ran to the end (passed or failed), so their tests can be compared."""
        return self.status in (Status.PASS, Status.FAIL)

    def to_json(self) -> dict[str, Any]:
        """For ``gate.json``: counts per outcome and only the tests that did not pass (it stays small)."""
        counts = Counter(t.outcome.value for t in self.tests.values())
        not_passed = {i: {"outcome": t.outcome.value, "message": t.message[:500]} for i, t in self.tests.items()
                      if t.outcome in (Outcome.FAILED, Outcome.ERROR)}
        return {"status": self.label, "message": self.message, "seconds": self.seconds, "log": self.log,
                "missing_paths": self.missing_paths, "counts": dict(counts), "not_passed": not_passed}


def run_suites(python: str, paths: list[str], scratch: Path, *, name: str, env: dict[str, str], cwd: Path,
               timeout: float, log: Path, cpu_only: bool = False) -> SideSuites:
    """Run the suites with the shared runner (:mod:`compat.suiterun`), exactly as a matrix cell does.

    ``scratch``: the gate run's private folder; ``name`` names this side's files there.
    ``cpu_only``: a CUDA torch is ``error:install`` (a CPU gate's built sides are already checked
    at build, so the gate passes False). Not run when none of ``paths`` exists.
    """
    existing = existing_paths(cwd, paths)
    if not existing:
        return SideSuites(None, f"no suite directory exists ({', '.join(paths)})")
    pythonpath = tuple(p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p)
    outcome = run_suite(SuiteRun(python=python, paths=existing, root=cwd, scratch=scratch, name=name, log=log,
                                 timeout=timeout, environ=env, pythonpath=pythonpath, cpu_only=cpu_only))
    cls = outcome.judged()
    return SideSuites(cls.status, cls.message, {t.nodeid: t for t in outcome.tests}, round(outcome.seconds, 1),
                      str(log), sorted(set(paths) - set(existing)))


def _severity(message: str) -> str:
    head = message.strip().split("\n")[0]
    if head.startswith(("AssertionError", "assert ")) or "AssertionError" in head.split(":")[0]:
        return "changed"
    return "broken"


def compare_suites(baseline: dict[str, TestResult], candidate: dict[str, TestResult]) -> list[dict[str, Any]]:
    """Findings for tests that passed on the baseline and did not pass on the candidate."""
    findings = []
    for test_id, base in sorted(baseline.items()):
        if base.outcome != Outcome.PASSED:
            continue
        cand = candidate.get(test_id)
        if cand is None:
            findings.append({"severity": "broken", "kind": "suite", "where": test_id,
                             "detail": "passed on the baseline; not run on the candidate (collection error?)"})
        elif cand.outcome in (Outcome.FAILED, Outcome.ERROR):
            severity = "broken" if cand.outcome == Outcome.ERROR else _severity(cand.message)
            findings.append({"severity": severity, "kind": "suite", "where": test_id,
                             "detail": f"passed on the baseline; {cand.outcome} on the candidate: "
                                       f"{cand.message[:300]}"})
    return findings


def default_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """Offline (:data:`compat.tools.children.OFFLINE_ENV`), deterministic settings every in-env
    process of the gate runs with."""
    env = dict(os.environ if base is None else base)
    env.update(OFFLINE_ENV, HF_HUB_DISABLE_PROGRESS_BARS="1", TRANSFORMERS_NO_ADVISORY_WARNINGS="1",
               CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1")
    return env
