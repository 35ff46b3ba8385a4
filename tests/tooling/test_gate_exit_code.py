"""The gate's exit code survives the command CI runs, and CI reads the verdict from gate.json.

``nox -s gate`` turns every failed session into exit 1, so the documented CI command is
``peft-cache-compat gate`` / ``python -m compat gate`` / ``python -m compat.gate``, which exit
0 (same), 1 (changed) or 2 (broken, or no verdict), and the workflow takes the verdict from
``reports/gate.json`` (:mod:`compat.gate.outcome`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from compat.__main__ import main as compat_main
from compat.gate import cli
from compat.gate.outcome import main as outcome_main
from compat.gate.outcome import read_outcome
from compat.gate.verdict import EXIT_CODES
from compat.toolchain import PROJECT_ROOT


@pytest.mark.parametrize("verdict", [pytest.param(v, id=v) for v in EXIT_CODES])
def test_the_console_command_exits_with_the_verdicts_code(tmp_path, monkeypatch, capsys, verdict):
    def decided(ns, timings, report):  # stands for a whole gate run that reached this verdict
        report.update(verdict=verdict, exit_code=EXIT_CODES[verdict], findings=[], recorded=1)
        return report

    monkeypatch.setattr(cli, "run_gate", decided)
    code = compat_main(["gate", "--from", "transformers==4.57.6", "peft==0.18.1", "--to", "transformers==5.23.0",
                        "peft==0.21.2", "--reports", str(tmp_path)], prog="peft-cache-compat")
    capsys.readouterr()
    assert code == EXIT_CODES[verdict]
    report = json.loads((tmp_path / "gate.json").read_text())
    assert report["command"].startswith("peft-cache-compat gate --from transformers==4.57.6")
    assert read_outcome(tmp_path / "gate.json").verdict == verdict


@pytest.mark.parametrize("argv", [
    pytest.param(["-m", "compat", "gate"], id="python-m-compat-gate"),
    pytest.param(["-m", "compat.gate"], id="python-m-compat.gate"),
])
def test_no_verdict_exits_2_through_the_real_entry_points(tmp_path, argv):
    """Bad input (refused before any index lookup) in a real process: exit 2, not nox's 1."""
    proc = subprocess.run([sys.executable, *argv, "--to", "transformers>=5", "--reports", str(tmp_path)],
                          capture_output=True, text=True, cwd=PROJECT_ROOT, check=False,
                          env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})
    assert proc.returncode == 2, proc.stderr
    assert read_outcome(tmp_path / "gate.json").verdict == "error"


def _report(tmp_path, data):
    path = tmp_path / "gate.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


@pytest.mark.parametrize(("content", "verdict", "reason"), [
    pytest.param({"status": "verdict", "verdict": "same", "exit_code": 0}, "same", "decided same", id="same"),
    pytest.param({"status": "verdict", "verdict": "changed", "exit_code": 1}, "changed", "decided", id="changed"),
    pytest.param({"status": "verdict", "verdict": "broken", "exit_code": 2}, "broken", "decided", id="broken"),
    pytest.param({"status": "error", "error": "--to: missing peft\nmore"}, "error", "no verdict: --to: missing peft",
                 id="error-report"),
    pytest.param({"status": "running", "started": "x"}, "error", "did not finish", id="killed-run"),
    pytest.param({"status": "verdict", "verdict": "fine"}, "error", "is not a gate result", id="unknown-verdict"),
    pytest.param('{"status": "verd', "error", "unreadable gate report", id="truncated"),
    pytest.param("[]", "error", "not a gate report", id="not-an-object"),
    pytest.param(None, "error", "the gate did not start", id="missing"),
])
def test_ci_reads_the_verdict_from_gate_json(tmp_path, capsys, content, verdict, reason):
    path = _report(tmp_path, content) if content is not None else tmp_path / "gate.json"
    outcome = read_outcome(path)
    assert outcome.verdict == verdict and reason in outcome.reason
    assert outcome_main([str(path)]) == 0
    out, err = capsys.readouterr()
    assert out == f"{verdict}\n" and reason in err
