"""Prefix tuning: PEFT's forward, the base model given the same prefix as a
legacy tuple, through ``compat.to_cache``, and as a natively built Cache all
give the same logits; a prefix of real-token KV matches one cache-free forward."""

from __future__ import annotations

import pytest
import torch

from compat import cache_argument, prefixed_call
from compat.testing import methods, paths, reference, zoo
from compat.testing.cases import params
from compat.tolerance import assert_close

PREFIX = methods.PREFIX_METHODS


def _inputs(case):
    ids, mask = case.inputs(batch=2, length=5)
    dec = case.decoder_ids(2) if case.enc_dec else None
    return ids, mask, dec


def _with_past(case, past, ids, mask, dec):
    """Base-model logits with ``past`` as the cache argument (attention mask P+L)."""
    plen = methods.NUM_VIRTUAL_TOKENS
    kw = {cache_argument(case.base): past, "use_cache": True}
    kw.update(paths.after_prefix(case.base, plen, (dec if case.enc_dec else ids).shape[1]))
    if case.enc_dec:
        kw.update(input_ids=ids, attention_mask=mask, decoder_input_ids=dec,
                  decoder_attention_mask=torch.ones(dec.shape[0], plen + dec.shape[1], dtype=torch.long,
                                                    device=dec.device))
    else:
        kw.update(input_ids=ids, attention_mask=torch.cat([mask.new_ones((ids.shape[0], plen)), mask], 1))
    with torch.no_grad():
        return case.base(**kw).logits


def _layers(case, ids, mask):
    """The PEFT prefix in the standard layout (4-tuples with the real cross KV for seq2seq)."""
    prefix = reference.peft_prefix(case.peft, ids.shape[0])
    if case.enc_dec:
        cross = reference.cross_kv(case.base, ids, mask)
        return tuple((k, v, ck, cv) for (k, v), (ck, cv) in zip(prefix, cross))
    return prefix


def _via_to_cache(case, ids, mask, dec):
    if case.enc_dec:
        return reference.next_logits(case.base, dec, torch.ones_like(dec), source=ids, source_mask=mask,
                                     prefix=reference.peft_prefix(case.peft, ids.shape[0]))
    call = prefixed_call(case.base, reference.peft_prefix(case.peft, ids.shape[0]), ids, attention_mask=mask)
    with torch.no_grad():
        return case.base(**call.kwargs).logits


@pytest.mark.parametrize("family,method", params("to_cache", methods_=PREFIX))
def test_peft_equals_to_cache(case, record_property):
    why = paths.own_cache_only(case.base)
    if why:
        pytest.skip(why)
    ids, mask, dec = _inputs(case)
    assert_close(case.peft_logits(ids, mask, decoder_ids=dec), _via_to_cache(case, ids, mask, dec),
                 what="PEFT forward vs base + compat.to_cache(prefix)", record=record_property)


@pytest.mark.parametrize("family,method", params("tuple", methods_=PREFIX))
def test_legacy_tuple(case, record_property):
    ok, why = paths.accepts_tuple(case.base)
    if not ok:
        pytest.skip(why)
    ids, mask, dec = _inputs(case)
    got = _with_past(case, paths.tuple_for(case.base, _layers(case, ids, mask)), ids, mask, dec)
    assert_close(got, _via_to_cache(case, ids, mask, dec), mode="bitwise",
                 what="base + legacy tuple vs base + compat.to_cache (same tensors, same kernels)")
    assert_close(got, case.peft_logits(ids, mask, decoder_ids=dec), what="base + legacy tuple vs PEFT forward",
                 record=record_property)


@pytest.mark.parametrize("family,method", params("native_cache", methods_=PREFIX))
def test_native_cache(case, record_property):
    ok, why = paths.takes_cache(case.base)
    if not ok:
        pytest.skip(why)
    ids, mask, dec = _inputs(case)
    got = _with_past(case, paths.native_cache(_layers(case, ids, mask)), ids, mask, dec)
    assert_close(got, _via_to_cache(case, ids, mask, dec), mode="bitwise",
                 what="base + DynamicCache()+update vs base + compat.to_cache (same tensors, same kernels)")
    assert_close(got, case.peft_logits(ids, mask, decoder_ids=dec), what="base + native Cache vs PEFT forward",
                 record=record_property)


@pytest.mark.parametrize("family,method", params("oracle", methods_=("prefix",), enc_dec=False))
def test_real_token_oracle(family, method, record_property):
    """Load the model's own KV of P real tokens as the PEFT prefix: PEFT's
    logits must equal one forward over those tokens + the input (no cache)."""
    from compat.testing import cases

    reason = cases.applicable(family, method)
    if reason:
        pytest.skip(reason)
    base = zoo.build(family, seed=0)
    pm = methods.wrap(base, method, seed=0)
    gen = torch.Generator().manual_seed(7)
    prefix_ids = torch.randint(3, zoo.VOCAB, (1, methods.NUM_VIRTUAL_TOKENS), generator=gen).to(base.device)
    reference.load_prefix(pm, reference.model_kv(base, prefix_ids))
    ids = torch.randint(3, zoo.VOCAB, (2, 5), generator=gen).to(base.device)
    with torch.no_grad():
        got = pm(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
        full = base(input_ids=torch.cat([prefix_ids.expand(2, -1), ids], 1)).logits[:, -ids.shape[1]:]
    assert_close(got, full, what="PEFT forward with a real-token prefix vs one forward over prefix+input",
                 record=record_property)
