"""The composite action (``action.yml``): it passes actionlint (jactionlint checks composite
actions too), its shell steps turn the inputs into the gate's arguments, and its ``verdict``
output is what ``gate.json`` says, whatever the gate's exit code."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest
import yaml

from compat.toolchain import PROJECT_ROOT

ACTION = PROJECT_ROOT / "action.yml"


def _steps() -> dict[str, dict]:
    return {step.get("name", step.get("uses")): step for step in yaml.safe_load(ACTION.read_text())["runs"]["steps"]}


@pytest.mark.parametrize("old,new,caught", [
    pytest.param("", "", "", id="as-committed"),
    pytest.param("inputs.no-suites }}", "inputs.no-suite }}", "no-suite", id="unknown-input-caught"),
    pytest.param("value: ${{ steps.verdict.outputs.verdict }}", "value: ${{ steps.verdikt.outputs.verdict }}",
                 "verdikt", id="output-from-a-missing-step-caught"),
    pytest.param("      shell: bash\n      run: python -m pip", "      run: python -m pip", "shell",
                 id="composite-step-without-shell-caught"),
])
def test_action_under_actionlint(actionlint, tmp_path, old, new, caught):
    text = ACTION.read_text()
    assert old in text
    path = tmp_path / "action.yml"
    path.write_text(text.replace(old, new) if old else text)
    proc = subprocess.run([*actionlint, str(path)], capture_output=True, text=True, cwd=tmp_path, check=False)
    said = proc.stdout + proc.stderr
    assert (proc.returncode == 0) == (not caught), said
    assert caught in said


def _bash(script: str, env: dict[str, str], tmp_path) -> subprocess.CompletedProcess:
    files = {"GITHUB_OUTPUT": tmp_path / "output", "GITHUB_STEP_SUMMARY": tmp_path / "summary"}
    for f in files.values():
        f.write_text("")
    full = {**os.environ, **{k: str(v) for k, v in files.items()}, **env,
            "PATH": f"{tmp_path}{os.pathsep}{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}",
            "PYTHONPATH": str(PROJECT_ROOT)}
    return subprocess.run(["bash", "-c", script], env=full, capture_output=True, text=True, cwd=tmp_path, check=False)


@pytest.mark.parametrize("verdict,exit_code,pass_on,step_passes", [
    pytest.param("same", 0, "same", True, id="same-passes"),
    pytest.param("changed", 1, "same", False, id="changed-fails"),
    pytest.param("changed", 1, "same changed", True, id="changed-passes-when-allowed"),
    pytest.param("broken", 0, "same", False, id="broken-fails-even-with-exit-0"),
    pytest.param(None, 0, "same", False, id="missing-report-is-error"),
])
def test_verdict_output_comes_from_gate_json(tmp_path, verdict, exit_code, pass_on, step_passes):
    reports = tmp_path / "reports"
    reports.mkdir()
    if verdict:
        (reports / "gate.json").write_text(json.dumps({"status": "verdict", "verdict": verdict,
                                                       "exit_code": exit_code}))
        (reports / "gate.md").write_text(f"## Upgrade gate: {verdict}\n")
    proc = _bash(_steps()["Verdict (from gate.json)"]["run"], {"REPORTS": str(reports), "PASS_ON": pass_on},
                 tmp_path)
    outputs = dict(line.split("=", 1) for line in (tmp_path / "output").read_text().splitlines())
    assert outputs["verdict"] == (verdict or "error"), proc.stderr
    assert outputs["report"] == f"{reports}/gate.md"
    assert (proc.returncode == 0) == step_passes, proc.stdout + proc.stderr
    assert ((tmp_path / "summary").read_text() == f"## Upgrade gate: {verdict}\n") == bool(verdict)


@pytest.mark.parametrize("inputs,expected", [
    pytest.param({"FROM_PINS": "transformers==4.57.6 peft==0.18.1", "TO_PINS": "transformers==5.23.0 peft==0.21.2"},
                 ["--from", "transformers==4.57.6", "peft==0.18.1", "--to", "transformers==5.23.0", "peft==0.21.2"],
                 id="zoo"),
    pytest.param({"FROM_PINS": "transformers==4.57.6 peft==0.18.1", "MODEL": "m dir", "ADAPTER": "a",
                  "PROMPTS": "p.txt", "SUITES": "tests/shim tests/property", "EXTRA_ARGS": "--max-new-tokens 4"},
                 ["--from", "transformers==4.57.6", "peft==0.18.1", "--model", "m dir", "--adapter", "a",
                  "--prompts", "p.txt", "--suites", "tests/shim", "tests/property", "--max-new-tokens", "4"],
                 id="own-model-newest-candidate"),
    pytest.param({"FROM_PINS": "transformers==4.57.6 peft==0.18.1", "NO_SUITES": "true"},
                 ["--from", "transformers==4.57.6", "peft==0.18.1", "--no-suites"], id="no-suites"),
])
def test_inputs_become_the_gates_arguments(tmp_path, inputs, expected):
    fake = tmp_path / "peft-cache-compat"  # records its arguments, one per line, and exits like "changed"
    fake.write_text('#!/usr/bin/env bash\nprintf "%s\\n" "$@" > "$(dirname "$0")/argv"\nexit 1\n')
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    env = {"FROM_PINS": "", "TO_PINS": "", "MODEL": "", "ADAPTER": "", "PROMPTS": "", "SUITES": "",
           "NO_SUITES": "false", "EXTRA_ARGS": "", "DEVICE": "cpu", "DTYPE": "float32", "REPORTS": "out", **inputs}
    proc = _bash(_steps()["Run the gate"]["run"], env, tmp_path)
    assert proc.returncode == 0, proc.stderr  # the gate's own exit code never fails the step
    assert "gate exit code: 1" in proc.stdout
    argv = (tmp_path / "argv").read_text().splitlines()
    assert argv == ["gate", *expected, "--device", "cpu", "--dtype", "float32", "--reports", "out"]

