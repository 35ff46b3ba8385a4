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
