"""With ``model=``/``config=``, a prefix that does not fit the model is refused (issue 13, item 1).

Before: a 1-layer prefix for a 2-layer Llama ran (its second layer silently
non-causal on 4.46/4.57), extra layers were ignored, wrong heads/dims raised
from inside torch, int64/bool/meta tensors and another float dtype were
accepted (``torch.cat`` promoted). Each case is named here by type and message.
The expectations of :mod:`compat.expect` are cross-checked against the KV every
zoo family (and, where present, a Gemma-4 with per-layer head dims) produces.
"""

from __future__ import annotations

import pytest
import torch

from compat import CacheTypeError, CompatError, MalformedCacheError, to_cache, to_legacy
from compat import _transformers as features
from compat.expect import Expectation, LayerSpec, expect
from compat.testing import zoo
from compat.validate import check_fit, normalize

P = 3


def kv(heads=4, dim=8, seq=P, dtype=torch.float32, device="cpu", value_dim=None):
    g = torch.Generator().manual_seed(heads * 100 + dim)
    k = torch.randn(1, heads, seq, dim, generator=g).to(dtype=dtype, device=device)
    v = torch.randn(1, heads, seq, value_dim or dim, generator=g).to(dtype=dtype, device=device)
    return k, v


def assert_named(info, words):
    assert isinstance(info.value, CompatError)
    message = str(info.value)
    missing = [w for w in words if w not in message]
    assert not missing, f"message {message!r} lacks {missing}"
    assert info.traceback[-1].path.parts[-2] == "compat", info.traceback[-1].path  # not from torch


FN = [pytest.param(to_cache, id="to_cache"), pytest.param(to_legacy, id="to_legacy")]
HOW = [pytest.param("model", id="model"), pytest.param("config", id="config")]


def _kw(model, how):
    return {"model": model} if how == "model" else {"config": model.config}


# --------------------------------------------------------------------------- regressions (issue 13.1)

SHAPE_CASES = [
    pytest.param("llama", (kv(),), ["layer 1: missing", "expected 2 layers", "num_hidden_layers=2", "found 1"],
                 id="1-layer-prefix-for-2-layer-llama"),
    pytest.param("llama", (kv(),) * 3, ["layer 2: the model has no such layer", "ignored", "expected 2 layers",
                                       "found 3"], id="3-layer-prefix-for-2-layer-llama"),
    pytest.param("gpt2", (kv(),) * 3, ["layer 2", "expected 2 layers", "found 3"], id="3-layer-prefix-for-gpt2"),
    pytest.param("t5", (kv() + kv(seq=5),), ["layer 1: missing", "expected 2 layers", "num_decoder_layers=2",
                                             "found 1"], id="1-layer-prefix-for-t5"),
    pytest.param("llama_gqa", (kv(2), kv(4)),
                 # the head dim's source is head_dim where the config has one, else hidden_size // heads
                 ["layer 1: expected 2 KV heads x 8 dims (from config num_key_value_heads=2, ",
                  "found key shape (1, 4, 3, 8)"], id="wrong-kv-heads-layer-1"),
    pytest.param("llama", (kv(4, 6), kv(4, 6)),
                 ["layer 0: expected 4 KV heads x 8 dims", "found key shape (1, 4, 3, 6)"], id="wrong-head-dim"),
    pytest.param("llama", (kv(), kv(value_dim=6)),
                 ["layer 1: expected 4 KV heads x 8 dims", "found value shape (1, 4, 3, 6)"],
                 id="wrong-value-dim"),
    pytest.param("gpt_bigcode", (kv(1), kv(4)),
                 ["layer 1: expected 1 KV heads x 8 dims (from config multi_query=True",
                  "found key shape (1, 4, 3, 8)"],
                 id="mha-prefix-for-mqa-gpt_bigcode"),
    pytest.param("bart", (kv() + kv(2, seq=5), kv() + kv(seq=5)),
                 ["layer 0: expected 4 KV heads x 8 dims (from config d_model=32 // decoder_attention_heads=4)",
                  "found cross-attention key shape (1, 2, 5, 8)"], id="wrong-cross-heads-bart"),
]


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("fn", FN)
@pytest.mark.parametrize("family_id, prefix, words", SHAPE_CASES)
def test_prefix_that_does_not_fit_is_named(zoo_models, fn, how, family_id, prefix, words):
    model = zoo_models(family_id)
    with pytest.raises(MalformedCacheError) as info:
        fn(prefix, **_kw(model, how))
    assert_named(info, words)


@pytest.mark.parametrize("fn", FN)
def test_peft_stacked_prefix_is_checked_too(zoo_models, fn):
    k, v = kv(2)
    with pytest.raises(MalformedCacheError) as info:
        fn((torch.stack([k, v]),), model=zoo_models("llama_gqa"))
    assert_named(info, ["layer 1: missing", "expected 2 layers", "found 1"])


@pytest.mark.parametrize("fn", FN)
def test_cache_input_is_checked_too(zoo_models, fn):
    if features.dynamic_cache_class() is None:
        pytest.skip("not-applicable: no Cache classes on this transformers")
    cache = to_cache((kv(), kv(), kv()))  # no model: any consistent layers
    with pytest.raises(MalformedCacheError) as info:
        fn(cache, model=zoo_models("llama"))
    assert_named(info, ["layer 2: the model has no such layer", "expected 2 layers", "found 3"])


@pytest.mark.parametrize("fn", FN)
def test_other_float_dtype_is_named(zoo_models, fn):
    prefix = (kv(dtype=torch.float16), kv(dtype=torch.float16))
    with pytest.raises(MalformedCacheError) as info:
        fn(prefix, model=zoo_models("llama"))
    assert_named(info, ["layer 0", "expected dtype torch.float32", "the model's parameters",
                        "found key of dtype torch.float16"])
    fn(prefix, config=zoo_models("llama").config)  # a config carries no parameters: dtype is not checked


NOT_FLOATING = [
    pytest.param(torch.int64, id="int64"),
    pytest.param(torch.bool, id="bool"),
]


@pytest.mark.parametrize("kw", [pytest.param("none", id="no-model"), pytest.param("model", id="model")])
@pytest.mark.parametrize("fn", FN)
@pytest.mark.parametrize("dtype", NOT_FLOATING)
def test_non_floating_prefix_is_refused(zoo_models, fn, dtype, kw):
    prefix = (kv(dtype=dtype), kv(dtype=dtype))
    with pytest.raises(MalformedCacheError) as info:
        fn(prefix, **({"model": zoo_models("llama")} if kw == "model" else {}))
    assert_named(info, ["layer 0", "key must be a floating-point tensor", f"found dtype {dtype}"])


@pytest.mark.parametrize("kw", [pytest.param("none", id="no-model"), pytest.param("model", id="model")])
@pytest.mark.parametrize("fn", FN)
def test_meta_prefix_is_refused(zoo_models, fn, kw):
    prefix = (kv(), kv(device="meta"))
    with pytest.raises(MalformedCacheError) as info:
        fn(prefix, **({"model": zoo_models("llama")} if kw == "model" else {}))
    assert_named(info, ["layer 1", "key is a meta tensor", "expected a tensor holding data"])


def test_device_other_than_the_models_is_named():
    # No second real device on a CPU machine: the comparison itself, with the model "on" meta.
    exp = Expectation(2, "num_hidden_layers=2", (None, None), torch.float32, torch.device("meta"))
    with pytest.raises(MalformedCacheError) as info:
        check_fit((kv(), kv()), exp)
    assert_named(info, ["layer 0", "expected tensors on meta (the model's device)", "found key on cpu"])


@pytest.mark.parametrize("fn", FN)
def test_model_on_meta_checks_shapes_and_dtype_not_device(fn):
    """A model built on ``meta`` (no weights yet; accelerate's offload keeps parameters there) has no
    device to compare with; its shapes and dtype still count."""
    import transformers

    with torch.device("meta"):
        model = transformers.LlamaForCausalLM(zoo.config_for("llama"))
    assert expect(model).device is None and expect(model).dtype == torch.float32
    fn((kv(), kv()), model=model)
    with pytest.raises(MalformedCacheError) as info:
        fn((kv(),), model=model)
    assert_named(info, ["layer 1: missing", "expected 2 layers"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="not-applicable: no CUDA device to disagree with")
@pytest.mark.parametrize("fn", FN)
def test_cpu_prefix_for_cuda_model_is_named(fn):
    model = zoo.build("llama").cuda()
    with pytest.raises(MalformedCacheError) as info:
        fn((kv(), kv()), model=model)
    assert_named(info, ["layer 0", "expected tensors on cuda:0", "found key on cpu"])


def test_layers_may_differ_from_layer_0():
    """Per-layer expectations: layer 1 with other heads and a value dim unlike its key dim is right
    when the model says so, and a prefix shaped like layer 0 everywhere is refused at layer 1."""
    specs = (LayerSpec(4, 8, 8, "a"), LayerSpec(2, 12, 6, "b"))
    exp = Expectation(2, "num_hidden_layers=2", specs)
    check_fit((kv(4, 8), kv(2, 12, value_dim=6)), exp)
    with pytest.raises(MalformedCacheError) as info:
        check_fit((kv(4, 8), kv(4, 8)), exp)
    assert_named(info, ["layer 1: expected 2 KV heads x key 12 / value 6 dims (from config b)",
                        "found key shape (1, 4, 3, 8)"])


def test_unknown_expectations_are_skipped():
    exp = Expectation(None, "", ())
    check_fit((kv(3, 5),) * 7, exp)  # nothing known: only the model-free checks ran


# --------------------------------------------------------------------------- the expectations are right

ZOO = [pytest.param(f, id=f) for f in zoo.FAMILY_IDS] + [pytest.param("gpt_bigcode:mha", id="gpt_bigcode-mha")]


def _own_layers(model) -> list:
    """The per-layer (k, v[, ck, cv]) of the model's own cache for P tokens, read without the fit check."""
    ids = torch.randint(3, zoo.VOCAB, (1, P), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        if model.config.is_encoder_decoder:
            own = model(input_ids=ids, decoder_input_ids=ids, use_cache=True).past_key_values
        else:
            own = model(ids, use_cache=True).past_key_values
    if own is None:
        pytest.skip("not-applicable: the forward returns no cache on this transformers (Gemma-2 4.42-4.44)")
    if not features.is_cache(own):
        return list(normalize(own, config=model.config))  # native layouts read as the model stores them
    try:
        return list(to_legacy(own))
    except CacheTypeError:  # a fixed-size cache sized to the prompt: heads and dims are still its own
        pairs = own.layers if hasattr(own, "layers") else None
        if pairs is not None:
            return [(layer.keys, layer.values) for layer in pairs]
        return list(zip(own.key_cache, own.value_cache))


def _assert_matches(model, layers):
    exp = expect(model)
    assert exp.layers == len(layers), (exp.layers, len(layers))
    assert len(exp.per_layer) == len(layers)
    for i, layer in enumerate(layers):
        spec = exp.per_layer[i]
        assert spec is not None, f"layer {i}: no expectation derived for {model.config.model_type}"
        for a in range(0, len(layer), 2):
            found = (layer[a].shape[1], layer[a].shape[3], layer[a + 1].shape[3])
            assert found == (spec.kv_heads, spec.key_dim, spec.value_dim), (i, a, found, spec)
    assert exp.dtype == torch.float32 and exp.device == torch.device("cpu")


@pytest.mark.parametrize("family_id", ZOO)
def test_expectation_matches_the_models_own_kv(zoo_models, family_id):
    model = zoo_models(family_id)
    _assert_matches(model, _own_layers(model))


def test_expectation_matches_per_layer_head_dims():
    """Gemma-4 (5.x heterogeneous config): full-attention layers have another head_dim."""
    import transformers

    cls, model_cls = getattr(transformers, "Gemma4TextConfig", None), getattr(transformers, "Gemma4ForCausalLM", None)
    if cls is None or model_cls is None:
        pytest.skip(f"not-applicable: transformers {transformers.__version__} has no Gemma4TextConfig")
    cfg = cls(vocab_size=zoo.VOCAB, hidden_size=32, intermediate_size=48, num_hidden_layers=4, num_attention_heads=4,
              num_key_value_heads=2, head_dim=8, global_head_dim=16, sliding_window=16,
              layer_types=["sliding_attention", "full_attention"] * 2, hidden_size_per_layer_input=0,
              vocab_size_per_layer_input=zoo.VOCAB, max_position_embeddings=64)
    cfg._attn_implementation = "eager"
    torch.manual_seed(0)
    model = model_cls(cfg).eval()
    layers = _own_layers(model)
    assert {layer[0].shape[3] for layer in layers} == {8, 16}  # the model really differs per layer
    if not hasattr(cfg, "per_layer_config"):
        # Earlier 5.x Gemma-4 configs describe the per-layer dims only through attributes the rule
        # does not model: every layer's shape is unknown and skipped (docs/shim.md), never guessed.
        assert all(spec is None for spec in expect(model).per_layer)
        to_cache(layers, model=model)  # the model's own KV still goes through
        pytest.skip("not-applicable: this transformers' Gemma-4 config has no per_layer_config; "
                    "the fit check skips its per-layer head dims")
    _assert_matches(model, layers)
    with pytest.raises(MalformedCacheError) as info:
        to_cache(tuple((k[..., :1, :], v[..., :1, :]) for k, v in [layers[0]] * 4), model=model)
    assert_named(info, ["layer 1: expected 2 KV heads x 16 dims", "per_layer_config[1]", "head_dim=16",
                        "found key shape (1, 2, 1, 8)"])


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("family_id", ZOO)
def test_valid_prefix_passes_unchanged(zoo_models, family_id, how):
    """The model's own KV, as tuples and as PEFT's stacked tensors, goes through with the same tensors."""
    model = zoo_models(family_id)
    model_type = model.config.model_type
    if model_type.startswith("gemma") and not features.family_takes_cache(model_type, model=model):
        pytest.skip("not-applicable: takes only its own HybridCache here (to_cache refuses it by design)")
    layers = tuple(tuple(t.contiguous() for t in layer) for layer in _own_layers(model))
    if any(layer[0].shape[2] != P for layer in layers):
        pytest.skip("not-applicable: the model's own cache is fixed-size here, not a prefix")
    for form in (layers, tuple(torch.stack(layer) for layer in layers)):
        back = to_legacy(to_cache(form, **_kw(model, how)), **_kw(model, how))
        assert len(back) == len(layers)
        for got, want in zip(back, layers):
            assert all(torch.equal(a, b) for a, b in zip(got, want))
