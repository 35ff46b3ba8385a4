"""Judge census checks against the known-issue catalogue (the matrix's format,
:mod:`compat.matrix.known`: globs on ``census[arch-method-check]`` ids, version ranges, and the
optional ``match`` signature searched in the failure message; the matrix's rule,
:func:`compat.suiterun.outcomes.explaining`), and fold checks into method and architecture statuses.

>>> from compat.matrix.known import KnownIssue
>>> issue = KnownIssue("x", "why", ("census[gemma4-prefix-*",), transformers=">=5", match="heads")
>>> m = MethodResult("prefix", Status.FAIL, "", (CheckResult("logits", Status.FAIL, "8 heads vs 4"),
...                                               CheckResult("grad", Status.PASS)))
>>> method("gemma4", m, (issue,), ("5.23.0", "0.21.2")).status
<Status.KNOWN: 'known'>
>>> method("gemma4", m, (issue,), ("4.57.6", "0.18.1")).status
<Status.FAIL: 'fail'>
>>> arch_status((MethodResult("prompt", Status.PASS), MethodResult("prefix", Status.NOT_APPLICABLE)))
<Status.PASS: 'pass'>
"""

from __future__ import annotations

import dataclasses

from compat.census.results import CheckResult, MethodResult, Status, check_id
from compat.suiterun.outcomes import TestResult, explaining

__all__ = ["arch_status", "method", "not_reproduced"]

_ORDER = (Status.FAIL, Status.KNOWN, Status.PASS, Status.NOT_APPLICABLE)


def _check(arch: str, method_id: str, c: CheckResult, known: tuple, versions: tuple[str, str]) -> CheckResult:
    if c.status is not Status.FAIL:
        return c
    in_range = tuple(k for k in known if k.applies(*versions))
    ids = tuple(explaining(in_range, TestResult(check_id(arch, method_id, c.check), "failed", c.message)))
    return dataclasses.replace(c, status=Status.KNOWN, known=ids) if ids else c


def method(arch: str, m: MethodResult, known: tuple, versions: tuple[str, str]) -> MethodResult:
    """``m`` with failing checks a declaration covers turned ``known``, and its status folded."""
    if m.status is Status.NOT_APPLICABLE:
        return m
    judged = tuple(_check(arch, m.method, c, known, versions) for c in m.checks)
    statuses = {c.status for c in judged}
    status = next((s for s in _ORDER if s in statuses), Status.PASS)
    bad = [c for c in judged if c.status not in (Status.PASS, Status.NOT_APPLICABLE)]
    reason = f"{len(bad)} of {len(judged)} checks did not pass" if bad else ""
    return dataclasses.replace(m, status=status, reason=reason, checks=judged)


def arch_status(methods: tuple[MethodResult, ...]) -> Status:
    """The worst method status (fail > known > pass > not-applicable)."""
    statuses = {m.status for m in methods}
    return next((s for s in _ORDER if s in statuses), Status.NOT_APPLICABLE)


def not_reproduced(archs, known: tuple, versions: tuple[str, str]) -> list[str]:
    """Ids of declarations in range that explained no failing check: stale or too wide."""
    used = {k for a in archs for m in a.methods for c in m.checks for k in c.known}
    return [k.id for k in known if k.applies(*versions) and k.id not in used]
