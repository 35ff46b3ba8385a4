"""prefixed_call: the arguments themselves (the oracle in test_oracle.py checks the numbers)."""

from __future__ import annotations

import inspect

import pytest
import torch

from compat import MalformedCacheError, cache_argument, output_cache, prefixed_call, to_legacy
from compat import _transformers as features
from compat.testing import zoo
from compat.tolerance import assert_close

P, L = 3, 2


@pytest.fixture(scope="module")
def llama():
    return zoo.build("llama")


@pytest.fixture(scope="module")
def prefix(llama):
    with torch.no_grad():
        return to_legacy(output_cache(llama(torch.tensor([[5, 6, 7]]), use_cache=True)), model=llama)


def test_forward_arguments(llama, prefix):
    ids = torch.tensor([[8, 9], [10, 11]])
    call = prefixed_call(llama, prefix, ids, attention_mask=torch.tensor([[1, 1], [0, 1]]))
    kw = call.kwargs
    assert call.prefix_length == P and call.placeholders == 0
    assert kw["use_cache"] is True and "position_ids" not in kw
    takes = "cache_position" in inspect.signature(llama.forward).parameters
    assert ("cache_position" in kw) == takes  # the positions after the prefix, where the forward takes them
    if takes:
        assert kw["cache_position"].tolist() == [P, P + 1]
    assert kw["attention_mask"].tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 0, 1]]
    assert torch.equal(kw["input_ids"], ids)


def test_generate_arguments_and_strip(llama, prefix):
    ids = torch.tensor([[8, 9]])
    call = prefixed_call(llama, prefix, ids, for_generate=True)
    assert call.kwargs["input_ids"].shape == (1, P + L) and torch.equal(call.kwargs["input_ids"][:, P:], ids)
    assert call.kwargs["attention_mask"].shape == (1, P + L)
    assert torch.equal(call.strip(call.kwargs["input_ids"]), ids)


@pytest.mark.parametrize("for_generate", [pytest.param(False, id="forward"), pytest.param(True, id="generate")])
def test_default_mask_is_an_integer_mask_on_the_ids_device(llama, prefix, for_generate):
    """Without ``attention_mask``: P + L ones of the ids' integer dtype, as a tokenizer gives (generate
    derives position ids from the mask's cumulative sum)."""
    ids = torch.tensor([[8, 9]])
    mask = prefixed_call(llama, prefix, ids, for_generate=for_generate).kwargs["attention_mask"]
    assert mask.dtype == torch.long and mask.device == ids.device and mask.tolist() == [[1] * (P + L)]


def test_every_call_gets_a_fresh_cache(llama, prefix):
    ids = torch.tensor([[8, 9]])
    a, b = prefixed_call(llama, prefix, ids), prefixed_call(llama, prefix, ids)
    name = cache_argument(llama)
    assert a.kwargs[name] is not b.kwargs[name]
    with torch.no_grad():
        first = llama(**a.kwargs).logits
        again = llama(**b.kwargs).logits  # a's forward must not have touched b's cache
    assert_close(again, first, mode="bitwise", what="second call with the same prefix")


def test_batch_one_prefix_is_broadcast(llama, prefix):
    ids = torch.tensor([[8, 9], [12, 13]])
    wide = tuple(tuple(t.repeat(2, 1, 1, 1) for t in layer) for layer in prefix)
    with torch.no_grad():
        got = llama(**prefixed_call(llama, prefix, ids).kwargs).logits
        want = llama(**prefixed_call(llama, wide, ids).kwargs).logits
    assert_close(got, want, what="broadcast prefix vs repeated prefix")
    if features.storage_strategy() != "copy":
        legacy = to_legacy(prefixed_call(llama, prefix, ids).kwargs[cache_argument(llama)], model=llama)
        assert legacy[0][0].data_ptr() == prefix[0][0].data_ptr()  # an expanded view, not a copy


@pytest.mark.parametrize("bad, words", [
    pytest.param(torch.tensor([8, 9]), "input_ids: expected a [B, L] tensor, found shape (2,)", id="1d-ids"),
    pytest.param([[8, 9]], "input_ids: expected a [B, L] tensor, found list", id="list-ids"),
])
def test_bad_input_ids(llama, prefix, bad, words):
    with pytest.raises(MalformedCacheError) as info:
        prefixed_call(llama, prefix, bad)
    assert words in str(info.value)


def test_prefix_batch_mismatch(llama, prefix):
    wide = tuple(tuple(t.repeat(2, 1, 1, 1) for t in layer) for layer in prefix)
    with pytest.raises(MalformedCacheError, match=r"layer 0: prefix batch size must be 1 or equal .* 3, found 2"):
        prefixed_call(llama, wide, torch.ones(3, 2, dtype=torch.long))


def test_encoder_decoder_forward_needs_decoder_ids():
    t5 = zoo.build("t5")
    d = zoo.dims(t5)
    prefix = tuple((torch.zeros(1, d.kv_heads, P, d.head_dim),) * 4 for _ in range(d.layers))
    with pytest.raises(MalformedCacheError, match="decoder_input_ids"):
        prefixed_call(t5, prefix, torch.tensor([[4, 5]]))


def _whole_and_prefixed_generate(model, full, mask, before_the_shim=lambda: None, **opts):
    """Greedy ``generate`` over ``full`` in one go, and (after ``before_the_shim()``) through the shim
    with the model's own KV of ``full[:, :P]`` as the prefix: (whole output, prefixed output, the call)."""
    opts = {"max_new_tokens": 3, "do_sample": False, "output_scores": True, "return_dict_in_generate": True,
            **opts}
    with torch.no_grad():
        whole = model.generate(input_ids=full, attention_mask=mask, **opts)
        before_the_shim()
        own = to_legacy(output_cache(model(full[:, :P], use_cache=True)), model=model)
        call = prefixed_call(model, own, full[:, P:], attention_mask=mask[:, P:], for_generate=True)
        out = model.generate(**call.kwargs, **opts)
    return whole, out, call


def _assert_same_generation(whole, out, call, what, skip_column=None):
    assert call.strip(out.sequences).tolist() == whole.sequences[:, P:].tolist(), what
    for step, (got, want) in enumerate(zip(out.scores, whole.scores)):
        keep = torch.arange(got.shape[-1]) != (-1 if skip_column is None else skip_column)
        assert_close(got[:, keep], want[:, keep], what=f"{what}: scores at step {step}")


@pytest.mark.parametrize("new, hidden", [
    pytest.param(1, None, id="one-new-token"),
    pytest.param(2, None, id="two-new-tokens"),
    pytest.param(2, 0, id="two-new-tokens-first-hidden"),
    pytest.param(4, 1, id="four-new-tokens-second-hidden"),
])
@pytest.mark.parametrize("family_id", [pytest.param("llama", id="llama"), pytest.param("bloom", id="bloom-alibi")])
def test_generate_after_a_prefix_with_a_padded_mask(zoo_models, family_id, new, hidden):
    """L new tokens (before 4.36 all but the last are run through the model first), row 1's
    new token ``hidden`` masked: the tokens and scores of one generate over the whole sequence
    (whose position ids skip the hidden token)."""
    model = zoo_models(family_id)
    full = torch.tensor([[5, 6, 7, 8, 9, 10, 11], [12, 13, 14, 15, 16, 17, 18]])[:, : P + new]
    mask = torch.ones_like(full)
    if hidden is not None:
        mask[1, P + hidden] = 0
    whole, out, call = _whole_and_prefixed_generate(model, full, mask)
    _assert_same_generation(whole, out, call, f"{family_id} generate after a prefix, {new} new tokens")


def test_generate_placeholders_touch_only_the_pad_token(zoo_models):
    """The placeholders are the pad token: under a repetition penalty (which reads every id in
    ``input_ids``) only the pad token's score differs from one generate over the whole sequence,
    whose prefix ids here also occur among the new ones. A decoder-only config that names a
    ``decoder_start_token_id`` still gets pad placeholders."""
    model = zoo.build("llama", pad_token_id=7, decoder_start_token_id=9)
    full = torch.tensor([[8, 10, 8, 8, 10], [11, 12, 11, 12, 11]])
    whole, out, call = _whole_and_prefixed_generate(model, full, torch.ones_like(full), repetition_penalty=5.0)
    assert call.kwargs["input_ids"][:, :P].tolist() == [[7] * P] * 2
    _assert_same_generation(whole, out, call, "generate with a repetition penalty", skip_column=7)


@pytest.mark.parametrize("how", [pytest.param("none", id="pad-none"), pytest.param("unset", id="pad-unset")])
def test_generate_placeholders_without_a_pad_token_are_0(zoo_models, monkeypatch, config_without, how):
    """No pad token (``None``, or no attribute at all, as 5.x configs that take none): id 0."""
    model = zoo_models("llama")
    ids = torch.tensor([[8, 9]])
    with torch.no_grad():
        prefix = to_legacy(output_cache(model(torch.tensor([[5, 6, 7]]), use_cache=True)), model=model)
    if how == "none":
        monkeypatch.setattr(model.config, "pad_token_id", None)
    else:
        config_without(model, "pad_token_id")
    call = prefixed_call(model, prefix, ids, for_generate=True)
    assert call.kwargs["input_ids"].tolist() == [[0] * P + [8, 9]]


@pytest.mark.parametrize("family_id", [pytest.param("llama", id="llama"), pytest.param("gpt2", id="gpt2"),
                                       pytest.param("bloom", id="bloom")])
def test_generate_when_the_generation_config_names_a_cache_implementation(zoo_models, monkeypatch, family_id):
    """A generation config naming a cache implementation (Gemma-2's "hybrid"; a user's "static";
    one saved by a newer transformers, which an older one keeps as a plain attribute) makes
    generate refuse (or replace) a cache passed in: the shim's call must still continue the prefix,
    with the tokens and scores of a plain generate over the whole sequence."""
    model = zoo_models(family_id)
    full = torch.tensor([[5, 6, 7, 8, 9], [12, 13, 14, 15, 16]])
    whole, out, call = _whole_and_prefixed_generate(
        model, full, torch.ones_like(full),
        before_the_shim=lambda: monkeypatch.setattr(model.generation_config, "cache_implementation", "static",
                                                    raising=False))
    assert call.kwargs["cache_implementation"] is None
    _assert_same_generation(whole, out, call, f"{family_id} generate with cache_implementation='static'")


@pytest.mark.parametrize("family_id", [pytest.param("bloom", id="bloom"), pytest.param("gpt_bigcode", id="gpt_bigcode"),
                                       pytest.param("llama", id="llama")])
def test_prefix_in_the_models_own_layout(zoo_models, family_id):
    """The cache the model returned, passed as it is (Bloom's and GPTBigCode's native layouts on
    the versions that use them): the logits of one forward over the whole sequence."""
    model = zoo_models(family_id)
    full = torch.tensor([[5, 6, 7, 8, 9], [12, 13, 14, 15, 16]])
    with torch.no_grad():
        expected = model(full).logits[:, P:]
        own = output_cache(model(full[:, :P], use_cache=True))
        got = model(**prefixed_call(model, own, full[:, P:]).kwargs).logits
    assert_close(got, expected, what=f"{family_id} logits after its own cache, unconverted")


def test_a_model_that_returns_no_cache_after_the_prefix(zoo_models, monkeypatch):
    """Before 4.36 ``generate`` arguments run the model over all but the last new token; a model
    that then returns no cache is refused by name."""
    from compat import UnsupportedModelError

    if features.cache_utils() is not None:
        pytest.skip("not-applicable: from 4.36 prefixed_call runs no model before generate")
    model = zoo_models("llama")
    with torch.no_grad():
        prefix = to_legacy(output_cache(model(torch.tensor([[5, 6, 7]]), use_cache=True)), model=model)
    forward = model.forward

    def no_cache(*args, **kwargs):
        out = forward(*args, **kwargs)
        out.past_key_values = None
        return out

    monkeypatch.setattr(model, "forward", no_cache)
    with pytest.raises(UnsupportedModelError) as info:
        prefixed_call(model, prefix, torch.tensor([[8, 9]]), for_generate=True)
    assert str(info.value) == "LlamaForCausalLM returned no cache after the prefix"
