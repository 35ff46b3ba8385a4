"""The matrix, the gate and the census classify the same outcomes identically (one runner).

A fake suite (no torch) produces each kind of outcome -- pass, fail, a setup error, only
not-applicable skips, a pytest xfail, a failure a known issue explains, an import the probe
refuses, a pytest that dies without JUnit XML, a time limit -- and the same outcomes go through:

* the matrix: :func:`compat.matrix.runner.run_cells` (a cell per scenario, in a fake environment);
* the gate: :func:`compat.gate.suites.run_suites` (one side per scenario);
* the census: its checks built from the JUnit XML the matrix published (each test one
  architecture), judged by the census's own judge and classified by
  :func:`compat.census.outcomes.classification`; an import failure through
  :func:`compat.census.run.check_imports`.

The gate takes no declarations (it compares two sides), so it is compared on the raw
classification; the matrix and the census, which both judge against known issues, on the judged one.
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from compat.census import judge as census_judge
from compat.census import outcomes as census_outcomes
from compat.census import run as census_run
from compat.census.results import ArchResult, CheckResult, MethodResult, Status
from compat.envs import Env
from compat.gate.suites import default_env, run_suites
from compat.matrix import runner as matrix_runner
from compat.matrix.config import load_matrix_text
from compat.matrix.store import cell_paths
from compat.suiterun.outcomes import NA_PREFIX, Outcome, TestResult, parse_junit

SUITE = '''
import os
import pytest

SCENARIO = os.environ["PCC_MATRIX_CELL"]


@pytest.fixture
def broken_setup():
    raise RuntimeError("setup raised")


def test_numbers():
    if SCENARIO == "crash":
        os._exit(3)  # pytest dies before it writes its JUnit XML
    if SCENARIO == "timeout":
        import time
        time.sleep(60)
    if SCENARIO == "na-only":
        pytest.skip("not-applicable: this stack has no such path")
    assert SCENARIO != "fail", "logits: not close"


def test_not_applicable():
    pytest.skip("not-applicable: this stack has no such path")


@pytest.mark.skipif(SCENARIO not in ("error",), reason="not-applicable: only the error scenario")
def test_setup(broken_setup):
    pass


@pytest.mark.skipif(SCENARIO not in ("xfail-marker",), reason="not-applicable: only the xfail scenario")
@pytest.mark.xfail(reason="a declared pytest xfail", strict=True)
def test_marked():
    assert False


@pytest.mark.skipif(SCENARIO not in ("known", "known-stale"), reason="not-applicable: only the known scenarios")
def test_known():
    assert SCENARIO == "known-stale", "flaky upstream cache layout"
'''

FAKE_STACK = '''
import os
if os.environ.get("PCC_MATRIX_CELL") == "import":
    raise ImportError("fakestack does not import in this environment")
__version__ = "1.0"
'''

#: scenario -> (peft version of its cell, expected raw status, expected judged status)
SCENARIOS = {
    "pass": ("0.13.2", "pass", "pass"),
    "fail": ("0.13.2", "fail", "fail"),
    "error": ("0.13.2", "fail", "fail"),
    "na-only": ("0.13.2", "error:no-tests", "error:no-tests"),
    "xfail-marker": ("0.13.2", "pass", "pass"),
    "known": ("0.14.0", "fail", "xfail"),  # the known issue's range: peft 0.14.0 only
    "known-stale": ("0.14.0", "pass", "xpass"),  # in range, but it did not reproduce
    "import": ("0.13.2", "error:import", "error:import"),
    "crash": ("0.13.2", "error:crash", "error:crash"),
    "timeout": ("0.13.2", "error:timeout", "error:timeout"),
}

KNOWN = '''
[[known]]
id = "upstream-1"
reason = "stands for an upstream issue"
tests = ["*test_known*"]
peft = "==0.14.0"
match = "flaky upstream"
'''

#: what has no counterpart among a census's checks (the census builds models; it runs no pytest)
NOT_CENSUS = {"crash": "a census check cannot outlive its pytest", "timeout": "the census caps time per architecture",
              "xfail-marker": "a census check has no pytest xfail marker"}


def _matrix_toml() -> str:
    cells = "".join(f'[[cells]]\nname = "{name}"\ntransformers = "4.{40 + i}.0"\npeft = "{peft}"\n'
                    for i, (name, (peft, _, _)) in enumerate(SCENARIOS.items()))
    return 'suite = ["tests"]\n' + cells + KNOWN


@pytest.fixture(scope="module")
def fake_repo(tmp_path_factory):
    root = tmp_path_factory.mktemp("one-runner") / "repo"
    (root / "tests").mkdir(parents=True)
    (root / "tests" / "test_scenario.py").write_text(SUITE)
    (root / "fakestack.py").write_text(FAKE_STACK)
    return root


@pytest.fixture(scope="module")
def matrix_results(fake_repo, tmp_path_factory):
    base = tmp_path_factory.mktemp("matrix")
    matrix = load_matrix_text(_matrix_toml(), "one-runner.toml")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PCC_PROBE_IMPORTS", "fakestack")
        mp.setattr(matrix_runner, "build_env", lambda spec, root_dir, **kw: Env(spec=spec, path=Path(sys.prefix)))
        opts = matrix_runner.RunOptions(out=base / "out", work=base / "work", jobs=4, timeout=4, root=fake_repo,
                                        quiet=True)
        results = matrix_runner.run_cells(matrix, list(matrix.cells), opts)
    return {r.name: r.to_json() for r in results}, opts, matrix


@pytest.fixture(scope="module")
def gate_results(fake_repo, tmp_path_factory):
    scratch = tmp_path_factory.mktemp("gate")

    def side(scenario: str):
        env = default_env({**os.environ, "PCC_PROBE_IMPORTS": "fakestack", "PCC_MATRIX_CELL": scenario})
        return run_suites(sys.executable, ["tests"], scratch, name=scenario, env=env, cwd=fake_repo,
                          timeout=4, log=scratch / f"{scenario}.log")

    with ThreadPoolExecutor(max_workers=4) as pool:  # as the matrix runs its cells: mostly process start-ups
        return dict(zip(SCENARIOS, pool.map(side, SCENARIOS)))


def _as_census(tests: list[TestResult], known: tuple, versions: tuple[str, str]) -> tuple[ArchResult, ...]:
    """The census's results for these outcomes: each test one architecture with one method (named
    after the test, so the known issue's glob covers both) and one check, judged by the census."""
    archs = []
    for t in tests:
        name = t.nodeid.split("::")[-1]
        if t.outcome is Outcome.ERROR:
            archs.append(ArchResult(name, name, "causal", "Fake", Status.NOT_BUILDABLE, t.message, 0, 0, 0))
            continue
        if t.outcome is Outcome.NA:
            method = MethodResult(name, Status.NOT_APPLICABLE, t.message.removeprefix(NA_PREFIX))
        else:
            check = CheckResult("c", Status.PASS if t.outcome is Outcome.PASSED else Status.FAIL, t.message)
            method = census_judge.method(name, MethodResult(name, check.status, "", (check,)), known, versions)
        archs.append(ArchResult(name, name, "causal", "Fake", census_judge.arch_status((method,)), "", 0, 0, 0,
                                (method,)))
    return tuple(archs)


def _census_status(scenario: str, matrix_results, monkeypatch, fake_repo) -> tuple[str, str]:
    """(raw, judged) status of the census path for ``scenario``."""
    _, opts, matrix = matrix_results
    if scenario == "import":
        monkeypatch.setenv("PCC_PROBE_IMPORTS", "fakestack")
        monkeypatch.setenv("PCC_MATRIX_CELL", scenario)
        monkeypatch.syspath_prepend(str(fake_repo))
        monkeypatch.delitem(sys.modules, "fakestack", raising=False)
        failed = census_run.check_imports()
        assert failed is not None
        return failed.status, failed.status
    cell = next(c for c in matrix.cells if c.name == scenario)
    versions = (cell.transformers, cell.peft)
    tests = parse_junit(cell_paths(opts.out, scenario)["junit"])
    archs = _as_census(tests, cell.known, versions)
    raw = census_outcomes.classification(archs)
    judged = census_outcomes.classification(archs, cell.known, versions)
    return raw.status, judged.status


@pytest.mark.parametrize("scenario", [pytest.param(s, id=s) for s in SCENARIOS])
def test_matrix_gate_and_census_classify_alike(scenario, matrix_results, gate_results, monkeypatch, fake_repo):
    _, raw_expected, judged_expected = SCENARIOS[scenario]
    cell = matrix_results[0][scenario]
    side = gate_results[scenario]
    assert (cell["raw"]["status"], cell["status"]) == (raw_expected, judged_expected), cell["message"]
    assert side.status == raw_expected, side.message
    assert side.message == cell["raw"]["message"]
    if scenario in NOT_CENSUS:
        return
    assert _census_status(scenario, matrix_results, monkeypatch, fake_repo) == (raw_expected, judged_expected)


def test_every_kind_of_outcome_is_exercised(matrix_results):
    """The scenarios cover every per-test outcome the runner reads but a plain skip and an xpass."""
    results = matrix_results[0]
    seen = {t["outcome"] for r in results.values() for t in r["tests"]}
    assert seen == {"passed", "failed", "error", "na", "xfailed"}, seen
    assert results["known"]["known"][0]["failures"] == 1
