"""Bad input to ``python -m compat.gate``: exit 2, a message naming the problem, and an
*error* report (no verdict) that replaces any earlier verdict. No environment is built."""

from __future__ import annotations

import json
import sys

import pytest

from compat.gate.cli import main


def _write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


@pytest.fixture
def dirs(tmp_path):
    """A model dir (config + weights file) and a prefix-tuning adapter dir that fit each other."""
    model = tmp_path / "model"
    _write(model / "config.json", {"model_type": "gpt2", "n_layer": 2, "n_embd": 32, "n_head": 4,
                                   "vocab_size": 96})
    (model / "model.safetensors").write_bytes(b"")
    adapter = tmp_path / "adapter"
    _write(adapter / "adapter_config.json", {"peft_type": "PREFIX_TUNING", "task_type": "CAUSAL_LM",
                                             "num_layers": 2, "token_dim": 32, "num_attention_heads": 4})
    (adapter / "adapter_model.safetensors").write_bytes(b"")
    return tmp_path, model, adapter


def _then(_side_effect, args):
    """Run a setup expression (already evaluated) and return the CLI arguments."""
    return args


def _model_adapter(model, adapter, *more):
    """The CLI arguments ``--model MODEL --adapter ADAPTER`` followed by ``more``."""
    return ["--model", str(model), "--adapter", str(adapter), *more]


def _edit(path, **changes):
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


CASES = [
    pytest.param(lambda t, m, a: ["--from", "transformers>=4", "peft==0.18.1", "--to-python", sys.executable],
                 "not an exact pin", id="pin-not-exact"),
    pytest.param(lambda t, m, a: ["--from", "transformers==4.57.6", "--to-python", sys.executable],
                 "missing peft", id="pin-missing-peft"),
    pytest.param(lambda t, m, a: ["--from", "transformers==4.57.6", "peft==banana", "--to-python", sys.executable],
                 "not a valid version", id="pin-bad-version"),
    pytest.param(lambda t, m, a: ["--from", "transformers==4.57.6", "peft==0.18.1", "torch==2.0",
                                  "--to-python", sys.executable],
                 "torch is not a gate axis", id="pin-torch"),
    pytest.param(lambda t, m, a: ["--from-python", str(t / "no-python"), "--to-python", sys.executable],
                 "not an executable interpreter", id="python-missing"),
    pytest.param(lambda t, m, a: ["--model", str(t / "nope"), "--adapter", str(a)],
                 "no such directory", id="model-missing"),
    pytest.param(lambda t, m, a: ["--model", str(m / "config.json"), "--adapter", str(a)],
                 "not a directory", id="model-is-a-file"),
    pytest.param(lambda t, m, a: _then((m / "config.json").unlink(), _model_adapter(m, a)),
                 "config.json is missing", id="model-no-config"),
    pytest.param(lambda t, m, a: _then((m / "config.json").write_text("{nope"), _model_adapter(m, a)),
                 "not valid JSON", id="model-config-unreadable"),
    pytest.param(lambda t, m, a: _then((m / "model.safetensors").unlink(), _model_adapter(m, a)),
                 "no weights", id="model-no-weights"),
    pytest.param(lambda t, m, a: ["--model", str(m)], "--model and --adapter go together", id="adapter-absent"),
    pytest.param(lambda t, m, a: _then((a / "adapter_config.json").unlink(), _model_adapter(m, a)),
                 "adapter_config.json is missing", id="adapter-no-config"),
    pytest.param(lambda t, m, a: _then(_edit(a / "adapter_config.json", peft_type="LORA"), _model_adapter(m, a)),
                 "peft_type is LORA, not prompt learning", id="adapter-lora"),
    pytest.param(lambda t, m, a: _then((a / "adapter_model.safetensors").unlink(), _model_adapter(m, a)),
                 "no adapter weights", id="adapter-no-weights"),
    pytest.param(lambda t, m, a: _then(_edit(a / "adapter_config.json", num_layers=12, token_dim=768),
                                       _model_adapter(m, a)),
                 "trained for a different base model", id="adapter-other-base"),
    pytest.param(lambda t, m, a: _then(_edit(a / "adapter_config.json", task_type="SEQ_2_SEQ_LM"),
                                       _model_adapter(m, a)),
                 "SEQ_2_SEQ_LM but the model is decoder-only", id="adapter-task-mismatch"),
    pytest.param(lambda t, m, a: _model_adapter(m, a, "--prompts", str(t / "none.txt")),
                 "--prompts", id="prompts-missing"),
    pytest.param(lambda t, m, a: _then((t / "empty.txt").write_text("\n \n"),
                                       _model_adapter(m, a, "--prompts", str(t / "empty.txt"))),
                 "no non-empty lines", id="prompts-empty"),
    pytest.param(lambda t, m, a: ["--prompts", str(t)], "--prompts needs --model", id="prompts-without-model"),
    pytest.param(lambda t, m, a: _model_adapter(m, a, "--prompts", str(t)),
                 "is a directory; expected a text file with one prompt per line", id="prompts-is-a-directory"),
    *[pytest.param(lambda t, m, a, v=v: ["--from", "transformers==4.57.6", "peft==0.18.1",
                                         "--to-python", sys.executable, "--timeout", v],
                   "--timeout must be a positive number of seconds", id=f"timeout-{v}")
      for v in ("0", "-5", "nan")],
    pytest.param(lambda t, m, a: ["--families", "gpt5"], "--families: unknown gpt5", id="family-unknown"),
    pytest.param(lambda t, m, a: ["--methods", "lora"], "--methods: unknown lora", id="method-unknown"),
    pytest.param(lambda t, m, a: _model_adapter(m, a, "--methods", "prefix"),
                 "do not apply to --model", id="methods-with-model"),
]


@pytest.mark.parametrize("make_args, message", CASES)
def test_bad_input_exits_2_with_error_report(dirs, capsys, make_args, message):
    tmp, model, adapter = dirs
    reports = tmp / "reports"
    # a verdict from an earlier run must not survive a failed run
    _write(reports / "gate.json", {"status": "verdict", "verdict": "same"})
    _write(reports / "gate.md", "## Upgrade gate: same\n")
    args = [*make_args(tmp, model, adapter), "--reports", str(reports), "--work", str(tmp / "work"), "--no-suites"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err, err
    report = json.loads((reports / "gate.json").read_text())
    assert report["status"] == "error" and "verdict" not in report
    assert message in report["error"]
    assert (reports / "gate.md").read_text().startswith("## Upgrade gate: ERROR (no verdict)")
    assert not (tmp / "work" / "envs").exists(), "bad input must be refused before building anything"


def test_unknown_version_is_refused_before_building(tmp_path, capsys):
    """Asks the package index (uv); offline, the message still names the pin and exit is 2."""
    reports = tmp_path / "reports"
    code = main(["--from", "transformers==9.9.9", "peft==0.18.1", "--to-python", sys.executable,
                 "--reports", str(reports), "--work", str(tmp_path / "work"), "--no-suites"])
    assert code == 2
    assert "transformers==9.9.9" in capsys.readouterr().err
    assert json.loads((reports / "gate.json").read_text())["status"] == "error"
    assert not (tmp_path / "work" / "envs").exists()


def _fake_exe(path, body):
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return path


def test_default_from_needs_transformers_where_nox_started(tmp_path, capsys, monkeypatch):
    bare = _fake_exe(tmp_path / "python", """echo '{"transformers": null, "peft": null, "torch": null}'""")
    monkeypatch.setenv("PCC_INVOKING_PYTHON", str(bare))
    code = main(["--to-python", sys.executable, "--reports", str(tmp_path / "r"), "--work", str(tmp_path / "w")])
    err = capsys.readouterr().err
    assert code == 2 and "--from was not given" in err and "no transformers and peft installed" in err


def test_default_to_needs_the_index(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PCC_UV", str(_fake_exe(tmp_path / "uv", "echo 'error: network unreachable' >&2; exit 2")))
    code = main(["--from-python", sys.executable, "--reports", str(tmp_path / "r"), "--work", str(tmp_path / "w")])
    err = capsys.readouterr().err
    assert code == 2 and "--to (default: newest releases)" in err and "network unreachable" in err
