"""The census in the shared runner's terms: each check as a test outcome, and the census run as a
status a matrix cell or a gate side would get for the same outcomes (:mod:`compat.suiterun.outcomes`).

A passing check is ``passed``; a failing one ``failed`` (a declaration that explains it is applied
by the shared judge, as in a matrix cell); a method that does not apply ``na`` (a
``not-applicable:`` skip, never a pass); an architecture that cannot be built tiny, or whose
worker died, ``error``. The census's exit code as pytest would give it (1 with a failing test,
else 0) is classified, then judged against the catalogue's declarations in range.

>>> from compat.census.results import ArchResult, CheckResult, MethodResult, Status
>>> ok = MethodResult("prompt", Status.PASS, "", (CheckResult("logits", Status.PASS),))
>>> na = MethodResult("prefix", Status.NOT_APPLICABLE, "keeps no KV cache")
>>> a = ArchResult("llama", "llama", "causal", "LlamaForCausalLM", Status.PASS, "", 0.1, 0.5, 9, (ok, na))
>>> [(t.nodeid, t.outcome) for t in as_tests((a,))]
[('census[llama-prompt-logits]', 'passed'), ('census[llama-prefix-all]', 'na')]
>>> classification((a,)).status
'pass'
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from compat.census.results import ArchResult, CheckResult, MethodResult, Status, check_id
from compat.suiterun.outcomes import NA_PREFIX, Classification, Outcome, TestResult, classify, glob_match, judge

__all__ = ["as_tests", "classification", "exit_code"]

_OUTCOME = {Status.PASS: Outcome.PASSED, Status.FAIL: Outcome.FAILED, Status.KNOWN: Outcome.FAILED,
            Status.NOT_APPLICABLE: Outcome.NA, Status.NOT_BUILDABLE: Outcome.ERROR}


def _check_test(arch: str, method: str, check: CheckResult) -> TestResult:
    outcome = _OUTCOME[check.status]
    message = f"{NA_PREFIX}{check.message}" if outcome is Outcome.NA else check.message
    return TestResult(check_id(arch, method, check.check), outcome, message, family=arch, method=method,
                      check=check.check)


def _method_tests(arch: str, m: MethodResult) -> list[TestResult]:
    if m.status is Status.NOT_APPLICABLE or not m.checks:
        outcome = Outcome.NA if m.status is Status.NOT_APPLICABLE else _OUTCOME[m.status]
        message = f"{NA_PREFIX}{m.reason}" if outcome is Outcome.NA else m.reason
        return [TestResult(check_id(arch, m.method, "all"), outcome, message, family=arch, method=m.method,
                           check="all")]
    return [_check_test(arch, m.method, c) for c in m.checks]


def as_tests(archs: Iterable[ArchResult]) -> list[TestResult]:
    """Every check of every architecture as a test outcome (an unbuildable one as an ``error``)."""
    tests: list[TestResult] = []
    for a in archs:
        if a.status is Status.NOT_BUILDABLE:
            tests.append(TestResult(check_id(a.arch, "all", "build"), Outcome.ERROR, f"not buildable: {a.reason}",
                                    family=a.arch, method="all", check="build"))
            continue
        for m in a.methods:
            tests.extend(_method_tests(a.arch, m))
    return tests


def exit_code(tests: list[TestResult]) -> int:
    """The exit code pytest gives for these outcomes: 1 with a failure or error, else 0."""
    return 1 if any(t.outcome in (Outcome.FAILED, Outcome.ERROR) for t in tests) else 0


def classification(archs: Iterable[ArchResult], known: tuple[Any, ...] = (),
                   versions: tuple[str, str] | None = None) -> Classification:
    """The census run's status, as a matrix cell with these outcomes and declarations would get it.

    ``known``: the catalogue (:func:`compat.census.catalogue.load`); with ``versions``
    (transformers, peft) only the declarations in range apply, as in a matrix cell, and of those
    only the ones about a check that ran (``--archs`` may census a few architectures: a declaration
    about one not censused says nothing here).
    """
    tests = as_tests(archs)
    in_range = tuple(k for k in known if (versions is None or k.applies(*versions))
                     and any(glob_match(t.nodeid, p) for t in tests for p in k.tests))
    return judge(classify(pytest_rc=exit_code(tests), tests=tests), tests, known=in_range)
