"""A Cache handed to to_cache comes back as a fresh object with the same tensors."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given

from compat import capabilities, to_cache, to_legacy
from tests.property.strategies import cache_shapes, make_legacy

if not capabilities().cache_utils:  # pragma: no cover - decided per install
    pytest.skip("not-applicable: this transformers has no Cache classes (no cache_utils)",
                allow_module_level=True)


@given(shape=cache_shapes())
def test_cache_in_fresh_cache_out(shape):
    legacy = make_legacy(shape)
    first = to_cache(legacy)
    if isinstance(first, tuple):  # 4-tuples before EncoderDecoderCache existed
        assert shape.encoder_decoder and "EncoderDecoderCache" not in capabilities().cache_classes
        return
    second = to_cache(first)
    assert second is not first and type(second) is type(first)
    for attr in ("self_attention_cache", "cross_attention_cache"):
        if hasattr(first, attr):
            assert getattr(second, attr) is not getattr(first, attr)
    for got, want in zip(to_legacy(second), legacy):
        assert all(torch.equal(a, b) for a, b in zip(got, want))
    assert second.get_seq_length() == first.get_seq_length() == shape.prefix_len
