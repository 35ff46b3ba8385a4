"""Run the equivalence suites in one side's environment and compare outcomes (torch-free).

A side's outcome is ``{test_id: "passed" | "failed" | "error" | "skipped"}``
plus the failure message of each failed test. :func:`compare_suites` turns
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
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

__all__ = ["compare_suites", "parse_junit", "run_suites"]


def _test_id(case: ET.Element) -> str:
    classname, name = case.get("classname", ""), case.get("name", "")
    parts = classname.split(".")
    # pytest's classname is "tests.equivalence.test_x" or "tests.equivalence.test_x.TestClass"
    for cut in range(len(parts), 0, -1):
        if parts[cut - 1].startswith("test_"):
            path = "/".join(parts[:cut]) + ".py"
            return "::".join([path, *parts[cut:], name])
    return f"{classname}::{name}"


def parse_junit(path: Path) -> dict[str, dict[str, Any]]:
    """``{test_id: {"outcome": ..., "message": ...}}`` from a pytest JUnit XML file."""
    results: dict[str, dict[str, Any]] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            node = case.find(tag)
            if node is not None:
                outcome = {"failure": "failed"}.get(tag, tag)
                message = (node.get("message") or node.text or "").strip()
                break
        results[_test_id(case)] = {"outcome": outcome, "message": message[:500]}
    return results


def run_suites(python: str, paths: list[str], junit: Path, *, env: dict[str, str], cwd: Path,
               timeout: float, log: Path) -> dict[str, Any]:
    """Run pytest on ``paths`` with ``python``; returns outcomes, or an ``error`` when it could not run."""
    existing = [p for p in paths if (cwd / p).exists()]
    missing = sorted(set(paths) - set(existing))
    if not existing:
        return {"status": "not-run", "reason": f"no suite directory exists ({', '.join(paths)})", "tests": {}}
    cmd = [python, "-m", "pytest", *existing, "-q", "-p", "no:cacheprovider", f"--junitxml={junit}",
           "-o", "addopts=-ra --strict-markers --import-mode=importlib"]
    started = time.perf_counter()
    try:
        with open(log, "w", encoding="utf-8") as fh:
            proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=fh, stderr=subprocess.STDOUT,
                                  timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"status": "error", "reason": f"suites did not finish within {timeout:.0f} s (log: {log})",
                "tests": {}, "seconds": round(time.perf_counter() - started, 1)}
    seconds = round(time.perf_counter() - started, 1)
    if not junit.is_file():
        tail = log.read_text(encoding="utf-8", errors="replace")[-800:]
        return {"status": "error", "reason": f"pytest exited {proc.returncode} without results: {tail}",
                "tests": {}, "seconds": seconds}
    tests = parse_junit(junit)
    status = "ran" if tests else "error"
    out = {"status": status, "returncode": proc.returncode, "tests": tests, "seconds": seconds,
           "missing_paths": missing, "log": str(log)}
    if not tests:
        out["reason"] = "pytest collected no tests"
    return out


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
    """Offline, deterministic settings every in-env process of the gate runs with."""
    env = dict(os.environ if base is None else base)
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false", HF_HUB_DISABLE_PROGRESS_BARS="1",
               TRANSFORMERS_NO_ADVISORY_WARNINGS="1", CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1")
    return env
