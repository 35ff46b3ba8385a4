"""Every error the shim raises, word for word: the layer, what was expected, what was found.

test_errors.py and test_fit.py check that a message *contains* the right words; a message
with text around them ("XX layer 0: ... XX"), an empty one or the wrong layer index in
front passes there. The mutation run (docs/mutation.md) found those gaps; here each raise
site's whole message is compared. A message is part of the shim's interface: change
it here when it changes on purpose.
"""

from __future__ import annotations

import pytest
import torch

from compat import (
    CacheTypeError,
    CompatError,
    MalformedCacheError,
    UnsupportedModelError,
    prefixed_call,
    to_cache,
    to_legacy,
)
from compat import _transformers as features
from compat.expect import Expectation, LayerSpec
from compat.layouts import from_bloom, from_gpt_bigcode, to_gpt_bigcode
from compat.testing import zoo
from compat.validate import check_fit


def t(*shape, dtype=torch.float32, device="cpu"):
    return torch.zeros(*shape, dtype=dtype, device=device)


GOOD = (t(1, 2, 3, 4), t(1, 2, 3, 4))
BLOOM = zoo.config_for("bloom")  # 4 heads
BIGCODE = zoo.config_for("gpt_bigcode")  # multi_query=True

LEGACY_CASES = [
    pytest.param("kv", {}, CacheTypeError,
                 "past_key_values: expected a tuple/list of per-layer (key, value) tuples, a transformers Cache "
                 "or None, found builtins.str", id="not-a-container"),
    pytest.param(zoo.config_for("llama"), {}, CacheTypeError,
                 "past_key_values: expected a tuple/list of per-layer (key, value) tuples, a transformers Cache "
                 "or None, found transformers.LlamaConfig", id="not-a-container-from-a-package"),
    pytest.param((), {}, MalformedCacheError,
                 "past_key_values is empty: expected at least one layer of (key, value) tensors, found 0 layers",
                 id="empty"),
    pytest.param((GOOD, 3), {}, CacheTypeError,
                 "layer 1: expected a (key, value) tuple, a 4-tuple or a stacked tensor, found builtins.int",
                 id="int-layer"),
    pytest.param((GOOD, (*GOOD, GOOD[0])), {}, MalformedCacheError,
                 "layer 1: expected a 2-tuple (key, value) or a 4-tuple (self key, self value, cross key, cross "
                 "value), found a 3-tuple", id="3-tuple"),
    pytest.param((GOOD, (t(1, 2, 3, 4), None)), {}, CacheTypeError,
                 "layer 1: value must be a torch.Tensor, found None", id="none-value"),
    pytest.param((GOOD, t(1, 2, 3, 4)), {}, MalformedCacheError,
                 "layer 1: expected a (key, value) tuple or PEFT's stacked [2, B, H, P, D] / [4, B, H, P, D] tensor, "
                 "found a tensor of shape (1, 2, 3, 4) (a fused GPTBigCode tensor needs model= or config=)",
                 id="bare-4d-tensor"),
    pytest.param((t(1, 3, 8), t(3, 8)), {"config": BIGCODE}, MalformedCacheError,
                 "layer 1: expected a (key, value) tuple or PEFT's stacked [2, B, H, P, D] / [4, B, H, P, D] tensor, "
                 "found a tensor of shape (3, 8)", id="gpt_bigcode-2d-tensor"),
    pytest.param((t(1, 3, 8), t(1, 3, 7)), {"config": BIGCODE}, MalformedCacheError,
                 "layer 1: expected GPTBigCode's fused k||v tensor [B, S, 2D] (multi_query), found shape (1, 3, 7)",
                 id="gpt_bigcode-odd-fused"),
    pytest.param(((t(4, 4, 3), t(4, 3, 4)), (t(4, 4, 3), t(4, 3))), {"config": BLOOM}, MalformedCacheError,
                 "layer 1: expected Bloom's 3-D key [B*H, D, S] and value [B*H, S, D], found key (4, 4, 3) and "
                 "value (4, 3)", id="bloom-2d-value"),
    pytest.param(((t(4, 4, 3), t(4, 3, 4)), (t(5, 4, 3), t(5, 3, 4))), {"config": BLOOM}, MalformedCacheError,
                 "layer 1: expected Bloom key [B*4, D, S] and value [B*4, S, D] with matching B*H and S, found key "
                 "(5, 4, 3) and value (5, 3, 4)", id="bloom-batch-heads-not-divisible"),
    pytest.param(((t(4, 4, 3), t(4, 3, 4)), (t(4, 4, 3), t(4, 2, 4))), {"config": BLOOM}, MalformedCacheError,
                 "layer 1: expected Bloom key [B*4, D, S] and value [B*4, S, D] with matching B*H and S, found key "
                 "(4, 4, 3) and value (4, 2, 4)", id="bloom-seq-mismatch"),
    pytest.param((GOOD, GOOD + GOOD), {}, MalformedCacheError,
                 "layer 1: expected a 2-tuple like layer 0, found a 4-tuple (decoder-only 2-tuples and "
                 "encoder-decoder 4-tuples cannot be mixed)", id="mixed-arity"),
    pytest.param((GOOD, (t(2, 3, 4), t(2, 3, 4))), {}, MalformedCacheError,
                 "layer 1: expected a 4-D key [B, H, S, D], found a 3-D tensor of shape (2, 3, 4) (Bloom's "
                 "[B*H, D, S] layout needs model= or config=)", id="3d-without-config"),
    pytest.param((GOOD, (t(1, 1, 2, 3, 4), t(1, 1, 2, 3, 4))), {}, MalformedCacheError,
                 "layer 1: expected a 4-D key [B, H, S, D], found a 5-D tensor of shape (1, 1, 2, 3, 4)", id="5d"),
    pytest.param((GOOD, (t(1, 2, 3, 4), t(1, 3, 3, 4))), {}, MalformedCacheError,
                 "layer 1: key and value must agree on [B, H, S]; found key (1, 2, 3, 4) and value (1, 3, 3, 4)",
                 id="key-value-heads"),
    pytest.param(((*GOOD, t(1, 2, 5, 4), t(1, 2, 6, 4)),), {}, MalformedCacheError,
                 "layer 0: cross-attention key and cross-attention value must agree on [B, H, S]; found "
                 "cross-attention key (1, 2, 5, 4) and cross-attention value (1, 2, 6, 4)", id="cross-key-value-seq"),
    pytest.param((GOOD, (t(1, 2, 3, 4, dtype=torch.int64),) * 2), {}, MalformedCacheError,
                 "layer 1: key must be a floating-point tensor (keys and values are activations); found dtype "
                 "torch.int64", id="int64"),
    pytest.param((GOOD, (t(1, 2, 3, 4), t(1, 2, 3, 4, dtype=torch.float16))), {}, MalformedCacheError,
                 "layer 1: key and value must have the same dtype; found torch.float32 and torch.float16",
                 id="key-value-dtype"),
    pytest.param(((*GOOD, t(1, 2, 5, 4), t(1, 2, 5, 4, dtype=torch.float16)),), {}, MalformedCacheError,
                 "layer 0: cross-attention key and cross-attention value must have the same dtype; found "
                 "torch.float32 and torch.float16", id="cross-key-value-dtype"),
    pytest.param((GOOD, (t(1, 2, 3, 4), t(1, 2, 3, 4, device="meta"))), {}, MalformedCacheError,
                 "layer 1: key and value must be on the same device; found cpu and meta", id="key-value-device"),
    pytest.param((GOOD, (t(1, 2, 3, 4, device="meta"),) * 2), {}, MalformedCacheError,
                 "layer 1: key is a meta tensor (a shape without data); expected a tensor holding data on a real "
                 "device", id="meta"),
    pytest.param((GOOD + GOOD, GOOD + (t(2, 2, 3, 4),) * 2), {}, MalformedCacheError,
                 "layer 1: cross-attention batch size must equal the self-attention batch size 1, found 2",
                 id="cross-batch"),
    pytest.param((GOOD, (t(2, 2, 3, 4),) * 2), {}, MalformedCacheError,
                 "layer 1: batch size must match layer 0; expected 1, found 2", id="batch-across-layers"),
    pytest.param((GOOD, (t(1, 2, 5, 4),) * 2), {}, MalformedCacheError,
                 "layer 1: ragged layers: key sequence length must match layer 0; expected 3, found 5", id="ragged"),
    pytest.param((GOOD + GOOD, GOOD + (t(1, 2, 5, 4),) * 2), {}, MalformedCacheError,
                 "layer 1: ragged layers: cross-attention key sequence length must match layer 0; expected 3, "
                 "found 5", id="ragged-cross"),
    pytest.param((GOOD, (t(1, 2, 3, 4, dtype=torch.float16),) * 2), {}, MalformedCacheError,
                 "layer 1: dtype must match layer 0; expected torch.float32, found torch.float16",
                 id="dtype-across-layers"),
    pytest.param((GOOD, GOOD, (t(1, 2, 5, 4),) * 2), {}, MalformedCacheError,
                 "layer 2: ragged layers: key sequence length must match layer 0; expected 3, found 5",
                 id="ragged-after-a-layer-like-layer-0"),
]


def _message(call, exc):
    with pytest.raises(exc) as info:
        call()
    assert isinstance(info.value, CompatError)
    assert info.traceback[-1].path.parts[-2] == "compat", info.traceback[-1].path  # not from torch
    return str(info.value)


@pytest.mark.parametrize("fn", [pytest.param(to_cache, id="to_cache"), pytest.param(to_legacy, id="to_legacy")])
@pytest.mark.parametrize("bad, kw, exc, message", LEGACY_CASES)
def test_malformed_legacy_message(fn, bad, kw, exc, message):
    assert _message(lambda: fn(bad, **kw), exc) == message


# --------------------------------------------------------------------------- layouts called directly


@pytest.mark.parametrize("call, message", [
    pytest.param(lambda: from_bloom((t(4, 4, 3), t(4, 3)), n_head=4),
                 "layer 0: expected Bloom's 3-D key [B*H, D, S] and value [B*H, S, D], found key (4, 4, 3) and "
                 "value (4, 3)", id="from_bloom-default-index"),
    pytest.param(lambda: from_bloom((t(5, 4, 3), t(5, 3, 4)), n_head=2, index=3),
                 "layer 3: expected Bloom key [B*2, D, S] and value [B*2, S, D] with matching B*H and S, found key "
                 "(5, 4, 3) and value (5, 3, 4)", id="from_bloom-index"),
    pytest.param(lambda: to_gpt_bigcode((t(1, 2, 3, 4), t(1, 2, 3, 4)), multi_query=True),
                 "layer 0: a multi-query GPTBigCode takes 1 key/value head, found 2 (key shape (1, 2, 3, 4))",
                 id="to_gpt_bigcode-default-index"),
    pytest.param(lambda: to_gpt_bigcode((t(1, 2, 3, 4), t(1, 2, 3, 4)), multi_query=True, index=2),
                 "layer 2: a multi-query GPTBigCode takes 1 key/value head, found 2 (key shape (1, 2, 3, 4))",
                 id="to_gpt_bigcode-index"),
    pytest.param(lambda: from_gpt_bigcode(t(1, 3, 8), multi_query=False),
                 "layer 0: expected GPTBigCode's fused k||v tensor [B, H, S, 2D] (multi-head), found shape (1, 3, 8)",
                 id="from_gpt_bigcode-mha-default-index"),
    pytest.param(lambda: from_gpt_bigcode(t(1, 2, 3, 7), multi_query=False, index=1),
                 "layer 1: expected GPTBigCode's fused k||v tensor [B, H, S, 2D] (multi-head), found shape "
                 "(1, 2, 3, 7)", id="from_gpt_bigcode-mha-odd"),
    pytest.param(lambda: from_gpt_bigcode(t(1, 2, 3, 8), multi_query=True),
                 "layer 0: expected GPTBigCode's fused k||v tensor [B, S, 2D] (multi_query), found shape (1, 2, 3, 8)",
                 id="from_gpt_bigcode-mqa-4d"),
])
def test_layout_message(call, message):
    assert _message(call, MalformedCacheError) == message


# --------------------------------------------------------------------------- fit to the model

SPEC = LayerSpec(2, 8, 6, "test")
FIT = Expectation(2, "num_hidden_layers=2", (SPEC, SPEC))
ENC_DEC_SPEC = LayerSpec(2, 8, 8, "test")


@pytest.mark.parametrize("layers, expected, message", [
    pytest.param(((t(1, 2, 3, 8), t(1, 2, 3, 6)),), FIT,
                 "layer 1: missing (the model's layers 1..1 would run without the prefix); expected 2 layers (from "
                 "config num_hidden_layers=2), found 1", id="missing-layer"),
    pytest.param(((t(1, 2, 3, 8), t(1, 2, 3, 6)),) * 4, FIT,
                 "layer 2: the model has no such layer (layers 2..3 would be ignored); expected 2 layers (from "
                 "config num_hidden_layers=2), found 4", id="extra-layers"),
    pytest.param(((t(1, 2, 3, 8), t(1, 2, 3, 6)), (t(1, 3, 3, 8), t(1, 3, 3, 6))), FIT,
                 "layer 1: expected 2 KV heads x key 8 / value 6 dims (from config test), found key shape "
                 "(1, 3, 3, 8)", id="kv-heads"),
    pytest.param(((t(1, 2, 3, 8), t(1, 2, 3, 6)), (t(1, 2, 3, 6), t(1, 2, 3, 6))), FIT,
                 "layer 1: expected 2 KV heads x key 8 / value 6 dims (from config test), found key shape "
                 "(1, 2, 3, 6)", id="key-dim"),
    pytest.param(((t(1, 2, 3, 8), t(1, 2, 3, 6)), (t(1, 2, 3, 8), t(1, 2, 3, 8))), FIT,
                 "layer 1: expected 2 KV heads x key 8 / value 6 dims (from config test), found value shape "
                 "(1, 2, 3, 8)", id="value-dim"),
    pytest.param(((t(1, 2, 3, 8),) * 2 + (t(1, 3, 5, 8),) * 2,),
                 Expectation(1, "decoder_layers=1", (ENC_DEC_SPEC,)),
                 "layer 0: expected 2 KV heads x 8 dims (from config test), found cross-attention key shape "
                 "(1, 3, 5, 8)", id="cross-kv-heads"),
    pytest.param(((t(1, 2, 3, 8),) * 2 + (t(1, 2, 5, 8), t(1, 2, 5, 6)),),
                 Expectation(1, "decoder_layers=1", (ENC_DEC_SPEC,)),
                 "layer 0: expected 2 KV heads x 8 dims (from config test), found cross-attention value shape "
                 "(1, 2, 5, 6)", id="cross-value-dim"),
    pytest.param(((t(1, 2, 3, 8),) * 2, (t(1, 2, 3, 8, dtype=torch.float16),) * 2),
                 Expectation(2, "", (None, None), torch.float32),
                 "layer 1: expected dtype torch.float32 (the model's parameters), found key of dtype torch.float16; "
                 "cast the prefix with .to(torch.float32)", id="dtype"),
    pytest.param(((t(1, 2, 3, 8),) * 4,), Expectation(1, "", (None,), torch.float16),
                 "layer 0: expected dtype torch.float16 (the model's parameters), found key of dtype torch.float32; "
                 "cast the prefix with .to(torch.float16)", id="dtype-enc-dec"),
    pytest.param(((t(1, 2, 3, 8),) * 2,) * 2, Expectation(2, "", (None, None), None, torch.device("meta")),
                 "layer 0: expected tensors on meta (the model's device), found key on cpu", id="device"),
])
def test_misfit_message(layers, expected, message):
    assert _message(lambda: check_fit(layers, expected), MalformedCacheError) == message


@pytest.mark.parametrize("call, message", [
    pytest.param(lambda m: to_cache(((t(1, 4, 3, 8),) * 2,), model=m),
                 "layer 1: missing (the model's layers 1..1 would run without the prefix); expected 2 layers (from "
                 "config num_hidden_layers=2), found 1", id="to_cache-model-missing-layer"),
    pytest.param(lambda m: to_legacy(((t(1, 4, 3, 8),) * 2,) * 3, config=m.config),
                 "layer 2: the model has no such layer (layers 2..2 would be ignored); expected 2 layers (from "
                 "config num_hidden_layers=2), found 3", id="to_legacy-config-extra-layer"),
    pytest.param(lambda m: to_cache(((t(1, 4, 3, 8),) * 4,) * 2, model=m),
                 "layer 0: the decoder-only 'llama' model takes (key, value) 2-tuples, found a 4-tuple",
                 id="4-tuple-for-decoder-only"),
    pytest.param(lambda m: to_cache(((t(1, 4, 3, 8, dtype=torch.float16),) * 2,) * 2, model=m),
                 "layer 0: expected dtype torch.float32 (the model's parameters), found key of dtype torch.float16; "
                 "cast the prefix with .to(torch.float32)", id="to_cache-model-dtype"),
])
def test_misfit_message_through_the_api(zoo_models, call, message):
    llama = zoo_models("llama")
    assert zoo.dims(llama).kv_heads == 4 and zoo.dims(llama).head_dim == 8
    assert _message(lambda: call(llama), MalformedCacheError) == message


# --------------------------------------------------------------------------- prefixed_call


def test_prefixed_call_checks_the_prefix_against_the_model(zoo_models):
    llama = zoo_models("llama")
    one_layer = ((t(1, 4, 3, 8),) * 2,)
    message = _message(lambda: prefixed_call(llama, one_layer, torch.tensor([[5, 6]])), MalformedCacheError)
    assert message == ("layer 1: missing (the model's layers 1..1 would run without the prefix); expected 2 layers "
                       "(from config num_hidden_layers=2), found 1")


def test_prefixed_call_refuses_an_empty_prefix(zoo_models):
    if features.cache_utils() is None:
        pytest.skip("not-applicable: no Cache classes, so no empty cache object to pass")
    llama = zoo_models("llama")
    empty = features.dynamic_cache_class()()
    message = _message(lambda: prefixed_call(llama, empty, torch.tensor([[5, 6]])), MalformedCacheError)
    assert message == "prefix is empty: expected at least one filled layer"


# --------------------------------------------------------------------------- caches read back


def _cache(layers):
    if features.cache_utils() is None:
        pytest.skip("not-applicable: no Cache classes in this transformers")
    return to_cache(tuple((t(1, 2, 3, 4) + i, t(1, 2, 3, 4) - i) for i in range(layers)))


def test_unfilled_layer_before_a_filled_one_message():
    cache = _cache(2)
    if hasattr(cache, "layers"):  # 4.54+: a pre-made, never-updated layer in front
        cache.layers.insert(0, type(cache.layers[0])())
    else:
        cache.key_cache.insert(0, torch.tensor([]))
        cache.value_cache.insert(0, torch.tensor([]))
    message = _message(lambda: to_legacy(cache), MalformedCacheError)
    assert message == ("layer 0: the cache has an unfilled layer 0 followed by filled layer 1; expected filled "
                       "layers first")


def test_a_dynamic_cache_with_a_skipped_layer_names_both_layers():
    """Layers 0 and 2 written, layer 1 skipped (None from 4.54, an empty tensor on 4.51-4.53, an empty
    list on 4.46-4.50): the message names the unfilled layer and the filled one after it."""
    if features.cache_utils() is None:
        pytest.skip("not-applicable: no Cache classes in this transformers")
    cache = features.dynamic_cache_class()()
    cache.update(t(1, 2, 3, 4), t(1, 2, 3, 4), 0)
    try:
        cache.update(t(1, 2, 3, 4) + 1, t(1, 2, 3, 4), 2)
    except IndexError:
        pytest.skip("not-applicable: this transformers' DynamicCache cannot skip a layer")
    for call in (to_legacy, to_cache):
        assert _message(lambda call=call: call(cache), MalformedCacheError) == (
            "layer 1: the cache has an unfilled layer 1 followed by filled layer 2; expected filled layers first")


def test_encoder_decoder_cache_with_fewer_cross_layers_message():
    edc_class = features.encoder_decoder_cache_class()
    if edc_class is None:
        pytest.skip("not-applicable: no EncoderDecoderCache in this transformers")
    edc = edc_class(_cache(2), _cache(1))
    message = _message(lambda: to_legacy(edc), MalformedCacheError)
    assert message == ("EncoderDecoderCache: expected as many filled cross-attention layers as self-attention "
                       "layers (2), found 1")


def test_two_tuple_prefix_for_an_encoder_decoder(zoo_models):
    """A self-attention-only (2-tuple) prefix for T5: an EncoderDecoderCache with an empty cross cache where
    T5 takes a Cache (PEFT >= 0.14 builds that), else refused by name (T5's tuples need the cross slots)."""
    t5 = zoo_models("t5")
    d = zoo.dims(t5)
    legacy = tuple((t(1, d.kv_heads, 3, d.head_dim) + i, t(1, d.kv_heads, 3, d.head_dim) - i) for i in range(d.layers))
    if features.family_takes_cache("t5", model=t5):
        out = to_cache(legacy, model=t5)
        assert features.is_encoder_decoder_cache(out) and to_legacy(out.cross_attention_cache) == ()
        back = to_legacy(out, model=t5)
        assert all(torch.equal(a, b) for got, want in zip(back, legacy) for a, b in zip(got, want))
        return
    message = _message(lambda: to_cache(legacy, model=t5), MalformedCacheError)
    assert message == ("layer 0: 't5' takes no Cache on this transformers, so it needs (self key, self value, cross "
                       "key, cross value) 4-tuples; found a 2-tuple")



def test_a_family_that_takes_only_its_own_hybrid_cache_message():
    """Gemma-2 on 4.42-4.44 takes neither legacy tuples nor a DynamicCache, only the HybridCache its
    generate builds: a prefix that fits it is refused by name."""
    ok, why = zoo.family_available("gemma2")
    if not ok:
        pytest.skip(f"not-applicable: {why}")
    cfg = zoo.config_for("gemma2")
    if features.family_takes_cache("gemma2"):
        pytest.skip("not-applicable: Gemma-2 takes a DynamicCache on this transformers")
    d = zoo.dims(cfg)
    legacy = ((t(1, d.kv_heads, 3, d.head_dim), t(1, d.kv_heads, 3, d.head_dim)),) * d.layers
    assert _message(lambda: to_cache(legacy, config=cfg), UnsupportedModelError) == (
        "'gemma2' on this transformers takes only its own HybridCache: neither legacy tuples nor a DynamicCache "
        "(supported from the release where its _supports_cache_class is True)")
