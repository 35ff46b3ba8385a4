"""Verdict logic and report writing on synthetic golden/candidate data (no torch)."""

from __future__ import annotations

import json

import pytest

from compat.gate.errors import GateError
from compat.gate.report import write_reports
from compat.gate.suites import compare_suites
from compat.gate.verdict import decide
from compat.suiterun.outcomes import TestResult

MANIFEST = {"cases": [{"id": "gpt2-prefix", "status": "recorded"}, {"id": "t5-prompt", "status": "recorded"},
                      {"id": "gemma2-prefix", "status": "error", "reason": "IndexError"}]}


def _same(case_id):
    return {"id": case_id, "status": "same", "outputs": [{"output": "g0.logits", "status": "same"}]}


LOGITS_CHANGED = {"id": "t5-prompt", "status": "changed", "outputs": [
    {"output": "g0.logits", "status": "changed", "kind": "float", "max_abs": 0.5, "max_rel": 0.1,
     "where": [0, 2, 7], "tolerance": "fp32 atol=1e-05 rtol=1e-05"},
    {"output": "g0.greedy", "status": "changed", "kind": "tokens", "first_step": 3, "row": 1,
     "golden_token": 11, "candidate_token": 42, "rows_differing": 1},
    {"output": "g0.beam", "status": "same"}]}
RAISED = {"id": "t5-prompt", "status": "error", "reason": "AttributeError: 'tuple' object has no attribute 'x'"}


@pytest.mark.parametrize("cases, verdict, code", [
    pytest.param([_same("gpt2-prefix"), _same("t5-prompt")], "same", 0, id="all-same"),
    pytest.param([_same("gpt2-prefix"), LOGITS_CHANGED], "changed", 1, id="numbers-changed"),
    pytest.param([_same("gpt2-prefix"), RAISED], "broken", 2, id="candidate-raises"),
    pytest.param([_same("gpt2-prefix")], "broken", 2, id="case-not-replayed"),
])
def test_replay_verdict(cases, verdict, code):
    out = decide(MANIFEST, {"cases": cases})
    assert (out["verdict"], out["exit_code"]) == (verdict, code)
    assert [c["id"] for c in out["not_compared"]] == ["gemma2-prefix"]


def test_changed_findings_say_where_and_how_much():
    findings = decide(MANIFEST, {"cases": [_same("gpt2-prefix"), LOGITS_CHANGED]})["findings"]
    by_where = {f["where"]: f["detail"] for f in findings}
    assert "max abs error 0.5" in by_where["t5-prompt g0.logits"] and "[0, 2, 7]" in by_where["t5-prompt g0.logits"]
    assert "first differing step 3" in by_where["t5-prompt g0.greedy"]
    assert "t5-prompt g0.beam" not in by_where


def test_replay_crash_is_broken():
    out = decide(MANIFEST, None, replay_crash="ImportError: cannot import name 'HybridCache'")
    assert out["verdict"] == "broken" and "HybridCache" in out["findings"][0]["detail"]


def test_no_golden_recorded_is_an_error_not_a_verdict():
    with pytest.raises(GateError, match="no usable golden"):
        decide({"cases": [{"id": "a", "status": "refused", "reason": "non-finite"}]}, {"cases": []})


@pytest.mark.parametrize("message, severity", [
    pytest.param("AssertionError: logits: not close (fp32 atol=1e-05)", "changed", id="assertion-changed"),
    pytest.param("AttributeError: 'DynamicCache' object has no attribute 'key_cache'", "broken", id="raise-broken"),
])
def test_suite_regressions(message, severity):
    base = {"t.py::test[gpt2-prefix-forward]": TestResult("t.py::test[gpt2-prefix-forward]", "passed")}
    cand = {"t.py::test[gpt2-prefix-forward]": TestResult("t.py::test[gpt2-prefix-forward]", "failed", message)}
    findings = compare_suites(base, cand)
    assert [(f["severity"], f["where"]) for f in findings] == [(severity, "t.py::test[gpt2-prefix-forward]")]
    out = decide(MANIFEST, {"cases": [_same("gpt2-prefix"), _same("t5-prompt")]}, suite_findings=findings)
    assert out["verdict"] == severity


def test_suite_tests_that_vanish_or_were_failing_already():
    base = {"a": TestResult("a", "passed"), "b": TestResult("b", "failed", "x")}
    cand = {"b": TestResult("b", "failed", "x")}
    assert [(f["severity"], f["where"]) for f in compare_suites(base, cand)] == [("broken", "a")]


@pytest.mark.parametrize("report, first_line", [
    pytest.param({"status": "verdict", "verdict": "changed", "exit_code": 1, "findings": []},
                 "## Upgrade gate: ⚠️ **changed** (exit 1)", id="verdict"),
    pytest.param({"status": "error", "verdict": "same", "error": "boom"}, "## Upgrade gate: ERROR (no verdict)",
                 id="error-drops-verdict"),
    pytest.param({"status": "running"}, "## Upgrade gate: RUNNING (no verdict yet)", id="running"),
])
def test_reports_are_written_atomically_and_say_what_they_are(tmp_path, report, first_line):
    json_path, md_path = write_reports(report, tmp_path)
    data = json.loads(json_path.read_text())
    assert data["status"] == report["status"]
    assert ("verdict" in data) == (report["status"] == "verdict")
    assert md_path.read_text().splitlines()[0] == first_line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gate.json", "gate.md"], "no temporary files left"
