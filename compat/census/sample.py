"""The fixed CI sample: architectures ``tests/census`` runs in ``nox -s tests``. Chosen to cover
each kind of attention/cache the census distinguishes; a sample id the installed transformers
lacks is left out (and reported by :func:`missing`).

>>> len(SAMPLE) >= 20
True
>>> present(["llama", "t5"])
('llama', 't5')
"""

from __future__ import annotations

__all__ = ["SAMPLE", "missing", "present"]

#: id -> why it is in the sample
SAMPLE: dict[str, str] = {
    "llama": "reference dense decoder (RoPE, GQA-capable)",
    "gpt2": "learned absolute positions, Conv1D projections",
    "qwen3": "explicit head_dim != hidden/heads",
    "gemma3_text": "sliding/full hybrid attention",
    "gemma4_text": "Gemma 4: per-layer head dims, per-layer embeddings",
    "deepseek_v3": "multi-head latent attention (keys/values of different head dims)",
    "qwen3_next": "hybrid linear attention (gated DeltaNet) + full attention",
    "jamba": "hybrid Mamba + attention",
    "falcon_h1": "parallel Mamba-2 + attention",
    "gpt_oss": "attention sinks, sliding/full, mixture of experts",
    "minimax": "its own cache class (lightning/linear attention)",
    "mixtral": "mixture of experts",
    "phi3": "fused qkv projection",
    "bloom": "ALiBi positions",
    "falcon": "multi-query / ALiBi-capable falcon",
    "mamba": "pure SSM: no KV cache at all",
    "rwkv": "recurrent state, no KV cache",
    "t5": "encoder-decoder, relative position bias",
    "bart": "encoder-decoder, learned positions",
    "mt5": "encoder-decoder beyond T5/BART (T5 family, untied head)",
    "pegasus": "encoder-decoder beyond T5/BART (sinusoidal positions)",
    "whisper_causal": "decoder-only view of a speech model",
    "gpt_bigcode": "multi-query attention",
}


def present(available) -> tuple[str, ...]:
    """The sample ids that ``available`` (architecture ids) has, in sample order."""
    have = set(available)
    return tuple(a for a in SAMPLE if a in have)


def missing(available) -> tuple[str, ...]:
    have = set(available)
    return tuple(a for a in SAMPLE if a not in have)
