"""The downstream recipe (docs/gate.md, "From your own repository"), end to end from a wheel.

Build this project's wheel, make a fresh environment in a temporary folder outside the checkout,
``pip install`` the wheel with the gate's extra there (torch: the pinned local CPU wheel, as every
environment gets it, see compat/toolchain.py; uv and its cache), save a tiny GPT-2 + prompt-tuning
adapter with that environment, and gate it with its console command from a folder of its own:
baseline = that environment (``--from-python``), candidate = the default pins, built by the gate.
The suites run on both sides from the copy the wheel ships and are compared (a quick subset,
``--suites FILE...``; the full suites are the matrix's job). Verdict ``same``, exit 0.

Marked ``downstream`` (``pytest -m downstream`` runs just this); 1.4-2.6 min on 2 busy cores (2026-12-01).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from compat import resources
from compat.envs import find_uv
from compat.toolchain import PROJECT_ROOT, default_pins, torch_source

pytestmark = [pytest.mark.downstream, pytest.mark.slow]

#: A quick subset of the suites: the shim's conversions and prompt tuning's logits vs the reference.
SUITES = ("tests/shim/test_convert.py", "tests/equivalence/test_prompt_logits.py")

SAVE = """
import sys, torch, transformers
from peft import PromptTuningConfig, get_peft_model
torch.manual_seed(0)
config = transformers.GPT2Config(vocab_size=96, n_embd=32, n_layer=2, n_head=4, n_positions=64)
model = transformers.GPT2LMHeadModel(config).eval()
model.save_pretrained("model")
get_peft_model(model, PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=4)).save_pretrained("adapter")
open("prompts.txt", "w").write("5 6 7 8\\n9 10 11\\n")
"""


def _run(cmd: list[str], *, env: dict[str, str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    said = f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert proc.returncode == 0, f"{' '.join(cmd)} exited {proc.returncode}:\n{said}"
    return proc


def _outside_env() -> dict[str, str]:
    """This process's environment without anything that points into the checkout."""
    drop = {"PYTHONPATH", "VIRTUAL_ENV", resources.DATA_ROOT_ENV, "PCC_INVOKING_PYTHON", "PCC_GATE_PROG",
            "PCC_GATE_WORK", "PCC_PINS"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    source = torch_source()  # the same wheel source this checkout uses, handed over explicitly
    env.update(PCC_TORCH_SPEC=source.spec, PCC_TORCH_FIND_LINKS=source.find_links,
               PCC_TORCH_INDEX_URL=source.index_url, HF_HUB_OFFLINE="1")
    return env


@pytest.fixture(scope="module")
def downstream(tmp_path_factory) -> dict[str, Path]:
    """A fresh environment outside the checkout with the built wheel installed ``[gate]``."""
    base = tmp_path_factory.mktemp("downstream")
    assert not base.is_relative_to(PROJECT_ROOT)
    (uv,), env = find_uv(), _outside_env()
    _run([uv, "build", "--wheel", "--out-dir", str(base / "dist"), str(PROJECT_ROOT)], env=env, cwd=base)
    (wheel,) = (base / "dist").glob("peft_cache_compat-*.whl")
    venv = base / "venv"
    _run([uv, "venv", "-q", str(venv), "--python", sys.executable], env=env, cwd=base)
    source = torch_source()
    constraint = base / "torch-constraint.txt"
    constraint.write_text(source.constraint_line())
    install_env = {**env, **source.uv_env(), "UV_CONSTRAINT": str(constraint)}
    _run([uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"), f"{wheel}[gate]", source.spec,
          *default_pins()], env=install_env, cwd=base)
    project = base / "project"  # the downstream repository: nothing of this checkout in it
    project.mkdir()
    return {"venv": venv, "project": project, "env": env}


def test_the_install_finds_its_matrices_suites_and_catalogue(downstream):
    python = str(downstream["venv"] / "bin" / "python")
    code = ("import json, compat, compat.resources as r; from compat.census import catalogue; "
            "print(json.dumps({'compat': compat.__file__, 'root': str(r.data_root()), "
            "'census_known': [k.id for k in catalogue.load()]}))")
    found = json.loads(_run([python, "-c", code], env=downstream["env"], cwd=downstream["project"]).stdout)
    site = downstream["venv"] / "lib"
    assert Path(found["compat"]).is_relative_to(site) and Path(found["root"]).is_relative_to(site), found
    assert Path(found["root"]).name == "_data"
    from compat.census import catalogue

    assert found["census_known"] == [k.id for k in catalogue.load()]  # the catalogue shipped whole

    listed = _run([python, "-m", "compat.matrix", "run", "--list", "--json"], env=downstream["env"],
                  cwd=downstream["project"]).stdout
    from compat.matrix.config import load_matrix

    expected = [c.name for c in load_matrix(PROJECT_ROOT / "matrices" / "default.toml").cells]
    assert [c["name"] for c in json.loads(listed)] == expected


def test_gate_a_saved_prompt_adapter_from_the_install(downstream):
    project, env = downstream["project"], downstream["env"]
    python = str(downstream["venv"] / "bin" / "python")
    _run([python, "-c", SAVE], env=env, cwd=project)
    command = [str(downstream["venv"] / "bin" / "peft-cache-compat"), "gate",
               "--from-python", python, "--to", *default_pins(),
               "--model", "model", "--adapter", "adapter", "--prompts", "prompts.txt", "--max-new-tokens", "3",
               "--suites", *SUITES, "--work", str(project.parent / "gate-work")]
    proc = subprocess.run(command, env=env, cwd=project, capture_output=True, text=True, timeout=900, check=False)
    report = json.loads((project / "reports" / "gate.json").read_text())  # ./reports: an install's default
    assert (proc.returncode, report["status"], report.get("verdict")) == (0, "verdict", "same"), (
        report.get("error"), proc.stdout[-3000:], proc.stderr[-3000:])
    assert Path(report["data_root"]).is_relative_to(downstream["venv"])
    assert report["baseline"]["python"] == python and not report["baseline"]["built"]
    assert report["candidate"]["built"]
    assert report["recorded"] == 1 and report["replay_counts"] == {"same": 1}
    suites = report["suites"]
    for side in ("baseline", "candidate"):
        assert suites[side]["status"] == "pass", suites[side]
        assert suites[side]["counts"].get("passed", 0) > 50, suites[side]["counts"]
        assert not suites[side]["missing_paths"]
    assert suites["baseline"]["counts"] == suites["candidate"]["counts"]
    assert not any("suites not" in note for note in report.get("notes", [])), report.get("notes")
    assert report["reproduce"].startswith("peft-cache-compat gate --from-python ")
    assert "Reproduce: `peft-cache-compat gate " in (project / "reports" / "gate.md").read_text()
