"""pytest plugin for ``benchmarks/bench_suite.py profile``: where one cell's suite spends its time.

Loaded with ``-p benchmarks.suite_timing`` (the repository root on ``sys.path``). It writes JSON to
``$PCC_BENCH_TIMING`` at the end of the session: wall-clock marks (``$PCC_BENCH_T0``, the epoch time
the benchmark started the process, then plugin import, configure, collection start/end, first
test, session end, unconfigure) with the process CPU time at each, and, per test, the wall duration
of its setup, call and teardown phases, the CPU time of its whole protocol and the outcome. A
figure, never an assertion: nothing here changes what the suite checks.
"""

from __future__ import annotations

import json
import os
import time

import pytest

_MARKS: dict[str, float] = {"plugin": time.time()}
_CPU: dict[str, float] = {"plugin": time.process_time()}
_TESTS: dict[str, dict] = {}


def _mark(name: str) -> None:
    _MARKS[name] = time.time()
    _CPU[name] = time.process_time()


def pytest_configure(config: pytest.Config) -> None:
    _mark("configure")


def pytest_collection(session: pytest.Session) -> None:
    _mark("collect_start")


def pytest_collection_finish(session: pytest.Session) -> None:
    _mark("collect_end")
    _MARKS["collected"] = float(len(session.items))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    """CPU seconds of the whole protocol of one test (setup, call, teardown and their reporting):
    unlike the phases' wall durations, nearly independent of the machine's load."""
    if "first_test" not in _MARKS:
        _mark("first_test")
    cpu = time.process_time()
    try:
        return (yield)
    finally:
        _TESTS.setdefault(item.nodeid, _entry())["cpu"] = time.process_time() - cpu


def _entry() -> dict:
    return {"setup": 0.0, "call": 0.0, "teardown": 0.0, "cpu": 0.0, "outcome": "passed"}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    entry = _TESTS.setdefault(report.nodeid, _entry())
    entry[report.when] = report.duration
    if report.failed:
        entry["outcome"] = "failed"
    elif report.skipped and entry["outcome"] == "passed":
        entry["outcome"] = "skipped"


def pytest_sessionfinish(session: pytest.Session) -> None:
    _mark("session_end")


def pytest_unconfigure(config: pytest.Config) -> None:
    out = os.environ.get("PCC_BENCH_TIMING")
    if not out:
        return
    t0 = os.environ.get("PCC_BENCH_T0")
    if t0:
        _MARKS["process_start"] = float(t0)
    _mark("unconfigure")
    with open(out, "w", encoding="utf-8") as fh:
        json.dump({"marks": _MARKS, "cpu": _CPU, "tests": _TESTS}, fh)
