"""Numerical oracle that needs no cache of ours: the model's own KV of real prefix
tokens, passed through the shim, must give the logits (and greedy tokens) of one
plain forward over the whole sequence.

Per family: ``prefix = model(ids[:, :P], use_cache=True).past_key_values`` (whatever
the installed version returns), ``to_legacy`` -> standard tuples, then
``prefixed_call`` (which calls ``to_cache``) runs the remaining L tokens. Bloom and
GPTBigCode exercise their native layouts on the versions that still use them.
"""

from __future__ import annotations

import pytest
import torch

from compat import _transformers as features
from compat import output_cache, prefixed_call, to_cache, to_legacy
from compat.testing import zoo
from compat.tolerance import assert_close, assert_same_tokens

P, L, B, NEW = 3, 4, 2, 3

FAMILY_PARAMS = [
    pytest.param("llama", id="llama"),
    pytest.param("llama_gqa", id="llama-gqa"),
    pytest.param("qwen3", id="qwen3-head_dim"),
    pytest.param("gemma2", id="gemma2-hybrid"),
    pytest.param("gemma3", id="gemma3-hybrid"),
    pytest.param("gpt2", id="gpt2"),
    pytest.param("opt", id="opt"),
    pytest.param("bloom", id="bloom"),
    pytest.param("gpt_bigcode", id="gpt_bigcode-mqa"),
    pytest.param("gpt_bigcode:mha", id="gpt_bigcode-mha"),
    pytest.param("t5", id="t5"),
    pytest.param("bart", id="bart"),
]


@pytest.fixture(scope="module")
def models(zoo_models):
    def get(key):
        found = zoo_models(key)
        mt = found.config.model_type
        if mt.startswith("gemma") and not features.family_takes_cache(mt, model=found):
            pytest.skip(f"not-applicable: {mt} takes only its own HybridCache here (no tuples, no DynamicCache)")
        return found

    return get


def _ids(seed: int, length: int, start: int | None = None) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, zoo.VOCAB, (B, length), generator=g)
    if start is not None:
        ids[:, 0] = start
    return ids


def _own_prefix(model, enc, full):
    """The model's own cache for the first P tokens (skips fixed-size caches, see docs/shim.md)."""
    if enc is None:
        own = output_cache(model(full[:, :P], use_cache=True))
    else:
        own = output_cache(model(input_ids=enc, decoder_input_ids=full[:, :P], use_cache=True))
    if own is None:  # 4.42-4.44 Gemma-2: only generate builds its HybridCache
        pytest.skip(f"not-applicable: {type(model).__name__}'s forward returns no cache with "
                    "use_cache=True on this transformers (only generate creates its cache)")
    dynamic = features.dynamic_cache_class()
    if features.is_cache(own) and not isinstance(own, dynamic) and not features.is_encoder_decoder_cache(own):
        pytest.skip(f"not-applicable: the model's own prefix cache is a fixed-size {type(own).__name__} "
                    "sized to the prefix; to_legacy cannot prove its sliding layers have not rolled")
    return own


def _case(model):
    """(encoder ids or None, full decoder-side ids), on the model's device."""
    if model.config.is_encoder_decoder:
        return _ids(1, 5).to(model.device), _ids(2, P + L, start=model.config.decoder_start_token_id).to(model.device)
    return None, _ids(2, P + L).to(model.device)


@pytest.mark.parametrize("family_id", FAMILY_PARAMS)
def test_forward_with_prefix_matches_full_forward(family_id, models, record_property, deprecations):
    model = models(family_id)
    enc, full = _case(model)
    with torch.no_grad():
        if enc is None:
            plain = {"input_ids": full}
            expected = model(**plain).logits[:, P:]
            own = _own_prefix(model, enc, full)
            call = prefixed_call(model, to_legacy(own, model=model), full[:, P:])
        else:
            plain = {"input_ids": enc, "decoder_input_ids": full}
            expected = model(**plain).logits[:, P:]
            own = _own_prefix(model, enc, full)
            call = prefixed_call(model, to_legacy(own, model=model), enc, decoder_input_ids=full[:, P:])
        assert call.kwargs["use_cache"] is True
        if "cache_position" in call.kwargs:  # only where the forward takes it: the positions after the prefix
            new = full.shape[1] - P
            assert call.kwargs["cache_position"].tolist() == list(range(P, P + new))
        got, said = deprecations(lambda: model(**call.kwargs).logits, baseline=lambda: model(**plain))
    assert_close(got, expected, what=f"{family_id} logits after a shim prefix", record=record_property)
    assert said == [], "the shim's arguments drew a deprecation warning"


@pytest.mark.parametrize("family_id", FAMILY_PARAMS)
def test_generate_with_prefix_matches_full_generate(family_id, models, deprecations, record_property):
    model = models(family_id)
    enc, full = _case(model)
    opts = {"max_new_tokens": NEW, "do_sample": False, "output_scores": True, "return_dict_in_generate": True}
    with torch.no_grad():
        if enc is None:
            plain = {"input_ids": full, "attention_mask": torch.ones_like(full)}
            whole = model.generate(**plain, **opts)
            expected = whole.sequences[:, P:]
            own = _own_prefix(model, enc, full)
            call = prefixed_call(model, to_legacy(own, model=model), full[:, P:], for_generate=True)
        else:
            plain = {"input_ids": enc, "decoder_input_ids": full}
            whole = model.generate(**plain, **opts)
            expected = whole.sequences[:, P:]
            own = _own_prefix(model, enc, full)
            call = prefixed_call(model, to_legacy(own, model=model), enc, decoder_input_ids=full[:, P:],
                                 for_generate=True)
        out, said = deprecations(lambda: model.generate(**call.kwargs, **opts),
                                 baseline=lambda: model.generate(**plain, **opts))
        got = call.strip(out.sequences)
    # generated steps start after the L given tokens: the scores cover only those (half precision:
    # a near tie there is compared up to that step, see compat.tolerance)
    pad = [None] * L
    assert_same_tokens(got, expected, logits_at=(pad + list(out.scores), pad + list(whole.scores)),
                       near_ties="greedy", dtype=model.dtype, record=record_property)
    assert said == [], "the shim's generate arguments drew a deprecation warning"
    assert torch.equal(got[:, :L], full[:, P:])


@pytest.mark.parametrize("family_id", FAMILY_PARAMS)
def test_own_cache_round_trips_through_the_shim(family_id, models):
    """to_cache(to_legacy(model output)) is what this family takes, holding the same tensors."""
    model = models(family_id)
    enc, full = _case(model)
    with torch.no_grad():
        own = _own_prefix(model, enc, full)
    legacy = to_legacy(own, model=model)
    assert len(legacy) == zoo.dims(model).layers
    assert legacy[0][0].dim() == 4 and legacy[0][0].shape[0] == B and legacy[0][0].shape[2] == P
    again = to_legacy(to_cache(legacy, model=model), model=model)
    for i, (a, b) in enumerate(zip(legacy, again)):
        assert len(a) == len(b), f"layer {i}: arity changed"
        for x, y in zip(a, b):
            assert torch.equal(x, y), f"layer {i}: tensors changed"
