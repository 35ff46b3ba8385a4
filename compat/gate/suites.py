"""Run the equivalence suites in one side's environment and compare outcomes (torch-free).

The suites run exactly as in a matrix cell (``-p compat.matrix.probe``, JUnit
XML) and are parsed and classified by :mod:`compat.matrix.results`, so a gate
side and a matrix cell give the same status for the same environment. :func:`compare_suites` turns
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

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from compat.tools.children import OFFLINE_ENV, spawn_options

__all__ = ["compare_suites", "default_env", "run_suites"]


def run_suites(python: str, paths: list[str], junit: Path, *, env: dict[str, str], cwd: Path,
               timeout: float, log: Path) -> dict[str, Any]:
    """Run the suites as a matrix cell does (import probe, JUnit XML) and classify with the matrix's rules.

    Returns ``{"status": <matrix cell status>, "message", "tests": {id: {"outcome", "message"}}, ...}``.
    """
    from compat.matrix.results import PROBE_EXIT, classify, parse_junit

    existing = [p for p in paths if (cwd / p).exists()]
    if not existing:
        return {"status": "not-run", "message": f"no suite directory exists ({', '.join(paths)})", "tests": {}}
    probe_out = junit.with_suffix(".probe.json")
    junit.unlink(missing_ok=True)
    probe_out.unlink(missing_ok=True)
    basetemp = junit.with_suffix(".tmp")  # the caller's private run folder: never shared with another run
    cmd = [python, "-m", "pytest", "-p", "compat.matrix.probe", "-p", "no:cacheprovider", "-q", "-rs",
           "-o", "junit_family=xunit1", f"--junitxml={junit}", f"--basetemp={basetemp}", *existing]
    pythonpath = os.pathsep.join(p for p in (str(cwd), env.get("PYTHONPATH", "")) if p)
    run_env = {**env, "PCC_PROBE_OUT": str(probe_out), "PYTHONPATH": pythonpath}
    started = time.perf_counter()
    rc: int | None
    try:
        with open(log, "w", encoding="utf-8") as fh:
            rc = subprocess.run(cmd, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT, timeout=timeout,
                                check=False, **spawn_options(run_env)).returncode
    except subprocess.TimeoutExpired:
        rc = None
    seconds = round(time.perf_counter() - started, 1)
    tests = parse_junit(junit) if junit.is_file() else []
    if rc is None:
        cls = classify(pytest_rc=None, tests=tests, error="error:timeout",
                       error_message=f"no result within {timeout:g} s")
    elif rc == PROBE_EXIT:
        probe = json.loads(probe_out.read_text()) if probe_out.is_file() else {}
        err = probe.get("error") or {}
        cls = classify(pytest_rc=rc, tests=[], error="error:import",
                       error_message=f"import of {err.get('stage', '?')} failed: "
                                     f"{err.get('message', 'no probe output')}")
    else:
        cls = classify(pytest_rc=rc, tests=tests, junit_missing=not junit.is_file())
    return {"status": cls.status, "message": cls.message, "seconds": seconds, "log": str(log),
            "missing_paths": sorted(set(paths) - set(existing)),
            "tests": {t.nodeid: {"outcome": t.outcome, "message": t.message[:500]} for t in tests}}


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
