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


# --------------------------------------------------------------------------- survivors' reasons

R = sys.modules["mutation_reasons"]  # imported by the driver from benchmarks/


def _reasons_folder(tmp_path, text, name="convert.toml"):
    (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def test_survivors_are_matched_to_their_reasons_and_the_rest_is_named(tmp_path):
    folder = _reasons_folder(tmp_path, """
[[survivor]]
mutants = ["compat.convert.x__build__mutmut_21", "compat.convert.x__build__mutmut_9"]
kind = "equivalent"
why = "every config sets it"

[[survivor]]
mutants = ["compat.convert.x__read_fixed__mutmut_30"]
kind = "unreachable"
why = "4.38-4.39 only"
""")
    survivors = ["compat.convert.x__build__mutmut_21", "compat.convert.x__read_fixed__mutmut_30",
                 "compat.convert.x__to_cache__mutmut_2"]
    got = R.classify(survivors, R.load(folder))
    assert got.unclassified == ("compat.convert.x__to_cache__mutmut_2",)
    assert got.stale == ("compat.convert.x__build__mutmut_9",)  # classified, but killed (or renamed)
    assert (got.count(R.Kind.EQUIVALENT), got.count(R.Kind.UNREACHABLE)) == (1, 1)
    table = "\n".join(R.render(got))
    assert "| `convert._build` | equivalent | 21 | every config sets it |" in table
    assert "| `convert._read_fixed` | unreachable | 30 | 4.38-4.39 only |" in table
    assert "**Unclassified survivors (1)**: `compat.convert.x__to_cache__mutmut_2`" in table
    assert "**Stale entries (1)** (classified, but killed or no longer made): `compat.convert.x__build__mutmut_9`" \
        in table


@pytest.mark.parametrize("text, message", [
    pytest.param('[[survivor]]\nmutants = []\nkind = "equivalent"\nwhy = "x"\n',
                 r"convert\.toml entry 1: expected `mutants` = a non-empty list", id="no-mutants"),
    pytest.param('[[survivor]]\nmutants = ["a"]\nkind = "gap"\nwhy = "x"\n',
                 r"convert\.toml entry 1: kind 'gap'; expected one of \['equivalent', 'unreachable'\]", id="bad-kind"),
    pytest.param('[[survivor]]\nmutants = ["a"]\nkind = "equivalent"\nwhy = " "\n',
                 r"convert\.toml entry 1: expected a non-empty `why`", id="no-why"),
    pytest.param('[[survivor]]\nmutants = ["a"]\nkind = "equivalent"\nwhy = "x"\n'
                 '[[survivor]]\nmutants = ["a"]\nkind = "unreachable"\nwhy = "y"\n',
                 r"a is classified twice \(convert\.toml, convert\.toml\)", id="twice"),
    pytest.param('[[survivor]\n', r"cannot read .*convert\.toml", id="not-toml"),
])
def test_a_bad_reasons_file_is_named(tmp_path, text, message):
    with pytest.raises(SystemExit, match=message):
        R.load(_reasons_folder(tmp_path, text))


def test_a_reasons_file_that_is_not_utf8_is_named(tmp_path):
    (tmp_path / "expect.toml").write_bytes(b"\xff\xfe[[survivor]]")
    with pytest.raises(SystemExit, match=r"cannot read .*expect\.toml"):
        R.load(tmp_path)
