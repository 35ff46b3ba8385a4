"""benchmarks/bench_matrix.py floor: the tests' own time of a finished run against its processes."""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest

from compat.toolchain import PROJECT_ROOT

pytestmark = pytest.mark.tooling


def _bench():
    spec = importlib.util.spec_from_file_location("bench_matrix", PROJECT_ROOT / "benchmarks" / "bench_matrix.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


B = _bench()


def _cell(folder, name: str, pytest_s: float, times: dict[str, list[float]]) -> None:
    cases = "".join(f'<testcase classname="tests.equivalence.{module}" name="{test}[p{i}]" time="{t}"/>'
                    for (module, test), ts in ((tuple(k.split("::")), v) for k, v in times.items())
                    for i, t in enumerate(ts))
    (folder / f"{name}.json").write_text(json.dumps({"durations": {"pytest": pytest_s}}))
    (folder / f"{name}.junit.xml").write_text(f'<testsuites><testsuite name="pytest">{cases}</testsuite></testsuites>')


def test_the_floor_is_the_tests_own_time_over_the_cores(tmp_path, capsys):
    cells = tmp_path / "cells"
    cells.mkdir()
    _cell(cells, "a", 30.0, {"test_generation::test_greedy": [4.0, 6.0], "test_invariance::test_batch": [2.0]})
    _cell(cells, "b", 20.0, {"test_generation::test_greedy": [8.0]})
    B.bench_floor(str(tmp_path), cores=2, baseline="0:45", top=5)
    out = capsys.readouterr().out
    # 20 s of tests in 50 s of processes: 30 s (60 %) elsewhere; 20 s over 2 cores is 10 s
    assert "| 2 | 4 | 20 s | 50 s | 30 s (60%) | **0 min 10 s** |" in out
    assert ("(one third: 0 min 15 s), a speed-up that keeps this run's checks and their work could reach "
            "at most 4.50x") in out
    assert "| `test_generation.py::test_greedy` | 18.0 s | 90.0% |" in out
    assert "| `test_invariance.py::test_batch` | 2.0 s | 10.0% |" in out


def test_a_cell_that_cannot_be_read_is_an_error_not_left_out(tmp_path):
    cells = tmp_path / "cells"
    cells.mkdir()
    _cell(cells, "a", 30.0, {"test_generation::test_greedy": [4.0]})
    (cells / "b.json").write_text(json.dumps({"durations": {"pytest": 1.0}}))  # no JUnit XML
    with pytest.raises(SystemExit) as info:
        B.bench_floor(str(tmp_path), cores=2, baseline=None, top=5)
    assert str(info.value).startswith("b.json: cannot read the cell's result or its JUnit XML (")


def test_a_folder_without_cells_is_an_error(tmp_path):
    with pytest.raises(SystemExit) as info:
        B.bench_floor(str(tmp_path), cores=2, baseline=None, top=5)
    assert str(info.value) == (f"{tmp_path / 'cells'}: no cell results (expected <cell>.json and <cell>.junit.xml "
                               "from a matrix run)")
