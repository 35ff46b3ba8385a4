"""Per-test outcomes from a JUnit XML file, and the status a suite run adds up to.

One classification for every tool that runs the suites (a matrix cell, a side of the gate, the
census's CI sample): :class:`Outcome` is what one test came to, :class:`Status` what a run came
to. Both are string enums, so they compare equal to, and serialise as, their values.

Statuses never lie: a skip is never a pass, a suite that ran nothing is an
error, and a declared expectation only turns a matching outcome into ``xfail``.

>>> tests = parse_junit_text(
...     '<testsuites><testsuite><testcase classname="tests.equivalence.test_logits" '
...     'name="test_logits[llama-prefix-forward]" time="0.5"/></testsuite></testsuites>')
>>> tests[0].family, tests[0].method, tests[0].check, tests[0].outcome
('llama', 'prefix', 'forward', 'passed')
>>> classify(pytest_rc=0, tests=tests).status
'pass'
>>> classify(pytest_rc=5, tests=[]).status
'error:no-tests'
"""

from __future__ import annotations

import dataclasses
import enum
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from compat.matrix.known import glob_match

__all__ = [
    "FAILING",
    "NA_PREFIX",
    "PROBE_EXIT",
    "STATUSES",
    "Classification",
    "Outcome",
    "Status",
    "TestResult",
    "classify",
    "counts",
    "explaining",
    "glob_match",
    "judge",
    "parse_junit",
    "parse_junit_text",
]


class _Named(str, enum.Enum):
    """A string enum that reads as its value: in ``str()``, f-strings and ``repr`` (``'pass'``)."""

    def __repr__(self) -> str:
        return repr(self.value)

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


class Outcome(_Named):
    """What one test came to, as read from the JUnit XML."""

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"  # raised in setup/collection, not an assertion of the test
    NA = "na"  # skipped with a "not-applicable: " reason: this version has no such path
    SKIPPED = "skipped"  # any other skip: never a pass
    XFAILED = "xfailed"
    XPASSED = "xpassed"


class Status(_Named):
    """What a run of the suites came to (a matrix cell, a gate side, the census sample)."""

    PASS = "pass"
    FAIL = "fail"
    XFAIL = "xfail"  # failed as declared
    XPASS = "xpass"  # declared to fail, but passed
    NOT_APPLICABLE = "not-applicable"  # declared: not run
    ERROR_INSTALL = "error:install"
    ERROR_IMPORT = "error:import"
    ERROR_TIMEOUT = "error:timeout"
    ERROR_CRASH = "error:crash"
    ERROR_NO_TESTS = "error:no-tests"


#: Every status a run can end with (their values).
STATUSES = tuple(s.value for s in Status)
#: Statuses that make ``run`` exit non-zero (``xpass`` only with ``--strict``).
FAILING = frozenset({Status.FAIL, Status.ERROR_INSTALL, Status.ERROR_IMPORT, Status.ERROR_TIMEOUT,
                     Status.ERROR_CRASH, Status.ERROR_NO_TESTS})
#: Skip reasons that mean "this version does not offer that path" start with this.
NA_PREFIX = "not-applicable: "
#: Exit code the probe plugin uses when transformers/peft/compat do not import.
PROBE_EXIT = 13

_PARAM_RE = re.compile(r"\[(?P<params>[^\]]+)\]$")


@dataclasses.dataclass
class TestResult:
    """One test case: its id, outcome (passed/failed/error/skipped/na/xfailed/xpassed), message, properties."""

    __test__ = False  # not a pytest test class

    nodeid: str
    outcome: Outcome
    message: str = ""
    duration: float = 0.0
    properties: dict[str, Any] = dataclasses.field(default_factory=dict)
    family: str = ""
    method: str = ""
    check: str = ""

    def __post_init__(self) -> None:
        self.outcome = Outcome(self.outcome)

    @property
    def group(self) -> str:
        """``family/method`` for parametrised ``family-method-check`` ids, else the module."""
        return f"{self.family}/{self.method}" if self.family else self.nodeid.split("::")[0]

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "outcome": self.outcome.value}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TestResult:
        return cls(**data)


def _nodeid(classname: str, name: str, file: str | None) -> str:
    """Rebuild pytest's node id from JUnit's dotted ``classname`` (and xunit1's ``file``)."""
    if file and file.endswith(".py"):
        dotted = file[:-3].replace("/", ".")
        if classname == dotted or classname.startswith(dotted + "."):
            rest = classname[len(dotted) + 1:]
            return "::".join([file, *(rest.split(".") if rest else []), name])
    parts = classname.split(".") if classname else []
    path_parts, class_parts = [], []
    for i, part in enumerate(parts):
        if part[:1].isupper() and i > 0:  # test classes are CamelCase, modules are not
            class_parts = parts[i:]
            break
        path_parts.append(part)
    module = "/".join(path_parts) + ".py" if path_parts else ""
    return "::".join([module, *class_parts, name])


def _split_id(name: str) -> tuple[str, str, str]:
    m = _PARAM_RE.search(name)
    if not m:
        return "", "", ""
    # The suites' ids are "family-method-check[-more]", each part spelt with underscores.
    parts = m.group("params").split("-")
    if len(parts) < 3:
        return "", "", ""
    return parts[0], parts[1], "-".join(parts[2:])


def parse_junit_text(text: str) -> list[TestResult]:
    """Parse JUnit XML written by pytest (``--junitxml``) into :class:`TestResult` s."""
    root = ET.fromstring(text)
    results = []
    for case in root.iter("testcase"):
        name = case.get("name", "")
        nodeid = _nodeid(case.get("classname", ""), name, case.get("file"))
        props: dict[str, Any] = {}
        for prop in case.iter("property"):
            value = prop.get("value", "")
            try:
                props[prop.get("name", "")] = float(value)
            except ValueError:
                props[prop.get("name", "")] = value
        outcome, message = Outcome.PASSED, ""
        for child in case:
            tag = child.tag
            text_msg = (child.get("message") or "").strip() or (child.text or "").strip()[:2000]
            if tag == "error" and child.text:  # "collection failure" says little: add the raised error
                raised = [ln[1:].strip() for ln in child.text.splitlines() if ln.startswith("E ")]
                if raised and raised[-1] not in text_msg:
                    text_msg = f"{text_msg}: {raised[-1]}"
            if tag == "failure":
                outcome, message = Outcome.FAILED, text_msg
            elif tag == "error":
                outcome, message = Outcome.ERROR, text_msg
            elif tag == "skipped":
                kind = child.get("type", "")
                if kind == "pytest.xfail":
                    outcome, message = Outcome.XFAILED, text_msg
                else:
                    outcome = Outcome.NA if text_msg.startswith(NA_PREFIX) else Outcome.SKIPPED
                    message = text_msg
        if outcome == Outcome.FAILED and message.startswith("[XPASS(strict)]"):
            outcome = Outcome.XPASSED
        family, method, check = _split_id(name)
        results.append(
            TestResult(
                nodeid=nodeid, outcome=outcome, message=message,
                duration=float(case.get("time") or 0.0), properties=props,
                family=family, method=method, check=check,
            )
        )
    return results


def parse_junit(path: str | Path) -> list[TestResult]:
    """:func:`parse_junit_text` on a file."""
    return parse_junit_text(Path(path).read_text(encoding="utf-8"))


def counts(tests: list[TestResult]) -> dict[str, int]:
    """Outcome counts; ``ran`` excludes skips (n/a or other), which are never passes."""
    out = dict.fromkeys(("passed", "failed", "error", "na", "skipped", "xfailed", "xpassed"), 0)
    for t in tests:
        out[t.outcome] = out.get(t.outcome, 0) + 1
    out["total"] = len(tests)
    out["ran"] = out["passed"] + out["failed"] + out["error"] + out["xfailed"] + out["xpassed"]
    return out


@dataclasses.dataclass
class Classification:
    """A cell's status, whether it was expected, and why."""

    status: Status
    message: str = ""
    expected: bool = False  # True when a declaration in the matrix file covers this outcome
    raw_status: str = ""  # the outcome before declarations were applied (set by judge)
    raw_message: str = ""
    known_outcomes: dict[str, int] = dataclasses.field(default_factory=dict)  # issue id -> failing tests it covers
    explained: dict[str, list[str]] = dataclasses.field(default_factory=dict)  # failing test -> issues explaining it

    def __post_init__(self) -> None:
        self.status = Status(self.status)

    @property
    def unexpected(self) -> bool:
        return self.status in FAILING and not self.expected


def _raw_status(pytest_rc: int | None, tests: list[TestResult], *, junit_missing: bool = False,
                junit_problem: str = "") -> Classification:
    crash = _crash(pytest_rc, tests, junit_missing=junit_missing, junit_problem=junit_problem)
    if crash:
        return Classification(Status.ERROR_CRASH, crash)
    c = counts(tests)
    if c["ran"] == 0:
        return Classification(Status.ERROR_NO_TESTS,
                              f"the suite ran zero tests ({c['na']} n/a, {c['skipped']} skipped)")
    bad = [t for t in tests if t.outcome in (Outcome.FAILED, Outcome.ERROR)]
    if pytest_rc == 1 and not bad:
        return Classification(Status.ERROR_CRASH, "pytest reported failures that are not in the JUnit XML")
    if bad and pytest_rc == 0:
        return Classification(Status.ERROR_CRASH, "pytest exited 0 but the JUnit XML has failures")
    if bad:
        return Classification(Status.FAIL, f"{len(bad)} of {c['ran']} tests failed")
    if pytest_rc != 0:
        return Classification(Status.ERROR_CRASH, f"pytest exit code {pytest_rc} with no failing test")
    return Classification(Status.PASS, f"{c['passed']} passed, {c['na']} n/a")


def _crash(pytest_rc: int | None, tests: list[TestResult], *, junit_missing: bool, junit_problem: str) -> str:
    """Why pytest's run cannot be read as test outcomes (it did not finish, or left no JUnit), or ''."""
    if pytest_rc is None:
        return "pytest did not run"
    if pytest_rc < 0:
        return f"pytest was killed by signal {-pytest_rc}"
    if pytest_rc in (2, 3, 4):
        what = {2: "interrupted", 3: "internal error", 4: "usage error"}[pytest_rc]
        errors = [f"{t.nodeid.strip(':')}: {t.message[:200]}" for t in tests if t.outcome == Outcome.ERROR]
        detail = f"; {len(errors)} collection/setup errors: " + " | ".join(errors[:5]) if errors else ""
        return f"pytest exit code {pytest_rc} ({what}){detail}"
    if pytest_rc not in (0, 1, 5):
        return f"pytest exit code {pytest_rc}"
    if junit_problem:
        return f"pytest's JUnit XML is unreadable: {junit_problem}"
    if junit_missing:
        return "pytest wrote no JUnit XML"
    return ""


def classify(
    *,
    pytest_rc: int | None,
    tests: list[TestResult],
    error: Status | str | None = None,
    error_message: str = "",
    expect: str | None = None,
    expect_tests: tuple[str, ...] = (),
    known: tuple[Any, ...] = (),
    junit_missing: bool = False,
    junit_problem: str = "",
) -> Classification:
    """The status of one cell: its raw outcome, then :func:`judge` against the declarations.

    ``error`` is an error found before or around pytest (``error:install``,
    ``error:import``, ``error:timeout``). ``expect`` is the cell's declaration;
    ``expect_tests`` (globs on test ids) narrows a declared ``fail``; ``known``
    are the known upstream issues (:class:`compat.matrix.known.KnownIssue`) in
    whose range the cell lies.

    >>> failed = [TestResult("t.py::test[t5-prefix-generate]", "failed", "AttributeError: key_cache")]
    >>> classify(pytest_rc=1, tests=failed, expect="fail").status
    'xfail'
    >>> classify(pytest_rc=1, tests=failed, expect="fail", expect_tests=("*[bart-*",)).status
    'fail'
    >>> classify(pytest_rc=0, tests=[TestResult("t.py::test", "passed")], expect="fail").status
    'xpass'
    """
    raw = Classification(Status(error), error_message) if error else _raw_status(
        pytest_rc, tests, junit_missing=junit_missing, junit_problem=junit_problem)
    return judge(raw, tests, expect=expect, expect_tests=expect_tests, known=known)


def explaining(known: tuple[Any, ...], test: TestResult) -> list[str]:
    """Ids of the known issues that explain this failing test: their globs match its id and their
    signature, if they have one, is in the failure message or the test's recorded properties
    (warnings, exception notes). One rule for matrix cells and census checks.

    >>> from compat.matrix.known import KnownIssue
    >>> issue = KnownIssue("x", "why", ("census[gemma4-prefix-*",), match="heads")
    >>> explaining((issue,), TestResult("census[gemma4-prefix-logits]", "failed", "8 heads vs 4"))
    ['x']
    """
    context = "\n".join(str(v) for v in test.properties.values())
    return [k.id for k in known if k.covers(test.nodeid, test.message, context)]


def judge(
    raw: Classification, tests: list[TestResult], *, expect: str | None = None,
    expect_tests: tuple[str, ...] = (), known: tuple[Any, ...] = (),
) -> Classification:
    """Turn a raw outcome into the reported one, given what the matrix declares for the cell.

    Pure: ``--resume`` judges a stored run again when only the declarations changed.

    >>> from compat.matrix.known import KnownIssue
    >>> issue = KnownIssue("peft-2452", "4-D mask", ("*[gemma2-*",), peft="<0.16")
    >>> bad = [TestResult("t.py::test[gemma2-prompt-greedy]", "failed", "RuntimeError")]
    >>> c = judge(Classification("fail", "1 of 9 tests failed"), bad, known=(issue,))
    >>> c.status, c.known_outcomes
    ('xfail', {'peft-2452': 1})
    >>> judge(Classification("fail", "1 of 9 tests failed"), bad, known=(
    ...     issue, KnownIssue("t5-x", "r", ("*[t5-*",), peft="<0.16"))).status
    'xpass'
    """
    if expect is None and not known:
        judged = raw
    elif expect in (None, "fail"):
        judged = _judge_failures(raw, tests, expect=expect, expect_tests=expect_tests, known=known)
    elif raw.status == expect:
        judged = Classification(Status.XFAIL, f"{expect} as declared: {raw.message}", expected=True)
    elif raw.status == Status.PASS:
        judged = Classification(Status.XPASS, f"declared {expect}, but every test passed")
    else:
        judged = raw
    return dataclasses.replace(judged, raw_status=raw.status.value, raw_message=raw.message)


def _judge_failures(raw: Classification, tests: list[TestResult], *, expect: str | None,
                    expect_tests: tuple[str, ...], known: tuple[Any, ...]) -> Classification:
    """A declared ``fail`` (all tests, or those ``expect_tests`` names) and known issues: every failing
    test must be covered, and every declaration must cover one."""
    if raw.status == Status.PASS:
        what = "declared to fail" if expect == "fail" else f"known issues {[k.id for k in known]} apply"
        return Classification(Status.XPASS, f"{what}, but every test passed", known_outcomes={k.id: 0 for k in known})
    if raw.status != Status.FAIL:
        return raw
    bad = [t for t in tests if t.outcome in (Outcome.FAILED, Outcome.ERROR)]
    blanket = expect == "fail" and not expect_tests
    explained = {t.nodeid: explaining(known, t) for t in bad}
    hits = {k.id: sum(k.id in ids for ids in explained.values()) for k in known}
    uncovered = [] if blanket else [
        n for n, ids in explained.items() if not ids and not any(glob_match(n, p) for p in expect_tests)]
    if uncovered:
        return Classification(
            Status.FAIL, f"{len(uncovered)} failing tests are not covered by any declaration: {uncovered[:5]}",
            known_outcomes=hits, explained=explained)
    stale = [k.id for k in known if not hits[k.id]]
    missing = [p for p in expect_tests if not any(glob_match(t.nodeid, p) for t in bad)]
    if stale or missing:
        parts = ([f"declared failing tests now pass: {missing}"] if missing else []) + (
            [f"known issues that did not reproduce here: {stale}"] if stale else [])
        return Classification(Status.XPASS, "; ".join(parts), known_outcomes=hits, explained=explained)
    why = ", ".join(f"{k} ({n})" for k, n in hits.items())
    msg = f"{raw.message}, all declared" + (f": {why}" if why else "")
    return Classification(Status.XFAIL, msg, expected=True, known_outcomes=hits, explained=explained)
