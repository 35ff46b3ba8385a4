"""A prefix fits its model's config, and any one way of missing it is named at the right layer."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given

from compat import MalformedCacheError, to_cache, to_legacy
from tests.property.strategies import CacheShape, make_legacy, make_misfit, misfits


def llama_config(shape: CacheShape):
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=96, hidden_size=shape.heads * shape.head_dim, num_hidden_layers=shape.layers,
                       num_attention_heads=shape.heads, num_key_value_heads=shape.kv_heads, head_dim=shape.head_dim,
                       intermediate_size=8)


@given(case=misfits())
def test_fit_passes_and_each_misfit_is_named(case):
    shape, misfit = case
    cfg = llama_config(shape)
    legacy = make_legacy(shape)
    back = to_legacy(to_cache(legacy, config=cfg), config=cfg)
    assert len(back) == shape.layers
    assert all(torch.equal(a, b) for got, want in zip(back, legacy) for a, b in zip(got, want))

    with pytest.raises(MalformedCacheError, match=rf"^layer {misfit.layer}\b") as info:
        to_cache(make_misfit(shape, misfit), config=cfg)
    message = str(info.value)
    if misfit.kind.endswith("layers"):
        assert f"expected {shape.layers} layers (from config num_hidden_layers={shape.layers})" in message
    else:
        assert f"expected {shape.kv_heads} KV heads x {shape.head_dim} dims" in message, message
        assert f"num_key_value_heads={shape.kv_heads}, head_dim={shape.head_dim}" in message, message
