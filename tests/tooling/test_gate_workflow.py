"""The upgrade-gate workflow passes actionlint and wires the gate to pin changes.

The linter (jactionlint) ships in the ``test`` extra; a missing linter fails (never a skip).
"""

from __future__ import annotations

import subprocess

import pytest

from compat.gate.pinfile import pins_from_text
from compat.toolchain import PROJECT_ROOT

WORKFLOW = PROJECT_ROOT / ".github" / "workflows" / "upgrade-gate.yml"


def test_gate_workflow_passes_actionlint(actionlint):
    proc = subprocess.run([*actionlint, str(WORKFLOW)], capture_output=True, text=True, cwd=PROJECT_ROOT, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_gate_workflow_runs_on_pin_changes_and_publishes_the_report():
    text = WORKFLOW.read_text()
    for needle in ('"pyproject.toml"', '"requirements*.txt"', "nox -s gate -- --from", "GITHUB_STEP_SUMMARY",
                   "reports/gate.md", "compat.gate.pinfile"):
        assert needle in text, needle


def test_the_projects_own_pins_are_readable():
    pins = pins_from_text((PROJECT_ROOT / "pyproject.toml").read_text(), "pyproject.toml")
    assert pins.startswith("transformers==") and " peft==" in pins
