"""The scheduled release-watch workflow passes actionlint and fails on the verdict in watch.json.

The linter (jactionlint) ships in the ``test`` extra; a missing linter fails (never a skip).
"""

from __future__ import annotations

import subprocess

import pytest

from compat.toolchain import PROJECT_ROOT

WORKFLOW = PROJECT_ROOT / ".github" / "workflows" / "watch.yml"


def _lint_copy(actionlint, tmp_path, text):
    """actionlint on ``text`` saved as a workflow under ``tmp_path`` (the real file or an edited copy)."""
    path = tmp_path / ".github" / "workflows" / "watch.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    proc = subprocess.run([*actionlint, str(path)], capture_output=True, text=True, cwd=tmp_path, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def test_watch_workflow_passes_actionlint(actionlint, tmp_path):
    code, output = _lint_copy(actionlint, tmp_path, WORKFLOW.read_text())
    assert code == 0, output


@pytest.mark.parametrize("old, new, expected", [
    pytest.param('cron: "41 5 * * *"', 'cron: "41 5 * * * *"', "cron", id="bad-cron"),
    pytest.param("${{ runner.os }}-watch-", "${{ runner.oss }}-watch-", "oss", id="bad-context"),
])
def test_actionlint_catches_a_broken_watch_workflow(actionlint, tmp_path, old, new, expected):
    text = WORKFLOW.read_text()
    assert old in text
    code, output = _lint_copy(actionlint, tmp_path, text.replace(old, new))
    assert code != 0 and expected in output


def test_watch_workflow_is_daily_and_reads_the_verdict_from_the_file():
    text = WORKFLOW.read_text()
    for needle in ("schedule:", "cron:", "workflow_dispatch:", ".ci/requirements-tools.txt", "nox -s watch",
                   "path: reports/", "GITHUB_STEP_SUMMARY", "python -m compat.watch.check reports/watch.json"):
        assert needle in text, needle
    # The watch step must not fail the job itself (nox's exit code is 1 for any failure); the check does.
    assert "nox -s watch || status=$?" in text
