"""The CI fan-out workflow passes actionlint (jactionlint, the maintained fork, correctness profile).

The linter ships in the ``test`` extra; a missing linter fails this test (never a skip).
"""

from __future__ import annotations

import subprocess

from compat.toolchain import PROJECT_ROOT

WORKFLOW = PROJECT_ROOT / ".github" / "workflows" / "matrix.yml"


def _lint(cmd, path):
    return subprocess.run([*cmd, str(path)], capture_output=True, text=True, cwd=PROJECT_ROOT, check=False)


def test_matrix_workflow_passes_actionlint(actionlint):
    proc = _lint(actionlint, WORKFLOW)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_catches_a_broken_workflow(actionlint, tmp_path):
    broken = tmp_path / ".github" / "workflows" / "matrix.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(WORKFLOW.read_text().replace("needs.list.outputs.cells", "needs.lst.outputs.cells"))
    proc = _lint(actionlint, broken)
    assert proc.returncode != 0 and "lst" in proc.stdout + proc.stderr


def test_workflow_fans_out_over_the_listed_cells():
    text = WORKFLOW.read_text()
    assert "--list --json" in text and "fromJSON(needs.list.outputs.cells)" in text
    assert "report -- merge" in text and "GITHUB_STEP_SUMMARY" in text
