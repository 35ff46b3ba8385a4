"""The runner end to end on a fake suite (no torch): every status, resume, atomic results.

Cells run the interpreter running these tests (a fake environment) except the
"ghost" cell, which asks the real uv for transformers==9.9.9 and must end as
error:install while the others finish.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest

from compat.envs import Env
from compat.matrix import runner as runner_mod
from compat.matrix.__main__ import main
from compat.matrix.config import load_matrix_text
from compat.matrix.runner import RunOptions, run_cells
from compat.matrix.store import cell_paths, load_cell_result

FAKE_TEST = '''
import os, time
import pytest

CELL = os.environ["PCC_MATRIX_CELL"]

@pytest.mark.parametrize("case", ["llama-prefix-forward", "t5-prompt-generate"])
def test_case(case, record_property):
    record_property("max_abs_diff", 0.0)
    if CELL == "slow":
        time.sleep(60)
    assert CELL not in ("bad", "declared"), f"{case} broke in {CELL}"

def test_not_applicable_here():
    pytest.skip("not-applicable: the fake stack has no such path")
'''

FAKE_STACK = '''
import os
if os.environ.get("PCC_MATRIX_CELL") == "noimport":
    raise ImportError("fakestack does not import in this cell")
__version__ = "1.0"
'''

MATRIX = """
suite = ["tests"]
[[cells]]
name = "good"
transformers = "4.46.3"
peft = "0.14.0"
[[cells]]
name = "bad"
transformers = "4.46.3"
peft = "0.13.2"
[[cells]]
name = "declared"
transformers = "4.45.1"
peft = "0.13.2"
expect = "fail"
reason = "stands for peft#2123"
[[cells]]
name = "ghost"
transformers = "9.9.9"
peft = "0.21.2"
[[cells]]
name = "noimport"
transformers = "4.36.2"
peft = "0.7.1"
[[cells]]
name = "slow"
transformers = "4.57.6"
peft = "0.18.1"
[[cells]]
name = "na"
transformers = "4.30.2"
peft = "0.5.0"
expect = "not-applicable"
reason = "stands for a pair that cannot exist"
"""


def _make_repo(base: Path, mp: pytest.MonkeyPatch):
    root = base / "repo"
    (root / "tests").mkdir(parents=True)
    (root / "tests" / "test_fake.py").write_text(FAKE_TEST)
    (root / "fakestack.py").write_text(FAKE_STACK)
    mp.setenv("PCC_PROBE_IMPORTS", "fakestack")
    real_build_env = runner_mod.build_env
    built = []

    def fake_build_env(spec, root_dir, **kwargs):
        built.append(spec.name)
        if spec.name == "ghost":  # the real uv, against a version that does not exist
            return real_build_env(spec, root_dir, **kwargs)
        return Env(spec=spec, path=Path(sys.prefix))

    mp.setattr(runner_mod, "build_env", fake_build_env)
    opts = RunOptions(out=base / "out", work=base / "work", jobs=2, timeout=8, root=root, quiet=True)
    return load_matrix_text(MATRIX, "fake.toml"), opts, built


@pytest.fixture
def fake_repo(tmp_path, monkeypatch):
    return _make_repo(tmp_path, monkeypatch)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """The whole fake matrix, run once for the module (about 10 s: the timeout cell waits 8 s)."""
    with pytest.MonkeyPatch.context() as mp:
        matrix, opts, built = _make_repo(tmp_path_factory.mktemp("full"), mp)
        results = run_cells(matrix, list(matrix.cells), opts)
        yield {r.name: r.to_json() for r in results}, matrix, opts, built


def test_every_cell_finishes_with_an_honest_status(finished):
    results, *_ = finished
    assert {n: r["status"] for n, r in results.items()} == {
        "good": "pass", "bad": "fail", "declared": "xfail", "ghost": "error:install",
        "noimport": "error:import", "slow": "error:timeout", "na": "not-applicable",
    }
    assert "transformers==9.9.9" in results["ghost"]["message"]
    assert "fakestack does not import" in results["noimport"]["message"]
    assert [t["outcome"] for t in results["bad"]["tests"]].count("failed") == 2
    assert "broke in bad" in results["bad"]["tests"][0]["message"]
    good = results["good"]
    assert good["counts"]["passed"] == 2 and good["counts"]["na"] == 1 and good["counts"]["ran"] == 2
    assert good["tests"][0]["properties"] == {"max_abs_diff": 0.0}
    assert good["freeze"] and good["installed"]["pytest"]
    assert good["suite_profile"] == "matrix" and "--tb=native" in good["command"]
    assert good["raw"]["status"] == "pass" and results["declared"]["raw"]["status"] == "fail"
    assert {r["unexpected"] for n, r in results.items() if n in ("declared", "na", "good")} == {False}


def test_results_are_on_disk(finished):
    results, _, opts, _ = finished
    for name in results:
        paths = cell_paths(opts.out, name)
        assert load_cell_result(paths["json"]).status == results[name]["status"]
    assert cell_paths(opts.out, "good")["junit"].is_file()
    assert not list((opts.out / "cells").glob(".*.tmp"))


def test_resume_skips_finished_cells(finished, monkeypatch):
    results, matrix, opts, _built = finished
    calls = []
    monkeypatch.setattr(runner_mod, "run_cell", lambda cell, *a: calls.append(cell.name))
    again = run_cells(matrix, list(matrix.cells), dataclasses.replace(opts, resume=True))
    assert calls == []
    assert [r.started for r in again] == [results[c.name]["started"] for c in matrix.cells]


def test_resume_after_an_interrupted_run(fake_repo):
    matrix, opts, built = fake_repo
    first = [c for c in matrix.cells if c.name in ("good", "na")]
    run_cells(matrix, first, opts)  # as if the run had been killed after these two
    (opts.out / "cells" / ".bad.json.123.tmp").write_text("{half")  # debris of a kill: ignored
    built.clear()
    opts.resume = True
    rest = [c for c in matrix.cells if c.name in ("good", "bad", "declared")]
    results = run_cells(matrix, rest, opts)
    assert built == ["bad", "declared"] or sorted(built) == ["bad", "declared"]
    assert [r.status for r in results] == ["pass", "fail", "xfail"]


def test_resume_reruns_a_cell_whose_definition_changed(fake_repo):
    matrix, opts, built = fake_repo
    good = [c for c in matrix.cells if c.name == "good"]
    run_cells(matrix, good, opts)
    changed = load_matrix_text(MATRIX.replace('name = "good"\n', 'name = "good"\nextra_pins = ["numpy"]\n'), "f")
    built.clear()
    opts.resume = True
    run_cells(changed, [c for c in changed.cells if c.name == "good"], opts)
    assert built == ["good"]


def test_cli_exit_code_and_reports(fake_repo, monkeypatch, tmp_path, capsys):
    _matrix, opts, _ = fake_repo
    path = tmp_path / "fake.toml"
    path.write_text(MATRIX)
    monkeypatch.setattr(runner_mod.RunOptions, "__init__", _with_root(RunOptions.__init__, opts.root))
    rc = main(["run", "--matrix", str(path), "--cells", "good,declared,na", "--out", str(opts.out),
               "--work", str(opts.work), "--jobs", "2"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "good" in out and "ETA" in out
    for name in ("matrix.json", "matrix.md", "matrix.html"):
        assert (opts.out / name).is_file()
    assert json.loads((opts.out / "matrix.json").read_text())["summary"]["ok"] is True
    rc = main(["run", "--matrix", str(path), "--cells", "bad", "--out", str(opts.out), "--work", str(opts.work)])
    assert rc == 1


def _with_root(init, root):
    def patched(self, *args, **kwargs):
        kwargs.setdefault("root", root)
        init(self, *args, **kwargs)

    return patched


def test_list_json_is_a_ci_fan_out(tmp_path, capsys):
    path = tmp_path / "fake.toml"
    path.write_text(MATRIX)
    assert main(["run", "--matrix", str(path), "--list", "--json"]) == 0
    cells = json.loads(capsys.readouterr().out)
    assert [c["name"] for c in cells][:2] == ["good", "bad"]
    assert cells[2]["expect"] == "fail"


def test_resume_reruns_cells_when_the_suite_changed(fake_repo):
    matrix, opts, built = fake_repo
    good = [c for c in matrix.cells if c.name == "good"]
    run_cells(matrix, good, opts)
    (opts.root / "tests" / "test_fake.py").write_text(FAKE_TEST + "\n# edited\n")
    built.clear()
    run_cells(matrix, good, dataclasses.replace(opts, resume=True))
    assert built == ["good"]


@pytest.mark.parametrize(
    "known, status",
    [
        pytest.param('tests = ["*[llama-prefix-*"]', "fail", id="covers_one_of_two_failures"),
        pytest.param('tests = ["*[llama-*", "*[t5-*"]', "xfail", id="covers_both_failures"),
        pytest.param('tests = ["*[bart-*"]', "fail", id="covers_neither"),
    ],
)
def test_resume_judges_a_finished_run_again_when_only_declarations_change(fake_repo, known, status):
    matrix, opts, built = fake_repo
    bad = [c for c in matrix.cells if c.name == "bad"]
    assert run_cells(matrix, bad, opts)[0].status == "fail"
    declared = MATRIX + f'[[known]]\nid = "fake-1"\ntransformers = "==4.46.3"\npeft = "<0.14"\nreason = "r"\n{known}\n'
    changed = load_matrix_text(declared, "f")
    built.clear()
    again = run_cells(changed, [c for c in changed.cells if c.name == "bad"], dataclasses.replace(opts, resume=True))
    assert built == []  # not rerun
    assert again[0].status == status
    assert again[0].raw.status == "fail"
    assert [k.id for k in again[0].known] == ["fake-1"]
    assert load_cell_result(cell_paths(opts.out, "bad")["json"]).status == status


def test_a_known_issue_that_does_not_reproduce_is_xpass(fake_repo):
    _matrix, opts, _ = fake_repo
    declared = MATRIX + '[[known]]\nid = "fixed-upstream"\npeft = "==0.14.0"\nreason = "r"\ntests = ["*"]\n'
    changed = load_matrix_text(declared, "f")
    result = run_cells(changed, [c for c in changed.cells if c.name == "good"], opts)[0]
    assert result.status == "xpass" and "fixed-upstream" in result.message
    assert result.known[0].failures == 0


def test_a_cell_runs_its_own_suite(fake_repo):
    """A cell with ``suite`` (here a path list; ``"census"`` names tests/census) runs that suite and
    records it; the other cells keep the matrix's."""
    _, opts, _ = fake_repo
    (opts.root / "other").mkdir()
    (opts.root / "other" / "test_other.py").write_text("def test_only_in_other():\n    assert True\n")
    matrix = load_matrix_text('suite = ["tests"]\n[[cells]]\nname = "good"\ntransformers = "4.46.3"\n'
                              'peft = "0.14.0"\n[[cells]]\nname = "own"\ntransformers = "5.23.0"\n'
                              'peft = "0.21.2"\nsuite = ["other"]\n', "fake.toml")
    results = {r.cell["name"]: r for r in run_cells(matrix, list(matrix.cells), opts)}
    assert results["own"].suite == ["other"] and results["good"].suite == ["tests"]
    ran = [t.nodeid.split("::")[-1] for t in results["own"].tests]
    assert ran == ["test_only_in_other"], results["own"].tests
    assert results["own"].status == "pass" and results["good"].status == "pass"


def _cells(matrix, *names):
    return [c for c in matrix.cells if c.name in names]


def test_incremental_reruns_only_cells_whose_inputs_changed(fake_repo, monkeypatch, tmp_path):
    matrix, opts, built = fake_repo
    opts.incremental = True
    first = {r.name: r for r in run_cells(matrix, _cells(matrix, "good", "bad", "noimport"), opts)}
    assert sorted(built) == ["bad", "good", "noimport"]
    stored = sorted(p.name.split("-")[0] for p in (opts.work / "store").glob("*.json"))
    assert stored == ["bad", "good"]  # error:import is retried, never stored
    built.clear()
    fresh = dataclasses.replace(opts, out=tmp_path / "other-reports")  # the store outlives a reports folder
    again = {r.name: r for r in run_cells(matrix, _cells(matrix, "good", "bad", "noimport"), fresh)}
    assert built == ["noimport"]
    for name in ("good", "bad"):
        assert again[name].status == first[name].status
        assert again[name].started == first[name].started  # the stored run, not a new one
        assert again[name].reused["key"] in again[name].reused["from"]
        assert load_cell_result(cell_paths(fresh.out, name)["json"]).reused == again[name].reused
    assert again["noimport"].reused is None
    from compat.matrix.report import markdown

    md = markdown(list(again.values()))
    assert f"reused: stored run `{again['good'].reused['key']}`" in md
    assert "2 of them reused from stored runs" in md
    # a changed input reruns the cell: the suite's content, then the environment the suite reads
    (opts.root / "tests" / "test_fake.py").write_text(FAKE_TEST + "\n# edited\n")
    built.clear()
    assert run_cells(matrix, _cells(matrix, "good"), fresh)[0].reused is None
    assert built == ["good"]
    monkeypatch.setenv("PCC_DTYPE", "bfloat16")
    built.clear()
    run_cells(matrix, _cells(matrix, "good"), fresh)
    assert built == ["good"]


def test_incremental_judges_a_stored_run_with_the_current_declarations(fake_repo, tmp_path):
    matrix, opts, built = fake_repo
    opts.incremental = True
    assert run_cells(matrix, _cells(matrix, "bad"), opts)[0].status == "fail"
    declared = MATRIX + '[[known]]\nid = "fake-1"\ntransformers = "==4.46.3"\npeft = "<0.14"\nreason = "r"\n' \
                        'tests = ["*[llama-*", "*[t5-*"]\n'
    changed = load_matrix_text(declared, "f")
    built.clear()
    again = run_cells(changed, _cells(changed, "bad"), dataclasses.replace(opts, out=tmp_path / "o"))[0]
    assert built == [] and again.status == "xfail" and again.reused


def test_incremental_reuses_nothing_with_fresh_envs_or_from_a_damaged_store_file(fake_repo):
    matrix, opts, built = fake_repo
    opts.incremental = True
    run_cells(matrix, _cells(matrix, "good"), opts)
    built.clear()
    result = run_cells(matrix, _cells(matrix, "good"), dataclasses.replace(opts, reuse_envs=False))[0]
    assert built == ["good"] and result.reused is None  # --fresh-envs: resolved and run anew
    (path,) = (opts.work / "store").glob("good-*.json")
    path.write_text("{half")
    built.clear()
    result = run_cells(matrix, _cells(matrix, "good"), opts)[0]
    assert built == ["good"] and result.reused is None
    assert load_cell_result(path).status == "pass"  # replaced by the new run
