"""Prompt tuning, p-tuning, multitask prompt tuning: PEFT's forward equals the
base model fed ``cat(virtual, embeds)``, and (decoder-only) the base model fed
the virtual tokens' own KV, as a legacy tuple and as a Cache, then the input."""

from __future__ import annotations

import pytest
import torch

from compat import cache_argument, to_cache
from compat.testing import methods, paths, reference
from compat.testing.cases import params
from compat.tolerance import assert_close

PROMPT = methods.PROMPT_METHODS


@pytest.mark.parametrize("family,method", params("inputs_embeds", methods_=PROMPT))
def test_peft_equals_inputs_embeds(case, record_property):
    ids, mask = case.inputs(batch=2, length=5)
    virtual = case.prompt(2)["virtual"]
    if case.enc_dec:
        dec = case.decoder_ids(2)
        want = reference.next_logits(case.base, dec, torch.ones_like(dec), source=ids, source_mask=mask,
                                     virtual=virtual)
    else:
        dec = None
        want = reference.next_logits(case.base, ids, mask, virtual=virtual)
    assert_close(case.peft_logits(ids, mask, decoder_ids=dec), want,
                 what="PEFT forward vs base(inputs_embeds=cat(virtual, embeds))", record=record_property)


def _virtual_kv(case, batch):
    return reference.prompt_kv(case.base, case.prompt(batch)["virtual"])


def _check_virtual_kv(case, make_past, what, record_property):
    if case.enc_dec:
        pytest.skip("not-applicable: an encoder-decoder's virtual prompt is an encoder input; "
                    "the encoder keeps no KV cache to pass")
    ids, mask = case.inputs(batch=2, length=5)
    past = make_past(_virtual_kv(case, 2))
    full = torch.cat([mask.new_ones((2, case.nvt)), mask], 1)
    kw = paths.after_prefix(case.base, case.nvt, ids.shape[1])
    with torch.no_grad():
        kw[cache_argument(case.base)] = past
        got = case.base(input_ids=ids, attention_mask=full, use_cache=True, **kw).logits
    assert_close(got, case.peft_logits(ids, mask), what=what, record=record_property)


@pytest.mark.parametrize("family,method", params("virtual_kv_tuple", methods_=PROMPT))
def test_virtual_kv_as_tuple(case, record_property):
    if not case.enc_dec:
        ok, why = paths.accepts_tuple(case.base)
        if not ok:
            pytest.skip(why)
    _check_virtual_kv(case, lambda layers: paths.tuple_for(case.base, layers),
                      "base + virtual tokens' KV as a legacy tuple vs PEFT forward", record_property)


@pytest.mark.parametrize("family,method", params("virtual_kv_cache", methods_=PROMPT))
def test_virtual_kv_as_cache(case, record_property):
    if not case.enc_dec:
        ok, why = paths.takes_cache(case.base)
        if not ok:
            pytest.skip(why)
    _check_virtual_kv(case, lambda layers: to_cache(layers, model=case.base),
                      "base + virtual tokens' KV via compat.to_cache vs PEFT forward", record_property)
