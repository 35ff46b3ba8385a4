"""The GPU workflow passes actionlint (jactionlint, correctness profile), runs on a configurable
runner label, asks for a CUDA torch by its local label and runs the suites on the cuda axes."""

from __future__ import annotations

import subprocess

import pytest

from compat.toolchain import PROJECT_ROOT

WORKFLOW = PROJECT_ROOT / ".github" / "workflows" / "gpu.yml"


@pytest.mark.parametrize("old,new,clean", [
    pytest.param("", "", True, id="as-committed"),
    pytest.param("inputs.runner ||", "inputs.runnr ||", False, id="unknown-input-caught"),
])
def test_gpu_workflow_under_actionlint(actionlint, tmp_path, old, new, clean):
    path = tmp_path / ".github" / "workflows" / "gpu.yml"
    path.parent.mkdir(parents=True)
    path.write_text(WORKFLOW.read_text().replace(old, new) if old else WORKFLOW.read_text())
    proc = subprocess.run([*actionlint, str(path)], capture_output=True, text=True, cwd=tmp_path, check=False)
    said = proc.stdout + proc.stderr
    assert (proc.returncode == 0) == clean, said
    assert clean or "runnr" in said


def test_runner_label_is_configurable_and_torch_is_a_cuda_build():
    text = WORKFLOW.read_text()
    assert "runs-on: ${{ inputs.runner || vars.PCC_GPU_RUNNER || 'gpu' }}" in text
    assert "+cu" in text and "PCC_TORCH_INDEX_URL" in text
    assert "benchmarks/gpu_suites.sh" in text and "--device cuda" in text
    assert "pull_request" not in text  # a self-hosted GPU runner never runs fork code
