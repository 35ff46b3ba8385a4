"""Fixtures of the equivalence suites: one (family, method) case per test,
built once per process; a combination this install lacks skips with a
"not-applicable: ..." reason decided by feature detection."""

from __future__ import annotations

import pytest

from compat.testing import cases


@pytest.fixture
def case(family, method):
    reason = cases.applicable(family, method)
    if reason:
        pytest.skip(reason)
    return cases.get(family, method)
