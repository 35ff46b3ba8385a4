"""benchmarks/mutation.py: how kills are merged across versions (no mutmut run: synthetic statuses)."""

from __future__ import annotations

import argparse
import importlib.util
import sys

import pytest

from compat.toolchain import PROJECT_ROOT

pytestmark = pytest.mark.tooling


def _driver():
    spec = importlib.util.spec_from_file_location("mutation_driver", PROJECT_ROOT / "benchmarks" / "mutation.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


M = _driver()
OLD, NEW = M.Pair("4.35.2", "0.13.2"), M.Pair("5.23.0", "0.21.2")


def _run(pair, statuses, module="compat/convert.py"):
    mutants = {name: {"module": module, "status": status, "diff": None if status == "killed" else f"diff of {name}"}
               for name, status in statuses.items()}
    return M.VersionRun(pair, 1.0, mutants, {})


def test_a_mutant_killed_on_any_version_counts_as_killed():
    old = _run(OLD, {"m.x_f__mutmut_1": "killed", "m.x_f__mutmut_2": "survived", "m.x_f__mutmut_3": "no tests"})
    # --cascade: the newer version was given only what the older one left alive
    new = _run(NEW, {"m.x_f__mutmut_1": "not checked", "m.x_f__mutmut_2": "survived", "m.x_f__mutmut_3": "killed"})
    merged = M.merge([old, new])
    row = merged["scores"]["compat/convert.py"]
    assert row[OLD.key] == {"killed": 1, "total": 3, "percent": 33.3}
    assert row[NEW.key] == {"killed": 1, "total": 2, "percent": 50.0}  # of the mutants it was given
    assert row["merged"] == {"killed": 2, "total": 3, "percent": 66.7}
    assert merged["scores"]["all"]["merged"] == row["merged"]
    assert merged["survivors"] == {"m.x_f__mutmut_2": {
        "module": "compat/convert.py", "status": {OLD.key: "survived", NEW.key: "survived"},
        "diff": "diff of m.x_f__mutmut_2"}}


def test_timeouts_count_as_detected():
    merged = M.merge([_run(OLD, {"m.x_f__mutmut_1": "timeout", "m.x_f__mutmut_2": "suspicious"})])
    assert merged["scores"]["all"]["merged"]["killed"] == 1 and list(merged["survivors"]) == ["m.x_f__mutmut_2"]


def test_versions_with_different_mutants_are_refused():
    with pytest.raises(SystemExit, match=r"made different mutants \(e\.g\. m\.x_f__mutmut_2\)"):
        M.merge([_run(OLD, {"m.x_f__mutmut_1": "killed"}),
                 _run(NEW, {"m.x_f__mutmut_1": "killed", "m.x_f__mutmut_2": "survived"})])


@pytest.mark.parametrize("text", [pytest.param("5.23.0", id="no-colon"), pytest.param(":0.21.2", id="no-tf"),
                                  pytest.param("5.23.0:", id="no-peft")])
def test_bad_pair_is_named(text):
    with pytest.raises(argparse.ArgumentTypeError, match=r"expected TRANSFORMERS:PEFT, e\.g\. 5\.23\.0:0\.21\.2"):
        M.parse_pair(text)
