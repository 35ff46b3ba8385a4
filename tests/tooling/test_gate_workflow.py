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


@pytest.mark.parametrize("needle", [
    pytest.param('"pyproject.toml"', id="runs-on-pyproject"),
    pytest.param('"requirements*.txt"', id="runs-on-requirements"),
    pytest.param("compat.gate.pinfile", id="reads-pins"),
    pytest.param("peft-cache-compat gate --from", id="runs-the-documented-ci-command"),
    pytest.param("python -m compat.gate.outcome reports/gate.json", id="verdict-from-gate-json"),
    pytest.param("GITHUB_STEP_SUMMARY", id="job-summary"),
    pytest.param("reports/gate.md", id="publishes-the-report"),
])
def test_gate_workflow_runs_on_pin_changes_and_publishes_the_report(needle):
    assert needle in WORKFLOW.read_text()


def test_gate_workflow_never_decides_on_an_exit_code():
    """nox collapses the gate's 2 into 1, and a killed gate has no code: the verdict comes from gate.json."""
    text = WORKFLOW.read_text()
    assert "nox -s gate" not in text and "exit_code" not in text and "$?" not in text.split("Verdict")[-1]


def test_the_readme_documents_the_command_the_workflow_runs():
    readme = (PROJECT_ROOT / "README.md").read_text()
    ci = readme.split("## The upgrade gate", 1)[1].split("\n## ", 1)[0]
    assert "peft-cache-compat gate --from" in ci and "reports/gate.json" in ci


def test_the_projects_own_pins_are_readable():
    pins = pins_from_text((PROJECT_ROOT / "pyproject.toml").read_text(), "pyproject.toml")
    assert pins.startswith("transformers==") and " peft==" in pins
