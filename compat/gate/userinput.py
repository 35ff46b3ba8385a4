"""Check ``--model`` / ``--adapter`` / ``--prompts`` before any environment is built (torch-free).

Everything is read from the JSON files ``save_pretrained`` writes, so a bad
directory is refused in milliseconds with a message naming what is wrong and
what was expected (:class:`~compat.gate.errors.GateError`, exit code 2).

>>> check_shapes({"num_hidden_layers": 2, "hidden_size": 32, "num_attention_heads": 4},
...              {"num_layers": 2, "token_dim": 32, "num_attention_heads": 4, "task_type": "CAUSAL_LM"})
>>> check_shapes({"num_hidden_layers": 2, "hidden_size": 32, "num_attention_heads": 4},
...              {"num_layers": 12, "token_dim": 768, "num_attention_heads": 12, "task_type": "CAUSAL_LM"})
... # doctest: +NORMALIZE_WHITESPACE
Traceback (most recent call last):
...
compat.gate.errors.GateError: the adapter was trained for a different base model:
num_layers is 12 in adapter_config.json but the model has 2;
token_dim is 768 in adapter_config.json but the model has 32 (or 32 with grouped-query attention)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from compat.gate.errors import GateError
from compat.tools.jsonfiles import JsonFileError, read_json_object

__all__ = ["PROMPT_LEARNING_TYPES", "UserInput", "check_shapes", "check_user_input"]

PROMPT_LEARNING_TYPES = ("PREFIX_TUNING", "PROMPT_TUNING", "P_TUNING", "MULTITASK_PROMPT_TUNING")
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
REPLAYABLE_TASKS = ("CAUSAL_LM", "SEQ_2_SEQ_LM")


class UserInput(dict):
    """The checked paths and what was read from them (a plain dict, JSON-serialisable)."""


def _read_json(path: Path, what: str) -> dict[str, Any]:
    if not path.is_file():
        raise GateError(f"{what}: {path} is missing (expected a directory written by save_pretrained)")
    try:
        return read_json_object(path)
    except JsonFileError as exc:
        raise GateError(f"{what}: {exc}") from None


def _readable_dir(path: str, option: str) -> Path:
    p = Path(path).expanduser()
    if not p.exists():
        raise GateError(f"{option} {path}: no such directory")
    if not p.is_dir():
        raise GateError(f"{option} {path}: not a directory (expected a save_pretrained directory)")
    if not os.access(p, os.R_OK | os.X_OK):
        raise GateError(f"{option} {path}: directory is not readable (permission denied)")
    return p.resolve()


def _first(cfg: dict[str, Any], *keys: str):
    for key in keys:
        if cfg.get(key) is not None:
            return cfg[key]
    return None


def check_shapes(model_cfg: dict[str, Any], adapter_cfg: dict[str, Any]) -> None:
    """The adapter's recorded dimensions must fit the model (peft's own config keys)."""
    cfg = model_cfg.get("text_config") or model_cfg
    layers = _first(cfg, "num_hidden_layers", "num_layers", "n_layer")
    hidden = _first(cfg, "hidden_size", "n_embd", "d_model")
    heads = _first(cfg, "num_attention_heads", "n_head", "num_heads", "encoder_attention_heads")
    kv = _first(cfg, "num_key_value_heads") or heads
    head_dim = _first(cfg, "head_dim", "d_kv") or (hidden // heads if hidden and heads else None)
    problems = []
    want_layers = adapter_cfg.get("num_layers")
    if want_layers is not None and layers is not None and want_layers != layers:
        problems.append(f"num_layers is {want_layers} in adapter_config.json but the model has {layers}")
    token_dim = adapter_cfg.get("token_dim")
    allowed_dims = {hidden, (head_dim or 0) * (kv or 0), (head_dim or 0) * (heads or 0)} - {None, 0}
    if token_dim is not None and allowed_dims and token_dim not in allowed_dims:
        problems.append(
            f"token_dim is {token_dim} in adapter_config.json but the model has {hidden} "
            f"(or {(head_dim or 0) * (kv or 0)} with grouped-query attention)"
        )
    want_heads = adapter_cfg.get("num_attention_heads")
    if (want_heads is not None and heads is not None and not problems
            and want_heads not in {heads, kv}):
        problems.append(f"num_attention_heads is {want_heads} in adapter_config.json but the model has {heads}")
    task = adapter_cfg.get("task_type")
    is_seq2seq = bool(model_cfg.get("is_encoder_decoder"))
    if task == "SEQ_2_SEQ_LM" and not is_seq2seq:
        problems.append("task_type SEQ_2_SEQ_LM but the model is decoder-only")
    if task == "CAUSAL_LM" and is_seq2seq:
        problems.append("task_type CAUSAL_LM but the model is an encoder-decoder")
    if problems:
        raise GateError("the adapter was trained for a different base model: " + "; ".join(problems))


def check_user_input(model: str, adapter: str, prompts: str | None) -> UserInput:
    """Validate the three paths; returns what the report shows about them."""
    model_dir = _readable_dir(model, "--model")
    adapter_dir = _readable_dir(adapter, "--adapter")
    model_cfg = _read_json(model_dir / "config.json", "--model")
    if not any((model_dir / name).is_file() for name in
               ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")):
        raise GateError(f"--model {model}: no weights (model.safetensors or pytorch_model.bin) next to config.json")
    adapter_cfg = _read_json(adapter_dir / "adapter_config.json", "--adapter")
    peft_type = str(adapter_cfg.get("peft_type", ""))
    if peft_type not in PROMPT_LEARNING_TYPES:
        raise GateError(
            f"--adapter {adapter}: peft_type is {peft_type or 'missing'}, not prompt learning; the gate "
            f"replays {', '.join(PROMPT_LEARNING_TYPES)} adapters"
        )
    task = adapter_cfg.get("task_type")
    if task not in REPLAYABLE_TASKS:
        raise GateError(f"--adapter {adapter}: task_type {task!r} is not replayable; "
                        f"expected one of {REPLAYABLE_TASKS}")
    weights = [name for name in ADAPTER_WEIGHTS if (adapter_dir / name).is_file()]
    if not weights:
        raise GateError(f"--adapter {adapter}: no adapter weights ({' or '.join(ADAPTER_WEIGHTS)})")
    for name in weights:
        if not os.access(adapter_dir / name, os.R_OK):
            raise GateError(f"--adapter {adapter}: {name} is not readable (permission denied)")
    check_shapes(model_cfg, adapter_cfg)
    prompts_path = None
    if prompts is not None:
        prompts_path = Path(prompts).expanduser()
        if prompts_path.is_dir():
            raise GateError(f"--prompts {prompts}: is a directory; expected a text file with one prompt per line")
        if not prompts_path.is_file():
            raise GateError(f"--prompts {prompts}: no such file (expected one prompt per line)")
        try:
            text = prompts_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise GateError(f"--prompts {prompts}: cannot read it as UTF-8 text: {exc}") from None
        if not any(line.strip() for line in text.splitlines()):
            raise GateError(f"--prompts {prompts}: no non-empty lines (expected one prompt per line)")
        prompts_path = prompts_path.resolve()
    base_name = adapter_cfg.get("base_model_name_or_path")
    note = None
    if base_name and Path(str(base_name)).name not in {model_dir.name, str(model_cfg.get("_name_or_path", ""))}:
        note = (f"adapter_config.json names base model {base_name!r}; --model is {model_dir} "
                "(the shapes fit, so the gate goes on)")
    return UserInput(model=str(model_dir), adapter=str(adapter_dir),
                     prompts=str(prompts_path) if prompts_path else None, peft_type=peft_type,
                     task_type=task, model_type=model_cfg.get("model_type"), base_name_note=note)
