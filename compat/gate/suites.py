"""Run the equivalence suites in one side's environment and compare outcomes (torch-free).

The suites run with the matrix's runner (:mod:`compat.suiterun`: one pytest command, the
import probe, JUnit XML, one classification), so a gate side and a matrix cell give the same
status for the same environment. :func:`compare_suites` turns
two of them into findings: a test that passed on the baseline and fails on the
candidate is *changed* when it failed an assertion (numbers differ) and
*broken* when it raised anything else, errored in setup, or disappeared.

>>> base = {"t::a": {"outcome": "passed"}, "t::b": {"outcome": "passed"}, "t::c": {"outcome": "passed"}}
>>> cand = {"t::a": {"outcome": "passed"},
...         "t::b": {"outcome": "failed", "message": "AssertionError: logits: not close"},
...         "t::c": {"outcome": "failed", "message": "AttributeError: 'tuple' object has no attribute 'x'"}}
>>> [(f["severity"], f["where"]) for f in compare_suites(base, cand)]
[('changed', 't::b'), ('broken', 't::c')]
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from compat.suiterun.run import SuiteRun, existing_paths, run_suite
from compat.tools.children import OFFLINE_ENV

__all__ = ["compare_suites", "default_env", "run_suites"]


def run_suites(python: str, paths: list[str], scratch: Path, *, name: str, env: dict[str, str], cwd: Path,
               timeout: float, log: Path, cpu_only: bool = False) -> dict[str, Any]:
    """Run the suites with the shared runner (:mod:`compat.suiterun`), exactly as a matrix cell does.

    ``scratch``: the gate run's private folder; ``name`` names this side's files there.
    ``cpu_only``: a CUDA torch is ``error:install`` (a CPU gate's built sides are already checked
    at build, so the gate passes False). Returns ``{"status": <matrix cell status>, "message",
    "tests": {id: {"outcome", "message"}}, ...}``; ``not-run`` when none of ``paths`` exists.
    """
    existing = existing_paths(cwd, paths)
    if not existing:
        return {"status": "not-run", "message": f"no suite directory exists ({', '.join(paths)})", "tests": {}}
    pythonpath = tuple(p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p)
    outcome = run_suite(SuiteRun(python=python, paths=existing, root=cwd, scratch=scratch, name=name, log=log,
                                 timeout=timeout, environ=env, pythonpath=pythonpath, cpu_only=cpu_only))
    cls = outcome.judged()
    return {"status": cls.status.value, "message": cls.message, "seconds": round(outcome.seconds, 1),
            "log": str(log), "missing_paths": sorted(set(paths) - set(existing)),
            "tests": {t.nodeid: {"outcome": t.outcome.value, "message": t.message[:500]} for t in outcome.tests}}


def _severity(message: str) -> str:
    head = message.strip().split("\n")[0]
    if head.startswith(("AssertionError", "assert ")) or "AssertionError" in head.split(":")[0]:
        return "changed"
    return "broken"


def compare_suites(baseline: dict[str, dict], candidate: dict[str, dict]) -> list[dict[str, Any]]:
    """Findings for tests that passed on the baseline and did not pass on the candidate."""
    findings = []
    for test_id, base in sorted(baseline.items()):
        if base["outcome"] != "passed":
            continue
        cand = candidate.get(test_id)
        if cand is None:
            findings.append({"severity": "broken", "kind": "suite", "where": test_id,
                             "detail": "passed on the baseline; not run on the candidate (collection error?)"})
        elif cand["outcome"] in ("failed", "error"):
            severity = "broken" if cand["outcome"] == "error" else _severity(cand.get("message", ""))
            findings.append({"severity": severity, "kind": "suite", "where": test_id,
                             "detail": f"passed on the baseline; {cand['outcome']} on the candidate: "
                                       f"{cand.get('message', '')[:300]}"})
    return findings


def default_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """Offline (:data:`compat.tools.children.OFFLINE_ENV`), deterministic settings every in-env
    process of the gate runs with."""
    env = dict(os.environ if base is None else base)
    env.update(OFFLINE_ENV, HF_HUB_DISABLE_PROGRESS_BARS="1", TRANSFORMERS_NO_ADVISORY_WARNINGS="1",
               CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1")
    return env
