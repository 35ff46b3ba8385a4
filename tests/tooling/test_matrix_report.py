"""Merged reports from per-cell files produced anywhere (``report merge DIR...``)."""

from __future__ import annotations

import json
import re

import pytest

from compat.matrix.__main__ import main
from compat.matrix.store import CELL_SCHEMA, SCHEMA_VERSION, CellResult, write_cell_result
from compat.suiterun.outcomes import counts, parse_junit_text

JUNIT = """<testsuites><testsuite>
<testcase classname="tests.equivalence.test_gen" \
name="test_gen[t5-prefix-greedy]" file="tests/equivalence/test_gen.py">
{body}</testcase>
<testcase classname="tests.equivalence.test_gen" \
name="test_gen[llama-prompt-greedy]" file="tests/equivalence/test_gen.py">
<properties><property name="max_abs_diff" value="0.0"/></properties></testcase>
<testcase classname="tests.equivalence.test_gen" \
name="test_gen[llama-prefix-greedy]" file="tests/equivalence/test_gen.py"/>
<testcase classname="tests.equivalence.test_gen" \
name="test_gen[t5-prompt-greedy]" file="tests/equivalence/test_gen.py"/>
<testcase classname="tests.equivalence.test_gen" \
name="test_gen[gpt2-prompt-tuple]" file="tests/equivalence/test_gen.py">
<skipped type="pytest.skip" message="not-applicable: no tuples on 5.x">s</skipped></testcase>
</testsuite></testsuites>"""


def _cell(name, tf, peft, status, body="", finished="2026-01-01T00:00:00+00:00", expect=None):
    return CellResult.from_json(_cell_json(name, tf, peft, status, body, finished, expect))


def _cell_json(name, tf, peft, status, body="", finished="2026-01-01T00:00:00+00:00", expect=None):
    tests = parse_junit_text(JUNIT.format(body=body))
    return {
        "schema": CELL_SCHEMA, "schema_version": SCHEMA_VERSION,
        "cell": {"name": name, "transformers": tf, "peft": peft, "tags": [], "extra_pins": [],
                 "expect": expect, "reason": "peft#2123" if expect else "", "tests": []},
        "status": status, "message": "m", "expected": status == "xfail", "unexpected": status == "fail",
        "tests": [t.to_json() for t in tests], "counts": counts(tests), "durations": {"total": 3.0},
        "installed": {"transformers": tf, "peft": peft}, "freeze": [f"transformers=={tf}"],
        "probe": None, "finished": finished,
    }


@pytest.fixture
def artifacts(tmp_path):
    """Two CI artifact folders, one holding an older duplicate of a cell, plus a foreign JSON file."""
    a, b = tmp_path / "cell-a", tmp_path / "cell-b"
    write_cell_result(a, _cell("t5.23.0-p0.21.2", "5.23.0", "0.21.2", "pass"))
    write_cell_result(a, _cell("t4.56.2-p0.17.1", "4.56.2", "0.17.1", "pass", finished="2025-01-01T00:00:00+00:00"))
    failure = '<failure message="AttributeError: no key_cache">tb</failure>'
    write_cell_result(b, _cell("t4.56.2-p0.17.1", "4.56.2", "0.17.1", "fail", body=failure))
    (b / "other.json").write_text('{"not": "a cell"}')
    return tmp_path


def test_merge_from_several_folders(artifacts, tmp_path):
    out = tmp_path / "merged"
    rc = main(["report", "merge", str(artifacts / "cell-a"), str(artifacts / "cell-b"), "--out", str(out)])
    assert rc == 1  # an undeclared failure fails the merge too
    doc = json.loads((out / "matrix.json").read_text())
    assert [c["cell"]["name"] for c in doc["cells"]] == ["t4.56.2-p0.17.1", "t5.23.0-p0.21.2"]
    assert doc["cells"][0]["status"] == "fail"  # the later-finished duplicate wins
    assert doc["summary"] == {"cells": 2, "statuses": {"fail": 1, "pass": 1},
                              "failing_cells": ["t4.56.2-p0.17.1"], "ok": False}

    md = (out / "matrix.md").read_text()
    assert "| `t4.56.2-p0.17.1` | 4.56.2 | 0.17.1 | ❌ fail | 3 | 1 | 1 |" in md
    assert "tests/equivalence/test_gen.py::test_gen[t5-prefix-greedy]" in md
    assert "not-applicable: no tuples on 5.x | 2 |" in md


def test_html_is_self_contained_with_heatmap_and_click_through(artifacts, tmp_path):
    out = tmp_path / "merged"
    main(["report", "merge", str(artifacts), "--out", str(out)])
    page = (out / "matrix.html").read_text()
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", page)
    assert "t5/prefix" in page and "llama/prompt" in page  # heatmap columns: family/method
    assert 'href="#t4.56.2-p0.17.1--' in page and 'id="t4.56.2-p0.17.1--' in page  # click-through
    assert 'class="h fail"' in page and "AttributeError: no key_cache" in page
    assert "transformers==4.56.2" in page  # freeze list / installed versions


def test_merge_of_nothing_is_an_error(tmp_path, capsys):
    assert main(["report", "merge", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "no cell results" in capsys.readouterr().err


def test_a_cell_named_matrix_is_merged(tmp_path, capsys):
    """Cells are told from merged reports by their schema, not by their file name."""
    write_cell_result(tmp_path / "a", _cell("matrix", "5.23.0", "0.21.2", "pass"))
    write_cell_result(tmp_path / "a", _cell("t4.56.2-p0.17.1", "4.56.2", "0.17.1", "pass"))
    out = tmp_path / "a"  # merging a reports folder into itself: its own matrix.json is read back next time
    assert main(["report", "merge", str(tmp_path / "a"), "--out", str(out)]) == 0
    assert main(["report", "merge", str(tmp_path / "a"), "--out", str(out)]) == 0
    doc = json.loads((out / "matrix.json").read_text())
    assert sorted(c["cell"]["name"] for c in doc["cells"]) == ["matrix", "t4.56.2-p0.17.1"]
    assert "merged 2 cells" in capsys.readouterr().err


def test_json_that_is_not_a_cell_result_is_named_not_merged(artifacts, tmp_path, capsys):
    assert main(["report", "merge", str(artifacts), "--out", str(tmp_path / "merged")]) == 1
    err = capsys.readouterr().err
    assert f"ignored 1 JSON file(s) that are not cell results: {artifacts / 'cell-b' / 'other.json'}" in err
