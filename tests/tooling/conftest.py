"""Everything under tests/tooling tests the orchestration tools (no torch needed)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/tooling/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.tooling)


@pytest.fixture(scope="module")
def actionlint() -> list[str]:
    """The workflow linter (jactionlint, correctness profile); missing = failure, never a skip."""
    local = Path(sys.executable).parent / "jactionlint"
    found = str(local) if local.is_file() else shutil.which("jactionlint")
    if not found:
        pytest.fail("jactionlint is not installed: pip install -e '.[test]' (it is in the test extra)")
    return [found, "--profile", "correctness", "--shellcheck="]
