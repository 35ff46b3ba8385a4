"""Statuses from synthetic JUnit XML and exit codes: skips are never passes, nothing ran is an error."""

from __future__ import annotations

import pytest

from compat.suiterun.outcomes import PROBE_EXIT, TestResult, classify, counts, parse_junit_text

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest">
<testcase classname="tests.equivalence.test_logits" name="test_logits[llama-prefix-forward]"
  file="tests/equivalence/test_logits.py" time="0.25">
  <properties><property name="max_abs_diff" value="1.5e-07"/><property name="tolerance" value="1e-05"/>
  <property name="path" value="cache"/></properties>
</testcase>
<testcase classname="tests.equivalence.test_logits" name="test_logits[t5-prefix_proj-generate-beam]"
  file="tests/equivalence/test_logits.py" time="0.5">
  <failure message="AttributeError: 'DynamicCache' object has no attribute 'key_cache'">trace</failure>
</testcase>
<testcase classname="tests.equivalence.test_logits" name="test_logits[gpt2-prompt-tuple]"
  file="tests/equivalence/test_logits.py" time="0.0">
  <skipped type="pytest.skip" message="not-applicable: legacy tuples were removed in transformers 5.0">s</skipped>
</testcase>
<testcase classname="tests.shim.test_convert.TestRoundTrip" name="test_round_trip"
  file="tests/shim/test_convert.py" time="0.1">
  <skipped type="pytest.skip" message="flaky on CI">s</skipped>
</testcase>
<testcase classname="tests.shim.test_convert" name="test_errors" file="tests/shim/test_convert.py" time="0.1">
  <error message="failed on setup with &quot;fixture 'x' not found&quot;">e</error>
</testcase>
</testsuite></testsuites>"""


@pytest.fixture
def tests():
    return parse_junit_text(JUNIT)


def test_parse_ids_outcomes_and_properties(tests):
    by_id = {t.nodeid: t for t in tests}
    ok = by_id["tests/equivalence/test_logits.py::test_logits[llama-prefix-forward]"]
    assert ok.outcome == "passed" and ok.properties["max_abs_diff"] == pytest.approx(1.5e-7)
    assert ok.properties["path"] == "cache"
    assert (ok.family, ok.method, ok.check) == ("llama", "prefix", "forward")
    bad = by_id["tests/equivalence/test_logits.py::test_logits[t5-prefix_proj-generate-beam]"]
    assert (bad.family, bad.method, bad.check) == ("t5", "prefix_proj", "generate-beam")
    assert bad.outcome == "failed" and "key_cache" in bad.message
    assert by_id["tests/equivalence/test_logits.py::test_logits[gpt2-prompt-tuple]"].outcome == "na"
    assert by_id["tests/shim/test_convert.py::TestRoundTrip::test_round_trip"].outcome == "skipped"
    assert by_id["tests/shim/test_convert.py::test_errors"].outcome == "error"


def test_counts_never_count_skips_as_run(tests):
    c = counts(tests)
    assert (c["passed"], c["failed"], c["error"], c["na"], c["skipped"], c["ran"], c["total"]) == (1, 1, 1, 1, 1, 3, 5)


@pytest.mark.parametrize(
    ("rc", "junit", "status"),
    [
        pytest.param(0, [TestResult("a", "passed")], "pass", id="pass"),
        pytest.param(1, [TestResult("a", "passed"), TestResult("b", "failed", "boom")], "fail", id="fail"),
        pytest.param(1, [TestResult("a", "error", "setup")], "fail", id="setup-error-is-failure"),
        pytest.param(5, [], "error:no-tests", id="nothing-collected"),
        pytest.param(0, [TestResult("a", "na", "not-applicable: x")], "error:no-tests", id="only-na"),
        pytest.param(0, [TestResult("a", "skipped", "x")], "error:no-tests", id="only-skips"),
        pytest.param(2, [TestResult("a", "passed")], "error:crash", id="interrupted"),
        pytest.param(3, [], "error:crash", id="internal-error"),
        pytest.param(4, [], "error:crash", id="usage-error"),
        pytest.param(-9, [], "error:crash", id="killed"),
        pytest.param(1, [TestResult("a", "passed")], "error:crash", id="rc1-without-failures"),
        pytest.param(0, [TestResult("a", "failed")], "error:crash", id="rc0-with-failures-is-inconsistent"),
        pytest.param(PROBE_EXIT, [], "error:crash", id="probe-exit-without-probe-file"),
    ],
)
def test_status_from_exit_code_and_junit(rc, junit, status):
    assert classify(pytest_rc=rc, tests=junit).status == status


def test_failures_are_listed_in_the_message(tests):
    cls = classify(pytest_rc=1, tests=tests)
    assert cls.status == "fail" and cls.unexpected and "2 of 3" in cls.message


def test_missing_junit_is_a_crash():
    assert classify(pytest_rc=0, tests=[], junit_missing=True).status == "error:crash"


@pytest.mark.parametrize("error", ["error:install", "error:import", "error:timeout"])
def test_errors_found_outside_pytest(error):
    cls = classify(pytest_rc=None, tests=[], error=error, error_message="why")
    assert (cls.status, cls.message, cls.unexpected) == (error, "why", True)


FAILED_T5 = [TestResult("t.py::test[llama-prefix-forward]", "passed"),
             TestResult("t.py::test[t5-prefix-generate]", "failed", "key_cache")]


@pytest.mark.parametrize(
    ("rc", "junit", "expect", "globs", "status", "unexpected"),
    [
        pytest.param(1, FAILED_T5, "fail", (), "xfail", False, id="declared-fail-fails"),
        pytest.param(1, FAILED_T5, "fail", ("*t5-*",), "xfail", False, id="declared-tests-fail"),
        pytest.param(1, FAILED_T5, "fail", ("*bart-*",), "fail", True, id="undeclared-test-fails"),
        pytest.param(1, FAILED_T5, "fail", ("*t5-*", "*bart-*"), "xpass", False, id="declared-test-now-passes"),
        pytest.param(0, FAILED_T5[:1], "fail", (), "xpass", False, id="declared-fail-passes"),
        pytest.param(3, [], "fail", (), "error:crash", True, id="declared-fail-crashes"),
    ],
)
def test_declared_expectations(rc, junit, expect, globs, status, unexpected):
    cls = classify(pytest_rc=rc, tests=junit, expect=expect, expect_tests=globs)
    assert (cls.status, cls.unexpected) == (status, unexpected)


def test_declared_import_error():
    cls = classify(pytest_rc=None, tests=[], error="error:import", expect="error:import")
    assert (cls.status, cls.unexpected) == ("xfail", False)
    assert classify(pytest_rc=None, tests=[], error="error:install", expect="error:import").unexpected
