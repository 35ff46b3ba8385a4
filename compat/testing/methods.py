"""PEFT prompt-learning methods for the equivalence suites.

Each method id maps to a peft config; :func:`method_available` says by feature
detection whether the installed peft has it. :func:`wrap` returns a PEFT model
in eval mode whose virtual-prompt weights are drawn from a fixed seed and large
enough to change the greedy output (the suites assert that they do, so a path
that silently ignores the prompt cannot pass).

>>> METHODS
('prefix', 'prefix_proj', 'prompt', 'prompt_text', 'ptuning_mlp', 'ptuning_lstm', 'mpt')
>>> is_prefix("prefix_proj"), is_prefix("prompt")
(True, False)
>>> method_available("prefix")
(True, '')
"""

from __future__ import annotations

import functools
import os
import tempfile
from typing import Any

__all__ = [
    "METHODS",
    "NUM_VIRTUAL_TOKENS",
    "PREFIX_METHODS",
    "PROMPT_METHODS",
    "TEXT_INIT",
    "is_prefix",
    "method_available",
    "needs_task_ids",
    "peft_config",
    "tiny_tokenizer_dir",
    "wrap",
]

METHODS = ("prefix", "prefix_proj", "prompt", "prompt_text", "ptuning_mlp", "ptuning_lstm", "mpt")
PREFIX_METHODS = ("prefix", "prefix_proj")
PROMPT_METHODS = tuple(m for m in METHODS if m not in PREFIX_METHODS)
NUM_VIRTUAL_TOKENS = 4
# A text of exactly NUM_VIRTUAL_TOKENS words of the tiny tokenizer.
TEXT_INIT = "w10 w11 w12 w13"
_WORDS = ["<pad>", "<s>", "</s>", "<unk>"] + [f"w{i}" for i in range(4, 96)]

# method -> (peft config class, required extra attribute of peft, description)
_SPEC = {
    "prefix": ("PrefixTuningConfig", None, "prefix tuning, prefix_projection=False"),
    "prefix_proj": ("PrefixTuningConfig", None, "prefix tuning, prefix_projection=True (MLP reparametrisation)"),
    "prompt": ("PromptTuningConfig", None, "prompt tuning, random init"),
    "prompt_text": ("PromptTuningConfig", "PromptTuningInit", "prompt tuning, text init (tiny offline tokenizer)"),
    "ptuning_mlp": ("PromptEncoderConfig", "PromptEncoderReparameterizationType", "p-tuning, MLP encoder"),
    "ptuning_lstm": ("PromptEncoderConfig", "PromptEncoderReparameterizationType", "p-tuning, LSTM encoder"),
    "mpt": ("MultitaskPromptTuningConfig", None, "multitask prompt tuning (2 tasks, task_ids)"),
}


def is_prefix(method: str) -> bool:
    """Prefix tuning (KV prefix) rather than a virtual-embedding prompt."""
    _check(method)
    return method in PREFIX_METHODS


def needs_task_ids(method: str) -> bool:
    """Multitask prompt tuning needs ``task_ids`` in forward and generate."""
    _check(method)
    return method == "mpt"


def _check(method: str) -> None:
    if method not in _SPEC:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")


@functools.cache
def method_available(method: str) -> tuple[bool, str]:
    """``(True, "")`` if the installed peft offers the method, else ``(False, reason)``."""
    _check(method)
    import peft

    cls_name, extra, _ = _SPEC[method]
    for name in (cls_name, extra):
        if name and not hasattr(peft, name):
            return False, f"peft {peft.__version__} has no {name}"
    if method == "prompt_text":
        try:
            import tokenizers  # noqa: F401
        except ImportError:
            return False, "the tokenizers package is not installed (text init needs a tokenizer)"
    return True, ""


@functools.cache
def tiny_tokenizer_dir() -> str:
    """A directory holding a tiny offline WordLevel tokenizer (4 specials, w4 .. w95).

    >>> from transformers import AutoTokenizer
    >>> tok = AutoTokenizer.from_pretrained(tiny_tokenizer_dir())
    >>> tok(TEXT_INIT, add_special_tokens=False)["input_ids"]
    [10, 11, 12, 13]
    """
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(_WORDS)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", bos_token="<s>",
                                   eos_token="</s>")
    path = tempfile.mkdtemp(prefix="pcc-tiny-tokenizer-")
    fast.save_pretrained(path)
    return path


def peft_config(method: str, model: Any, *, num_virtual_tokens: int = NUM_VIRTUAL_TOKENS) -> Any:
    """The peft config for ``method`` on ``model`` (task type from the model)."""
    ok, why = method_available(method)
    if not ok:
        raise ValueError(f"method {method!r} not available: {why}")
    import peft

    enc_dec = bool(getattr(model.config, "is_encoder_decoder", False))
    common = {"task_type": "SEQ_2_SEQ_LM" if enc_dec else "CAUSAL_LM", "num_virtual_tokens": num_virtual_tokens}
    cls = getattr(peft, _SPEC[method][0])
    if method == "prefix":
        return cls(**common, prefix_projection=False)
    if method == "prefix_proj":
        return cls(**common, prefix_projection=True, encoder_hidden_size=24)
    if method == "prompt":
        return cls(**common, prompt_tuning_init=peft.PromptTuningInit.RANDOM)
    if method == "prompt_text":
        return cls(**common, prompt_tuning_init=peft.PromptTuningInit.TEXT, prompt_tuning_init_text=TEXT_INIT,
                   tokenizer_name_or_path=tiny_tokenizer_dir())
    if method in ("ptuning_mlp", "ptuning_lstm"):
        kind = "MLP" if method == "ptuning_mlp" else "LSTM"
        return cls(**common, encoder_reparameterization_type=getattr(peft.PromptEncoderReparameterizationType, kind),
                   encoder_hidden_size=24)
    # mpt
    return cls(**common, num_tasks=2, num_ranks=1, prompt_tuning_init="RANDOM")


def wrap(model: Any, method: str, *, seed: int = 0, num_virtual_tokens: int = NUM_VIRTUAL_TOKENS) -> Any:
    """A PEFT model around ``model`` (which it shares), eval mode, seeded weights.

    Random-init prompt weights are redrawn from ``seed`` with a scale that makes
    them matter: N(0, 1) for embeddings and low-rank MPT factors (the base
    model's word embeddings are N(0, 0.2)); text init keeps its real token
    embeddings; the prefix-projection MLP is redrawn with unit-scale outputs;
    p-tuning encoders (MLP/LSTM) keep peft's init drawn from ``seed``.
    """
    import peft
    import torch

    cfg = peft_config(method, model, num_virtual_tokens=num_virtual_tokens)
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        pm = peft.get_peft_model(model, cfg)
        gen = torch.Generator().manual_seed(seed + 1)
        enc = pm.prompt_encoder[pm.active_adapter]
        with torch.no_grad():
            for name, p in enc.named_parameters():
                if method == "prompt_text" and name.endswith("embedding.weight"):
                    continue
                if method == "mpt" and "prefix_task" in name:
                    p.copy_(torch.randn(p.shape, generator=gen) + 1.0)
                elif name.endswith("embedding.weight") and method in ("prefix", "prompt", "mpt"):
                    p.copy_(torch.randn(p.shape, generator=gen))
                elif method == "prefix_proj":  # the MLP's default init gives a near-zero prefix
                    p.copy_(torch.randn(p.shape, generator=gen) * (1.0 if p.dim() < 2 else p.shape[1] ** -0.5 * 2))
    finally:
        torch.random.set_rng_state(state)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    return pm.eval()
