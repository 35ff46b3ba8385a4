"""Build the cases a gate replays (in-env, torch): the tiny zoo, or the user's model.

Zoo cases: each family of :mod:`compat.testing.zoo` that the baseline can
build, wrapped with each single-task prompt-learning method of
:mod:`compat.testing.methods` (prefix with and without projection, prompt
tuning with random and text init, p-tuning with MLP and LSTM encoders),
saved with ``save_pretrained`` (safetensors): the base model's weights and
``config.json`` (which rebuilds the architecture on another version; seeds
would not, since initialisation changes between releases) and the adapter.

User case: ``--model DIR --adapter DIR``; inputs from ``--prompts FILE`` (one
per line: text when the model directory has a tokenizer, else space-separated
token ids) or, without a prompts file, built-in prompts through the model's
tokenizer, or fixed token ids when it has none.
"""

from __future__ import annotations

import json
from pathlib import Path

from compat.gate.replay import Case

__all__ = ["DEFAULT_PROMPTS", "METHODS", "fixed_ids", "user_case", "zoo_cases"]

DEFAULT_PROMPTS = ("The quick brown fox", "Once upon a time, there was")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "spiece.model", "tokenizer.model")


def fixed_ids(vocab: int, rows: int, length: int, salt: int = 0) -> list[list[int]]:
    """Deterministic token ids in ``[3, vocab)`` (ids 0-2 are often pad/bos/eos).

    >>> fixed_ids(96, 2, 4)
    [[3, 40, 77, 21], [14, 51, 88, 32]]
    """
    span = max(vocab - 3, 1)
    return [[3 + (37 * k + 11 * r + 13 * salt) % span for k in range(length)] for r in range(rows)]


def _group(ids: list[list[int]], decoder_start: int | None) -> dict:
    group = {"input_ids": ids, "attention_mask": [[1] * len(row) for row in ids]}
    if decoder_start is not None:
        group["decoder_input_ids"] = [[decoder_start, *row[:3]] for row in ids]
    return group


def _decoder_start(config) -> int | None:
    if not getattr(config, "is_encoder_decoder", False):
        return None
    start = getattr(config, "decoder_start_token_id", None)
    if start is None:
        start = getattr(config, "pad_token_id", None) or 0
    return int(start)


def zoo_cases(
    out_dir: Path,
    families: list[str] | None = None,
    methods: list[str] | None = None,
    *,
    max_new_tokens: int = 6,
) -> tuple[list[Case], dict[str, str]]:
    """Save every zoo family x method under ``out_dir/artifacts``; return cases + not-applicable.

    Methods come from :mod:`compat.testing.methods` (``wrap``: seeded weights large
    enough to change the greedy output); the default is every single-task method.
    """
    from compat.testing import methods as method_lib
    from compat.testing import zoo

    out_dir = Path(out_dir)
    families = list(families or zoo.FAMILY_IDS)
    unknown = [f for f in families if f not in zoo.FAMILY_IDS]
    if unknown:
        raise ValueError(f"unknown famil(y/ies) {unknown}; expected some of {', '.join(zoo.FAMILY_IDS)}")
    method_ids = list(methods or METHODS)
    unknown = [m for m in method_ids if m not in method_lib.METHODS]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; expected some of {', '.join(method_lib.METHODS)}")
    cases: list[Case] = []
    skipped: dict[str, str] = {}
    for method in method_ids:
        ok, why = method_lib.method_available(method)
        if not ok:
            skipped[method] = f"not-applicable: {why}"
        elif method_lib.needs_task_ids(method):
            skipped[method] = ("not-applicable: multitask prompt tuning needs task_ids in every call; "
                               "the gate replays single-task adapters")
    method_ids = [m for m in method_ids if m not in skipped]
    for fam in families:
        ok, why = zoo.family_available(fam)
        if not ok:
            skipped[fam] = f"not-applicable: {why}"
            continue
        model = zoo.build(fam, seed=0)
        model_dir = out_dir / "artifacts" / fam / "model"
        model.save_pretrained(str(model_dir), safe_serialization=True)
        task = "SEQ_2_SEQ_LM" if zoo.is_encoder_decoder(fam) else "CAUSAL_LM"
        inputs = [_group(fixed_ids(zoo.VOCAB, 2, 5), _decoder_start(model.config))]
        for method in method_ids:
            case_id = f"{fam}-{method}"
            try:
                peft_model = method_lib.wrap(zoo.build(fam, seed=0), method, seed=0)
            except Exception as exc:
                skipped[case_id] = f"error: the adapter could not be built on the baseline: {type(exc).__name__}: {exc}"
                continue
            adapter_dir = out_dir / "artifacts" / case_id / "adapter"
            peft_model.save_pretrained(str(adapter_dir), safe_serialization=True)
            cases.append(Case(
                id=case_id, model_dir=str(model_dir.relative_to(out_dir)),
                adapter_dir=str(adapter_dir.relative_to(out_dir)), task_type=task, inputs=inputs,
                max_new_tokens=max_new_tokens, family=fam, method=method,
            ))
    return cases, skipped


#: The methods a zoo gate replays by default (:data:`compat.testing.methods.METHODS` less multitask).
METHODS = ("prefix", "prefix_proj", "prompt", "prompt_text", "ptuning_mlp", "ptuning_lstm")


def _has_tokenizer(model_dir: Path) -> bool:
    return any((model_dir / name).is_file() for name in TOKENIZER_FILES)


def user_case(model_dir: Path, adapter_dir: Path, prompts_file: Path | None, *, max_new_tokens: int = 8) -> Case:
    """One case for the user's model + adapter (absolute paths); raises ``ValueError`` on bad input."""
    import transformers

    model_dir, adapter_dir = Path(model_dir).resolve(), Path(adapter_dir).resolve()
    adapter_cfg = json.loads((adapter_dir / "adapter_config.json").read_text())
    config = transformers.AutoConfig.from_pretrained(str(model_dir))
    start = _decoder_start(config)
    tokenizer = None
    if _has_tokenizer(model_dir):
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(model_dir))
    if prompts_file is not None:
        lines = [ln.rstrip("\n") for ln in Path(prompts_file).read_text(encoding="utf-8").splitlines()]
        lines = [ln for ln in lines if ln.strip()]
        if not lines:
            raise ValueError(f"--prompts {prompts_file}: no non-empty lines")
    else:
        lines = None
    groups = []
    if tokenizer is not None:
        for text in lines or DEFAULT_PROMPTS:
            ids = tokenizer(text, add_special_tokens=True)["input_ids"]
            if not ids:
                raise ValueError(f"--prompts: {text!r} tokenises to nothing")
            groups.append(_group([list(ids)], start))
    elif lines is not None:
        for number, text in enumerate(lines, 1):
            try:
                ids = [int(tok) for tok in text.split()]
            except ValueError:
                raise ValueError(
                    f"--prompts {prompts_file}:{number}: {model_dir} has no tokenizer, so each line must "
                    f"be space-separated token ids; got {text[:60]!r}"
                ) from None
            if any(not 0 <= i < config.vocab_size for i in ids):
                raise ValueError(f"--prompts {prompts_file}:{number}: ids must be in [0, {config.vocab_size})")
            groups.append(_group([ids], start))
    else:
        groups = [_group(fixed_ids(config.vocab_size, 1, 6, salt), start) for salt in range(2)]
    return Case(
        id="user-model", model_dir=str(model_dir), adapter_dir=str(adapter_dir),
        task_type=str(adapter_cfg.get("task_type")), inputs=groups, max_new_tokens=max_new_tokens,
        method=str(adapter_cfg.get("peft_type")),
    )
