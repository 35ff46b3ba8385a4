"""Everything under tests/tooling tests the orchestration tools (no torch needed)."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/tooling/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.tooling)
