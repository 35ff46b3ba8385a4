"""Every malformed input gets a compat error naming the layer, what was expected and found."""

from __future__ import annotations

import pytest
import torch

from compat import CacheTypeError, CompatError, MalformedCacheError, UnsupportedModelError, to_cache, to_legacy


def t(*shape, dtype=torch.float32):
    return torch.zeros(*shape, dtype=dtype)


GOOD = (t(1, 2, 3, 4), t(1, 2, 3, 4))

CASES = [
    pytest.param((), MalformedCacheError, ["empty", "0 layers"], id="empty-tuple"),
    pytest.param([], MalformedCacheError, ["empty"], id="empty-list"),
    pytest.param("kv", CacheTypeError, ["past_key_values", "tuple", "str"], id="not-a-container"),
    pytest.param((GOOD, (t(1, 2, 5, 4), t(1, 2, 5, 4))), MalformedCacheError,
                 ["layer 1", "ragged", "expected 3", "found 5"], id="ragged-seq-len"),
    pytest.param(((t(1, 2, 3, 4), t(1, 2, 4, 4)),), MalformedCacheError,
                 ["layer 0", "key", "value", "(1, 2, 3, 4)", "(1, 2, 4, 4)"], id="key-value-shape"),
    pytest.param(((t(1, 2, 3, 4), t(1, 2, 3, 4, dtype=torch.float16)),), MalformedCacheError,
                 ["layer 0", "dtype", "torch.float32", "torch.float16"], id="key-value-dtype"),
    pytest.param((GOOD, (t(1, 2, 3, 4, dtype=torch.float16),) * 2), MalformedCacheError,
                 ["layer 1", "dtype", "expected torch.float32", "found torch.float16"], id="dtype-across-layers"),
    pytest.param(((t(1, 2, 3, 4), t(1, 2, 3, 4), t(1, 2, 3, 4)),), MalformedCacheError,
                 ["layer 0", "2-tuple", "4-tuple", "found a 3-tuple"], id="arity-3"),
    pytest.param(((t(1, 2, 3, 4),),), MalformedCacheError, ["layer 0", "found a 1-tuple"], id="arity-1"),
    pytest.param((GOOD, GOOD + GOOD), MalformedCacheError,
                 ["layer 1", "expected a 2-tuple", "found a 4-tuple", "mixed"], id="mixed-2-and-4"),
    pytest.param((GOOD, (t(2, 2, 3, 4), t(2, 2, 3, 4))), MalformedCacheError,
                 ["layer 1", "batch", "expected 1", "found 2"], id="batch-across-layers"),
    pytest.param(((t(1, 2, 3, 4), t(1, 2, 3, 4), t(2, 2, 5, 4), t(2, 2, 5, 4)),), MalformedCacheError,
                 ["layer 0", "cross-attention batch", "1", "found 2"], id="cross-batch"),
    pytest.param(((t(2, 3, 4), t(2, 3, 4)),), MalformedCacheError,
                 ["layer 0", "4-D key", "3-D", "(2, 3, 4)"], id="3d-tensors"),
    pytest.param(((t(1, 2, 3, 4), None),), CacheTypeError, ["layer 0", "value", "torch.Tensor", "None"],
                 id="none-value"),
    pytest.param(((t(1, 2, 3, 4), [[0.0]]),), CacheTypeError, ["layer 0", "value", "list"], id="list-value"),
    pytest.param((GOOD, 3), CacheTypeError, ["layer 1", "int"], id="int-layer"),
    pytest.param((t(3, 1, 2, 3, 4),), MalformedCacheError, ["layer 0", "[2, B, H, P, D]", "(3, 1, 2, 3, 4)"],
                 id="stacked-wrong-leading-dim"),
    pytest.param((t(1, 2, 3, 4),), MalformedCacheError, ["layer 0", "tensor of shape (1, 2, 3, 4)"],
                 id="bare-4d-tensor"),
]


@pytest.mark.parametrize("fn", [pytest.param(to_cache, id="to_cache"), pytest.param(to_legacy, id="to_legacy")])
@pytest.mark.parametrize("bad, exc, words", CASES)
def test_malformed_input_is_named(fn, bad, exc, words):
    with pytest.raises(exc) as info:
        fn(bad)
    assert isinstance(info.value, CompatError)
    message = str(info.value)
    missing = [w for w in words if w not in message]
    assert not missing, f"message {message!r} lacks {missing}"
    # raised by compat itself, not from deep inside torch
    assert info.traceback[-1].path.parts[-2] == "compat", info.traceback[-1].path


def test_device_mismatch_is_named():
    other = "meta"  # a second device that exists on every machine
    with pytest.raises(MalformedCacheError, match=r"layer 0: .*same device.*cpu.*meta"):
        to_cache(((t(1, 2, 3, 4), torch.zeros(1, 2, 3, 4, device=other)),))


def test_errors_are_builtin_subclasses():
    assert issubclass(MalformedCacheError, ValueError)
    assert issubclass(CacheTypeError, TypeError)
    assert issubclass(UnsupportedModelError, ValueError)


@pytest.mark.parametrize("kw", [pytest.param({"config": object()}, id="config-object"),
                                pytest.param({"model": object()}, id="model-object")])
def test_bad_model_or_config_is_named(kw):
    with pytest.raises(UnsupportedModelError, match="expected a transformers"):
        to_cache((GOOD,), **kw)
