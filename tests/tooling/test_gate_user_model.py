"""``--model/--adapter``: a tiny GPT-2 + prefix-tuning adapter saved into tmp_path, replayed by the
CLI with the current interpreter as both sides (no environment is built)."""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest

pytestmark = pytest.mark.skipif(
    not all(importlib.util.find_spec(m) for m in ("torch", "transformers", "peft", "safetensors")),
    reason="not-applicable: the gate's in-environment half needs torch, transformers, peft and safetensors",
)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    import torch
    import transformers
    from peft import PrefixTuningConfig, get_peft_model

    root = tmp_path_factory.mktemp("user")
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=96, n_embd=32, n_layer=2, n_head=4, n_positions=64)
    model = transformers.GPT2LMHeadModel(config).eval()
    model.save_pretrained(root / "model")
    get_peft_model(model, PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=4)).save_pretrained(
        root / "adapter")
    (root / "prompts.txt").write_text("5 6 7 8\n\n9 10 11\n")
    return root


def test_user_model_gate_same_on_identical_sides(saved, tmp_path, capsys):
    from compat.gate.cli import main

    reports = tmp_path / "reports"
    code = main(["--from-python", sys.executable, "--to-python", sys.executable,
                 "--model", str(saved / "model"), "--adapter", str(saved / "adapter"),
                 "--prompts", str(saved / "prompts.txt"), "--max-new-tokens", "3", "--no-suites",
                 "--reports", str(reports), "--work", str(tmp_path / "work")])
    report = json.loads((reports / "gate.json").read_text())
    assert (code, report["status"], report["verdict"]) == (0, "verdict", "same"), report.get("error")
    assert report["recorded"] == 1 and report["replay_counts"] == {"same": 1}
    case = report["replay"]["cases"][0]
    outputs = {d["output"] for d in case["outputs"]}
    # two prompts (the empty line is dropped), each with logits and three generations
    assert {"g0.logits", "g1.logits", "g0.greedy", "g0.beam", "g1.sample"} <= outputs
    assert "not run (--no-suites)" in (reports / "gate.md").read_text()


def test_user_model_replay_detects_a_changed_adapter(saved, tmp_path):
    """In-process: record, then perturb the saved adapter (as a broken load would), replay."""
    import shutil

    from safetensors.torch import load_file, save_file

    from compat.gate.cases import user_case
    from compat.gate.golden import record_cases, replay_golden

    adapter = tmp_path / "adapter"
    shutil.copytree(saved / "adapter", adapter)
    case = user_case(saved / "model", adapter, saved / "prompts.txt", max_new_tokens=3)
    assert record_cases([case], tmp_path / "golden")["cases"][0]["status"] == "recorded"
    weights = load_file(str(adapter / "adapter_model.safetensors"))
    save_file({k: v * 3 for k, v in weights.items()}, str(adapter / "adapter_model.safetensors"))
    result = replay_golden(tmp_path / "golden")["cases"][0]
    assert result["status"] == "changed"
    changed = {d["output"]: d for d in result["outputs"] if d["status"] != "same"}
    assert changed["g0.logits"]["max_abs"] > 1e-3
    assert "g0.base_logits" not in changed, "the base model did not change, only the adapter"


def test_text_prompts_go_through_the_model_directorys_tokenizer(saved, tmp_path):
    import shutil

    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from compat.gate.cases import user_case

    model_dir = tmp_path / "model"
    shutil.copytree(saved / "model", model_dir)
    vocab = {"[UNK]": 0, "hello": 5, "world": 6, "again": 7}
    raw = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=raw, unk_token="[UNK]").save_pretrained(model_dir)
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("hello world\nworld again hello\n")
    case = user_case(model_dir, saved / "adapter", prompts)
    assert [g["input_ids"] for g in case.inputs] == [[[5, 6]], [[6, 7, 5]]]
    default = user_case(model_dir, saved / "adapter", None)
    assert len(default.inputs) == 2, "built-in prompts through the tokenizer when --prompts is absent"


def test_renamed_state_dict_key_is_a_clear_strict_load_error(saved, tmp_path):
    import shutil

    from safetensors.torch import load_file, save_file

    from compat.gate.cases import user_case
    from compat.gate.replay import LoadMismatchError, load_case

    model_dir = tmp_path / "model"
    shutil.copytree(saved / "model", model_dir)
    weights = load_file(str(model_dir / "model.safetensors"))
    key = next(k for k in weights if k.endswith("attn.c_attn.weight"))
    weights[key.replace("c_attn", "qkv_proj")] = weights.pop(key)
    save_file(weights, str(model_dir / "model.safetensors"), metadata={"format": "pt"})
    case = user_case(model_dir, saved / "adapter", None)
    with pytest.raises(LoadMismatchError, match="qkv_proj") as info:
        load_case(case, tmp_path)
    assert "missing_keys" in str(info.value) and "unexpected_keys" in str(info.value)
