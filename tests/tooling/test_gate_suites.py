"""The gate runs a suite as a matrix cell does and turns regressions into findings.

Runs a tiny throw-away suite twice with the current interpreter (one side "passes", the other
fails an assertion and raises), so no environment is built."""

from __future__ import annotations

import importlib.util
import os
import sys

import pytest

from compat.gate.suites import compare_suites, default_env, run_suites
from compat.toolchain import PROJECT_ROOT

pytestmark = [
    pytest.mark.slow,  # two pytest processes that import torch/transformers/peft (the probe)
    pytest.mark.skipif(
        not all(importlib.util.find_spec(m) for m in ("torch", "transformers", "peft")),
        reason="not-applicable: the matrix's import probe needs torch, transformers and peft",
    ),
]

SUITE = '''
import os

def test_numbers():
    assert os.environ.get("SIDE") != "candidate", "logits: not close"

def test_api():
    if os.environ.get("SIDE") == "candidate":
        raise AttributeError("'tuple' object has no attribute 'get_seq_length'")

def test_stable():
    pass
'''


@pytest.fixture
def suite_root(tmp_path):
    (tmp_path / "tests" / "demo").mkdir(parents=True)
    (tmp_path / "tests" / "demo" / "test_demo.py").write_text(SUITE)
    return tmp_path


def _run(root, side, tmp_path):
    env = default_env({**os.environ, "SIDE": side, "PYTHONPATH": str(PROJECT_ROOT)})
    return run_suites(sys.executable, ["tests/demo", "tests/absent"], tmp_path, name=side, env=env,
                      cwd=root, timeout=300, log=tmp_path / f"{side}.log")


def test_suite_regressions_become_findings(suite_root, tmp_path):
    base, cand = _run(suite_root, "baseline", tmp_path), _run(suite_root, "candidate", tmp_path)
    assert (base.status, cand.status) == ("pass", "fail"), (base.message, cand.message)
    assert base.missing_paths == ["tests/absent"]
    findings = {f["where"].split("::")[-1]: f["severity"] for f in compare_suites(base.tests, cand.tests)}
    assert findings == {"test_numbers": "changed", "test_api": "broken"}


def test_no_suite_directory_is_not_run(tmp_path):
    out = run_suites(sys.executable, ["tests/nothing"], tmp_path, name="j", env=default_env(), cwd=tmp_path,
                     timeout=60, log=tmp_path / "log")
    assert out.label == "not-run" and not out.tests
