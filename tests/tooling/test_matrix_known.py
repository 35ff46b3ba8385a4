"""Known upstream issues: validation with file and key, ranges, catalogues, and how they judge a cell."""

from __future__ import annotations

import pytest

from compat.matrix.config import MatrixError, load_matrix, load_matrix_text
from compat.matrix.known import KnownIssue
from compat.suiterun.outcomes import Classification, TestResult, judge

CELLS = """
[[cells]]
transformers = "4.48.0"
peft = "0.14.0"
[[cells]]
transformers = "4.57.0"
peft = "0.21.2"
"""
ISSUE = 'id = "peft-2452"\npeft = "<0.16"\ntests = ["*[gemma2-*"]\nreason = "4-D mask"\n'


def _load(known: str):
    return load_matrix_text(CELLS + "[[known]]\n" + known, "m.toml")


def test_an_issue_attaches_only_to_cells_in_its_range():
    cells = {c.name: c for c in _load(ISSUE).cells}
    assert [k.id for k in cells["t4.48.0-p0.14.0"].known] == ["peft-2452"]
    assert cells["t4.57.0-p0.21.2"].known == ()


@pytest.mark.parametrize(
    "known, message",
    [
        pytest.param(ISSUE + 'typo = 1\n', "m.toml: known[0].typo: unknown key", id="unknown_key"),
        pytest.param(ISSUE.replace('reason = "4-D mask"\n', ""), "known[0].reason: every known issue needs a reason",
                     id="no_reason"),
        pytest.param(ISSUE.replace('tests = ["*[gemma2-*"]\n', "tests = []\n"), "known[0].tests: expected a non-empty",
                     id="no_tests"),
        pytest.param(ISSUE.replace('peft = "<0.16"\n', ""), "known[0]: name transformers and/or peft", id="no_range"),
        pytest.param(ISSUE.replace('"<0.16"', '"<<0.16"'), "known[0].peft: malformed version specifier",
                     id="bad_range"),
        pytest.param(ISSUE.replace('"<0.16"', '"<0.5"'), "known[0]: known issue 'peft-2452' matches no cell",
                     id="matches_no_cell"),
        pytest.param(ISSUE + "[[known]]\n" + ISSUE, "known: peft-2452: duplicate known-issue id", id="duplicate_id"),
        pytest.param(ISSUE.replace('"peft-2452"', '"peft 2452"'), "known[0].id: expected an id", id="bad_id"),
        pytest.param(ISSUE + 'match = "(unclosed"\n', "known[0].match: not a valid regular expression", id="bad_match"),
        pytest.param(ISSUE + 'match = 3\n', "known[0].match: expected a regular expression", id="match_not_text"),
    ],
)
def test_a_malformed_issue_is_named_with_file_and_key(known, message):
    with pytest.raises(MatrixError, match=None) as info:
        _load(known)
    assert message in str(info.value)


def test_a_catalogue_file_is_shared_and_may_match_no_cell(tmp_path):
    (tmp_path / "known.toml").write_text("[[known]]\n" + ISSUE + "[[known]]\n" + ISSUE.replace(
        '"peft-2452"', '"old-only"').replace('"<0.16"', '"<0.6"'))
    (tmp_path / "m.toml").write_text('known_issues = ["known.toml"]\n' + CELLS)
    cells = {c.name: c for c in load_matrix(tmp_path / "m.toml").cells}
    assert [k.id for k in cells["t4.48.0-p0.14.0"].known] == ["peft-2452"]
    assert cells["t4.48.0-p0.14.0"].known[0].source == "known.toml"


@pytest.mark.parametrize(
    "catalogue, message",
    [
        pytest.param(None, "m.toml: known_issues: cannot read", id="missing_file"),
        pytest.param("[[cells]]\n", "known.toml: cells: unknown key", id="not_a_catalogue"),
        pytest.param("[[known]]\nid = 'x'\n", "known.toml: known[0].reason", id="bad_entry"),
    ],
)
def test_a_bad_catalogue_is_named(tmp_path, catalogue, message):
    if catalogue is not None:
        (tmp_path / "known.toml").write_text(catalogue)
    (tmp_path / "m.toml").write_text('known_issues = ["known.toml"]\n' + CELLS)
    with pytest.raises(MatrixError) as info:
        load_matrix(tmp_path / "m.toml")
    assert message in str(info.value)


GEMMA = TestResult("t.py::test_greedy[gemma2-prompt-greedy]", "failed", "RuntimeError")
T5 = TestResult("t.py::test_greedy[t5-prefix-greedy]", "failed", "AssertionError")
PASSED = TestResult("t.py::test_greedy[llama-prefix-greedy]", "passed")
MASK = KnownIssue("peft-2452", "4-D mask", ("*[gemma2-*",), peft="<0.16")
T5_ISSUE = KnownIssue("t5-cache-position", "P-long prefix at position 0", ("*[t5-prefix*",), peft="<0.19")


@pytest.mark.parametrize(
    "raw, tests, known, status",
    [
        pytest.param("fail", [GEMMA, PASSED], (MASK,), "xfail", id="all_failures_covered"),
        pytest.param("fail", [GEMMA, T5, PASSED], (MASK,), "fail", id="an_uncovered_failure"),
        pytest.param("fail", [GEMMA, T5], (MASK, T5_ISSUE), "xfail", id="two_issues_cover_all"),
        pytest.param("fail", [GEMMA], (MASK, T5_ISSUE), "xpass", id="one_issue_did_not_reproduce"),
        pytest.param("pass", [PASSED], (MASK,), "xpass", id="every_test_passed"),
        pytest.param("error:import", [], (MASK,), "error:import", id="errors_are_never_covered"),
        pytest.param("pass", [PASSED], (), "pass", id="no_declarations"),
    ],
)
def test_judge(raw, tests, known, status):
    result = judge(Classification(raw, "m"), tests, known=known)
    assert result.status == status
    assert result.raw_status == raw
    assert result.expected == (status == "xfail")


SIGNED = KnownIssue("peft-tf524-x", "prefix dropped", ("*[gemma2-*",), transformers=">=5.24",
                    match="prefix never reached the model")


@pytest.mark.parametrize(
    "message, properties, status",
    [
        pytest.param("AssertionError: tokens differ [PEFT generate: prefix never reached the model: ...]", {},
                     "xfail", id="signature_in_message"),
        pytest.param("RuntimeError: size mismatch", {"notes": "PEFT generate: prefix never reached the model"},
                     "xfail", id="signature_in_exception_notes"),
        pytest.param("AssertionError: tokens differ", {"warnings": "FutureWarning: prefix never reached the model"},
                     "xfail", id="signature_in_warnings"),
        pytest.param("IndexError: list index out of range", {"warnings": "UserWarning: unrelated"},
                     "fail", id="same_test_other_mechanism_stays_a_failure"),
    ],
)
def test_a_signed_issue_covers_only_failures_with_its_signature(message, properties, status):
    bad = [TestResult("t.py::test[gemma2-prefix-greedy]", "failed", message, properties=properties)]
    judged = judge(Classification("fail", "1 of 9 tests failed"), bad, known=(SIGNED,))
    assert judged.status == status
    assert judged.explained == {"t.py::test[gemma2-prefix-greedy]": ["peft-tf524-x"] if status == "xfail" else []}
