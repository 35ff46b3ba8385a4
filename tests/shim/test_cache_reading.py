"""Reading caches: empty caches, fixed-size caches at their edges, a cache class the shim cannot read, lists.

Found by the mutation run (docs/mutation.md): no test handed ``to_cache`` an empty cache, a
fixed-size cache holding exactly one token, one whose later layers were never written, or a
Cache subclass that is neither dynamic nor fixed-size.
"""

from __future__ import annotations

import pytest
import torch

from compat import CacheTypeError, to_cache, to_legacy
from compat import _transformers as features
from compat.testing import zoo

needs_cache = pytest.mark.skipif(features.cache_utils() is None,
                                 reason="not-applicable: no transformers Cache classes")
needs_edc = pytest.mark.skipif(features.encoder_decoder_cache_class() is None,
                               reason="not-applicable: no EncoderDecoderCache in this transformers")


@needs_cache
def test_empty_dynamic_cache_gives_a_fresh_empty_one():
    empty = features.dynamic_cache_class()()
    out = to_cache(empty)
    assert type(out) is type(empty) and out is not empty
    assert to_legacy(out) == () and out.get_seq_length() == 0


@needs_edc
def test_empty_encoder_decoder_cache_gives_a_fresh_empty_one():
    dynamic = features.dynamic_cache_class()
    empty = features.encoder_decoder_cache_class()(dynamic(), dynamic())
    out = to_cache(empty)
    assert type(out) is type(empty) and out is not empty
    for part in (out.self_attention_cache, out.cross_attention_cache):
        assert type(part) is dynamic and part is not empty.self_attention_cache and to_legacy(part) == ()


@needs_cache
def test_a_cache_class_without_layers_is_named():
    class OddCache(features.cache_utils().Cache):
        def __init__(self):  # neither layers (4.54+) nor key_cache lists (4.36-4.53)
            pass

    with pytest.raises(CacheTypeError) as info:
        to_legacy(OddCache())
    assert str(info.value) == "expected a DynamicCache or EncoderDecoderCache, found OddCache"


def _static_cache(max_cache_len: int):
    """A model-wide StaticCache for the zoo Llama (skips where this transformers has none)."""
    cache = zoo.static_cache("llama", max_cache_len=max_cache_len, batch=1)
    if cache is None:
        pytest.skip("not-applicable: no StaticCache in this transformers")
    if not (hasattr(cache, "layers") or isinstance(getattr(cache, "key_cache", None), (list, tuple))):
        pytest.skip("not-applicable: this transformers' StaticCache holds one layer")
    return cache


def _kv(seq: int, seed: int):
    d = zoo.dims(zoo.config_for("llama"))
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(1, d.kv_heads, seq, d.head_dim, generator=g),
            torch.randn(1, d.kv_heads, seq, d.head_dim, generator=g))


def test_static_cache_holding_one_token_reads_that_token():
    cache = _static_cache(4)
    layers = [_kv(1, i) for i in range(zoo.dims(zoo.config_for("llama")).layers)]
    for i, (k, v) in enumerate(layers):
        cache.update(k, v, i, {"cache_position": torch.arange(1)})
    back = to_legacy(cache)
    assert len(back) == len(layers)
    for (k, v), (bk, bv) in zip(layers, back):
        assert torch.equal(bk, k) and torch.equal(bv, v)


def test_static_cache_with_an_unwritten_layer_is_named():
    cache = _static_cache(4)
    k, v = _kv(2, 0)
    cache.update(k, v, 0, {"cache_position": torch.arange(2)})  # layer 1 never written
    layer_1 = cache.layers[1].keys if hasattr(cache, "layers") else cache.key_cache[1]
    if layer_1 is not None:
        pytest.skip("not-applicable: this transformers allocates every StaticCache layer up front (an unwritten "
                    "layer reads as zeros, indistinguishable from written zeros)")
    with pytest.raises(CacheTypeError) as info:
        to_legacy(cache)
    assert str(info.value) == (
        "layer 1: StaticCache holds 2 tokens but this layer stores nothing; expected room for more than the "
        "sequence (a full or rolled window has lost the prefix)"
    )


def test_full_static_cache_message():
    cache = _static_cache(2)
    for i in range(zoo.dims(zoo.config_for("llama")).layers):
        cache.update(*_kv(2, i), i, {"cache_position": torch.arange(2)})
    with pytest.raises(CacheTypeError) as info:
        to_legacy(cache)
    d = zoo.dims(zoo.config_for("llama"))
    assert str(info.value) == (
        f"layer 0: StaticCache holds 2 tokens but this layer stores shape (1, {d.kv_heads}, 2, {d.head_dim}); "
        "expected room for more than the sequence (a full or rolled window has lost the prefix)"
    )


@pytest.mark.parametrize("form", [pytest.param(list, id="list-of-lists"), pytest.param(tuple, id="tuple-of-lists")])
def test_legacy_lists_come_back_as_tuples(form):
    """to_legacy's contract is standard-layout tuples (what every transformers' legacy API takes), whatever
    sequence type the layers came in; the tensors are the caller's own."""
    k, v = torch.zeros(1, 2, 3, 4), torch.ones(1, 2, 3, 4)
    back = to_legacy(form([[k, v], [k, v]]))
    assert type(back) is tuple and [type(layer) for layer in back] == [tuple, tuple]
    assert all(a is k and b is v for a, b in back)


@needs_cache
def test_a_quantized_cache_is_refused_with_the_reason():
    """A QuantizedCache keeps its tensors quantised (only the residual is readable). Built here without a
    quantisation backend (``__new__``: the shim decides by class, and reads nothing before refusing)."""
    quantized = getattr(features.cache_utils(), "QuantizedCache", None)
    if quantized is None:
        pytest.skip("not-applicable: no QuantizedCache in this transformers")
    cache = quantized.__new__(quantized)
    for call in (to_legacy, to_cache):
        with pytest.raises(CacheTypeError) as info:
            call(cache)
        assert str(info.value) == ("expected a DynamicCache or EncoderDecoderCache, found QuantizedCache "
                                   "(its tensors are quantised; only the residual is readable)")


@needs_cache
def test_a_layer_that_keeps_no_keys_is_named():
    """A hybrid linear-attention model's own DynamicCache (5.x: ``DynamicCache(config=...)`` of Qwen3-Next)
    has layers that keep a recurrent state instead of keys and values; read without ``model=``, the shim
    names that layer and its class instead of failing on a missing attribute."""
    import inspect

    import transformers

    cls = features.dynamic_cache_class()
    mapping = transformers.models.auto.configuration_auto.CONFIG_MAPPING
    if "config" not in inspect.signature(cls.__init__).parameters or "qwen3_next" not in mapping:
        pytest.skip("not-applicable: no DynamicCache(config=...) or no Qwen3-Next in this transformers")
    cache = cls(config=mapping["qwen3_next"]())
    stateful = [(i, type(layer).__name__) for i, layer in enumerate(cache.layers) if not hasattr(layer, "keys")]
    if not stateful:
        pytest.skip("not-applicable: every layer of this transformers' Qwen3-Next DynamicCache keeps keys")
    i, kind = stateful[0]
    for call in (to_legacy, to_cache):
        with pytest.raises(CacheTypeError) as info:
            call(cache)
        assert str(info.value) == (f"layer {i}: DynamicCache layer {i} is a {kind}, which keeps no keys and values "
                                   "(a linear-attention/SSM state); expected a cache of key/value layers only")
