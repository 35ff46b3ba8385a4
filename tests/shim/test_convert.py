"""to_cache / to_legacy: container types, storage identity, freshness, no warnings."""

from __future__ import annotations

import warnings

import pytest
import torch

from compat import _transformers as features
from compat import to_cache, to_legacy
from compat.testing import zoo

HAS_CACHE = features.cache_utils() is not None
HAS_EDC = features.encoder_decoder_cache_class() is not None
STRATEGY = features.storage_strategy()
needs_cache = pytest.mark.skipif(not HAS_CACHE, reason="not-applicable: no transformers.cache_utils (Cache classes)")
needs_edc = pytest.mark.skipif(not HAS_EDC, reason="not-applicable: no EncoderDecoderCache in this transformers")


def _legacy(layers=2, arity=2, batch=2, heads=2, seq=3, dim=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return tuple(
        tuple(torch.randn(batch, heads, seq + (1 if j >= 2 else 0), dim, generator=g) for j in range(arity))
        for _ in range(layers)
    )


def _same(a, b):
    assert len(a) == len(b)
    for la, lb in zip(a, b):
        assert len(la) == len(lb) and all(torch.equal(x, y) for x, y in zip(la, lb))


# --------------------------------------------------------------------------- containers


@pytest.mark.parametrize("arity", [pytest.param(2, id="decoder-2tuple"), pytest.param(4, id="enc-dec-4tuple")])
def test_generic_container_without_model(arity):
    legacy = _legacy(arity=arity)
    out = to_cache(legacy)
    if not HAS_CACHE or (arity == 4 and not HAS_EDC):
        assert isinstance(out, tuple) and out is not legacy
    elif arity == 2:
        assert type(out) is features.dynamic_cache_class()
    else:
        assert type(out) is features.encoder_decoder_cache_class()
    _same(to_legacy(out), legacy)


def test_none_passes_through():
    assert to_cache(None) is None and to_legacy(None) is None


@needs_cache
@pytest.mark.parametrize("arity", [pytest.param(2, id="dynamic"), pytest.param(4, id="edc", marks=needs_edc)])
def test_cache_input_gives_fresh_object_with_same_storage(arity):
    first = to_cache(_legacy(arity=arity))
    second = to_cache(first)
    assert second is not first and type(second) is type(first)
    for a, b in zip(to_legacy(first), to_legacy(second)):
        assert all(x.data_ptr() == y.data_ptr() for x, y in zip(a, b))


def test_two_calls_never_share_a_container():
    legacy = _legacy()
    a, b = to_cache(legacy), to_cache(legacy)
    assert a is not b
    if HAS_CACHE:  # a forward's update on one must not show in the other
        a.update(torch.zeros(2, 2, 1, 4), torch.zeros(2, 2, 1, 4), 0)
        assert a.get_seq_length() == 4 and b.get_seq_length() == 3


@needs_edc
def test_edc_with_empty_cross_reads_as_two_tuples():
    """GPTBigCode's decoder-only EncoderDecoderCache (4.56-4.57) and PEFT >= 0.14's seq2seq prefix."""
    self_cache = to_cache(_legacy())
    edc = features.encoder_decoder_cache_class()(self_cache, features.dynamic_cache_class()())
    _same(to_legacy(edc), _legacy())
    fresh = to_cache(edc)
    assert type(fresh) is type(edc) and fresh is not edc


@needs_cache
def test_unfilled_trailing_layers_are_dropped():
    cache = to_cache(_legacy(layers=2))
    if hasattr(cache, "layers"):
        cache.layers.append(type(cache.layers[0])())  # a pre-made, never-updated layer
    else:
        cache.key_cache.append(torch.tensor([]))
        cache.value_cache.append(torch.tensor([]))
    assert len(to_legacy(cache)) == 2


# --------------------------------------------------------------------------- storage


@needs_cache
def test_storage_identity_where_zero_copy_applies():
    legacy = _legacy(arity=2)
    back = to_legacy(to_cache(legacy))
    shared = [x.data_ptr() == y.data_ptr() for a, b in zip(back, legacy) for x, y in zip(a, b)]
    if STRATEGY == "copy":
        pytest.skip("not-applicable: this transformers copies on update and refuses adopted tensors")
    assert all(shared), f"storage strategy {STRATEGY!r} must not copy"


@needs_cache
def test_forward_style_update_never_writes_into_the_callers_tensors():
    legacy = _legacy(layers=1)
    before = legacy[0][0].clone()
    cache = to_cache(legacy)
    cache.update(torch.ones(2, 2, 1, 4), torch.ones(2, 2, 1, 4), 0)
    assert torch.equal(legacy[0][0], before)
    assert cache.get_seq_length() == 4


def test_peft_stacked_input_is_viewed_not_copied():
    stacked = tuple(torch.stack(layer) for layer in _legacy())
    back = to_legacy(stacked)
    assert all(back[i][j].data_ptr() == stacked[i][j].data_ptr() for i in range(2) for j in range(2))


# --------------------------------------------------------------------------- warnings


@pytest.mark.parametrize("arity", [pytest.param(2, id="decoder"), pytest.param(4, id="enc-dec")])
def test_no_warnings_from_the_shim(arity):
    legacy = _legacy(arity=arity)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cache = to_cache(legacy)
        to_legacy(cache)
        to_cache(cache)
    assert [str(w.message) for w in caught] == []


# --------------------------------------------------------------------------- model / config


@pytest.mark.parametrize(
    "family_id",
    [pytest.param("llama", id="llama"), pytest.param("gpt2", id="gpt2"), pytest.param("bloom", id="bloom"),
     pytest.param("gpt_bigcode", id="gpt_bigcode"), pytest.param("t5", id="t5")],
)
def test_model_and_config_give_the_same_container(family_id):
    ok, why = zoo.family_available(family_id)
    if not ok:
        pytest.skip(f"not-applicable: {why}")
    model = zoo.build(family_id)
    d = zoo.dims(model)
    arity = 4 if model.config.is_encoder_decoder else 2
    legacy = _legacy(layers=d.layers, arity=arity, heads=d.kv_heads, dim=d.head_dim)
    by_model, by_config = to_cache(legacy, model=model), to_cache(legacy, config=model.config)
    assert type(by_model) is type(by_config)
    if features.family_takes_cache(model.config.model_type, model=model):
        assert features.is_cache(by_model)
    else:
        assert isinstance(by_model, tuple)
    _same(to_legacy(by_model, model=model), legacy)


def test_peft_model_is_unwrapped():
    peft = pytest.importorskip("peft")
    model = zoo.build("gpt2")
    pm = peft.get_peft_model(model, peft.PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=2))
    d = zoo.dims(model)
    legacy = _legacy(layers=d.layers, heads=d.kv_heads, dim=d.head_dim)
    assert type(to_cache(legacy, model=pm)) is type(to_cache(legacy, model=model))


def test_a_model_type_outside_the_registry_is_decided_by_the_models_class():
    """A model whose config names a family transformers does not know (a remote-code model, a user's
    subclass) takes what its class takes: with ``model=`` the shim asks the class, so the model's own
    prefix goes in as the installed container and continues the full forward's logits; with only the
    config there is nothing to ask, and the shim says so (where Cache classes exist)."""
    from compat import UnsupportedModelError, cache_kwargs, output_cache
    from compat.tolerance import assert_close

    model = zoo.build("llama")
    model.config.__class__ = type("OutsideConfig", (type(model.config),), {"model_type": "pcc_outside_llama"})
    ids = torch.randint(3, zoo.VOCAB, (1, 5), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = model(ids).logits[:, 3:]
        legacy = to_legacy(output_cache(model(ids[:, :3], use_cache=True)))
        prefix = to_cache(legacy, model=model)
        assert type(prefix) is (features.dynamic_cache_class() or tuple)
        _same(to_legacy(prefix, model=model), legacy)
        got = model(ids[:, 3:], **cache_kwargs(model, prefix), use_cache=True).logits
    assert_close(got, expected, what="outside-the-registry llama: to_cache(model=) prefix vs full forward")
    if not HAS_CACHE:
        assert isinstance(to_cache(legacy, config=model.config), tuple)
        return
    for call in (lambda: to_cache(legacy, config=model.config), lambda: to_legacy(legacy, config=model.config)):
        with pytest.raises(UnsupportedModelError) as info:
            call()
        assert str(info.value) == (
            "model_type 'pcc_outside_llama': not a transformers model family known to this install")


# --------------------------------------------------------------------------- fixed-size caches


def _static_cache(max_cache_len: int):
    cache = zoo.static_cache("llama", max_cache_len=max_cache_len, batch=2)
    if cache is None:
        pytest.skip("not-applicable: no StaticCache in this transformers")
    return cache


def _fill(cache, seq):
    d = zoo.dims(zoo.config_for("llama"))
    legacy = _legacy(layers=d.layers, heads=d.kv_heads, seq=seq, dim=d.head_dim)
    for i, (k, v) in enumerate(legacy):
        cache.update(k, v, i, {"cache_position": torch.arange(seq)})
    return legacy


def _is_model_wide(cache) -> bool:
    """4.38-4.39 StaticCache holds one layer (a tensor, not a list of layers): a different object."""
    return hasattr(cache, "layers") or isinstance(getattr(cache, "key_cache", None), (list, tuple))


def _model_wide(cache):
    if not _is_model_wide(cache):
        pytest.skip("not-applicable: this transformers' StaticCache holds one layer (models keep one per attention)")
    return cache


def test_per_layer_static_cache_is_refused_clearly():
    cache = _static_cache(8)
    if _is_model_wide(cache):
        pytest.skip("not-applicable: this transformers' StaticCache is model-wide (a list of layers)")
    d = zoo.dims(zoo.config_for("llama"))
    for call in (to_legacy, to_cache):
        with pytest.raises(TypeError) as info:
            call(cache)
        assert str(info.value) == (
            f"StaticCache: on this transformers it holds ONE layer (a single shape (2, {d.kv_heads}, 8, {d.head_dim}) "
            "key tensor; models keep one per attention module); expected a whole model's cache (a list of layers) "
            "or legacy tuples")


def test_static_cache_with_room_reads_its_filled_slots():
    cache = _model_wide(_static_cache(8))
    legacy = _fill(cache, 3)
    _same(to_legacy(cache), legacy)


def test_full_static_cache_is_refused_clearly():
    cache = _model_wide(_static_cache(3))
    _fill(cache, 3)
    with pytest.raises(TypeError, match=r"layer 0: StaticCache holds 3 tokens.*room for more"):
        to_legacy(cache)
