"""Hypothesis strategies shared by every property test (the ONE place for them).

Shapes follow the legacy ``past_key_values`` conventions: per layer ``(k, v)``
``[B, H_kv, S, D]`` (decoder-only) or ``(sk, sv, ck, cv)`` (encoder-decoder,
cross length independent of the prefix length).
"""

from __future__ import annotations

import dataclasses

import torch
from hypothesis import strategies as st

__all__ = ["DTYPES", "MISFIT_KINDS", "CacheShape", "Misfit", "ModelShape", "cache_shapes", "legacy_caches",
           "legacy_forms", "make_legacy", "make_misfit", "misfits", "model_shapes", "peft_stacked"]

DTYPES = (torch.float32, torch.float16, torch.bfloat16)


@dataclasses.dataclass(frozen=True)
class CacheShape:
    batch: int
    layers: int
    heads: int  # query heads
    kv_heads: int  # == heads (MHA), a divisor (GQA) or 1 (MQA)
    head_dim: int  # independent of any hidden size
    prefix_len: int
    cross_len: int  # 0 for decoder-only
    dtype: torch.dtype
    seed: int

    @property
    def encoder_decoder(self) -> bool:
        return self.cross_len > 0

    @property
    def attention(self) -> str:
        return "mha" if self.kv_heads == self.heads else "mqa" if self.kv_heads == 1 else "gqa"


@st.composite
def cache_shapes(draw, encoder_decoder: bool | None = None) -> CacheShape:
    """Batch 1-4, layers 1-4, MHA/GQA/MQA, head_dim 1-16, prefix 1-8, fp32/fp16/bf16."""
    heads = draw(st.sampled_from([1, 2, 4, 6, 8]))
    kv_heads = draw(st.sampled_from(sorted({heads, 1, *[d for d in range(1, heads + 1) if heads % d == 0]})))
    if encoder_decoder is None:
        encoder_decoder = draw(st.booleans())
    return CacheShape(
        batch=draw(st.integers(1, 4)),
        layers=draw(st.integers(1, 4)),
        heads=heads,
        kv_heads=kv_heads,
        head_dim=draw(st.integers(1, 16)),
        prefix_len=draw(st.integers(1, 8)),
        cross_len=draw(st.integers(1, 8)) if encoder_decoder else 0,
        dtype=draw(st.sampled_from(DTYPES)),
        seed=draw(st.integers(0, 2**16)),
    )


def make_legacy(shape: CacheShape) -> tuple:
    """Random standard-layout legacy tuples for ``shape`` (deterministic in ``shape.seed``)."""
    g = torch.Generator().manual_seed(shape.seed)

    def t(seq: int) -> torch.Tensor:
        dims = (shape.batch, shape.kv_heads, seq, shape.head_dim)
        return torch.randn(dims, generator=g).to(shape.dtype)

    layers = []
    for _ in range(shape.layers):
        layer = (t(shape.prefix_len), t(shape.prefix_len))
        if shape.encoder_decoder:
            layer += (t(shape.cross_len), t(shape.cross_len))
        layers.append(layer)
    return tuple(layers)


def peft_stacked(legacy: tuple) -> tuple:
    """PEFT's ``get_prompt`` form: per layer one ``[2|4, B, H, P, D]`` tensor (needs equal S)."""
    return tuple(torch.stack(layer) for layer in legacy)


def legacy_caches(encoder_decoder: bool | None = None):
    """(shape, standard legacy tuples)."""
    return cache_shapes(encoder_decoder).map(lambda s: (s, make_legacy(s)))


#: how the same layers can be handed over: tuples, lists, PEFT stacked tensors.
legacy_forms = st.sampled_from(["tuple", "list", "peft-stacked"])


# --- model-level shapes (appended by the suites helper; used by test_prefix_models.py)


@dataclasses.dataclass(frozen=True)
class ModelShape:
    """A tiny model + prefix-tuning setup; every field drawn independently."""

    batch: int
    num_virtual_tokens: int
    input_len: int
    layers: int
    heads: int
    kv_heads: int  # a divisor of heads (MHA, GQA or MQA); only used where the family has KV heads
    head_dim: int  # even (RoPE); independent of the hidden size where the family has head_dim
    seed: int


@st.composite
def model_shapes(draw) -> ModelShape:
    """Batch 1-3, 1-6 virtual tokens, input 1-6, layers 1-3, heads 1-4, KV heads | heads, head_dim 2-12."""
    heads = draw(st.sampled_from([1, 2, 4]))
    return ModelShape(
        batch=draw(st.integers(1, 3)),
        num_virtual_tokens=draw(st.integers(1, 6)),
        input_len=draw(st.integers(1, 6)),
        layers=draw(st.integers(1, 3)),
        heads=heads,
        kv_heads=draw(st.sampled_from([d for d in range(1, heads + 1) if heads % d == 0])),
        head_dim=draw(st.sampled_from([2, 4, 6, 8, 12])),
        seed=draw(st.integers(0, 2**16)),
    )


# --- prefixes that do not fit their model (used by test_fit.py)


#: how a prefix can miss its model: a layer count off either way, or one layer's shape.
MISFIT_KINDS = ("fewer-layers", "more-layers", "kv-heads", "key-dim", "value-dim")


@dataclasses.dataclass(frozen=True)
class Misfit:
    kind: str  # one of MISFIT_KINDS
    layer: int  # the first layer that does not fit: the one the error must name
    delta: int  # layers dropped/added, or heads/dims added


@st.composite
def misfits(draw) -> tuple[CacheShape, Misfit]:
    """A decoder-only shape (the model; head_dim even, as RoPE configs require) and one way a prefix misses it."""
    shape = draw(cache_shapes(encoder_decoder=False))
    shape = dataclasses.replace(shape, head_dim=draw(st.sampled_from([2, 4, 6, 8, 12, 16])))
    kind = draw(st.sampled_from(MISFIT_KINDS))
    if kind == "fewer-layers":
        if shape.layers == 1:
            shape = dataclasses.replace(shape, layers=draw(st.integers(2, 4)))
        keep = draw(st.integers(1, shape.layers - 1))
        return shape, Misfit(kind, keep, shape.layers - keep)
    if kind == "more-layers":
        return shape, Misfit(kind, shape.layers, draw(st.integers(1, 3)))
    return shape, Misfit(kind, draw(st.integers(0, shape.layers - 1)), draw(st.integers(1, 3)))


def make_misfit(shape: CacheShape, misfit: Misfit) -> tuple:
    """``make_legacy(shape)`` changed as ``misfit`` says (all else consistent)."""
    legacy = list(make_legacy(shape))
    if misfit.kind == "fewer-layers":
        return tuple(legacy[: misfit.layer])
    if misfit.kind == "more-layers":
        return tuple(legacy + legacy[:1] * misfit.delta)
    heads = shape.kv_heads + (misfit.delta if misfit.kind == "kv-heads" else 0)
    key_dim = shape.head_dim + (misfit.delta if misfit.kind == "key-dim" else 0)
    value_dim = shape.head_dim + (misfit.delta if misfit.kind == "value-dim" else 0)

    def t(dim: int) -> torch.Tensor:
        return torch.zeros(shape.batch, heads, shape.prefix_len, dim, dtype=shape.dtype)

    legacy[misfit.layer] = (t(key_dim), t(value_dim))
    return tuple(legacy)
