"""Every method: use_cache=True equals use_cache=False; a batch equals each
row alone; encoder-decoders with a source shorter than, equal to and longer
than the number of virtual tokens match the reference."""

from __future__ import annotations

import pytest
import torch

from compat.testing import methods, reference
from compat.testing.cases import params
from compat.tolerance import assert_close


@pytest.mark.parametrize("family,method", params("use_cache"))
def test_use_cache_true_equals_false(case, record_property):
    ids, mask = case.inputs(batch=2, length=5)
    dec = case.decoder_ids(2) if case.enc_dec else None
    assert_close(case.peft_logits(ids, mask, decoder_ids=dec, use_cache=False),
                 case.peft_logits(ids, mask, decoder_ids=dec, use_cache=True),
                 what="PEFT forward use_cache=False vs use_cache=True", record=record_property)


@pytest.mark.parametrize("family,method", params("batch"))
def test_batch_equals_rows_alone(case, record_property):
    ids, mask = case.inputs(batch=3, length=5, seed=3)
    dec = case.decoder_ids(3, seed=3) if case.enc_dec else None
    batched = case.peft_logits(ids, mask, decoder_ids=dec)
    alone = torch.cat([case.peft_logits(ids[i:i + 1], mask[i:i + 1],
                                        decoder_ids=None if dec is None else dec[i:i + 1]) for i in range(3)])
    assert_close(batched, alone, what="PEFT forward on a batch of 3 vs each row alone", record=record_property)


@pytest.mark.parametrize("src", ["src_below", "src_equal", "src_above"])
@pytest.mark.parametrize("family,method", params("source_length", enc_dec=True))
def test_source_length_vs_num_virtual_tokens(case, src, record_property):
    length = {"src_below": methods.NUM_VIRTUAL_TOKENS - 2, "src_equal": methods.NUM_VIRTUAL_TOKENS,
              "src_above": methods.NUM_VIRTUAL_TOKENS + 3}[src]
    ids, mask = case.inputs(batch=2, length=length, seed=length)
    dec = case.decoder_ids(2)
    want = reference.next_logits(case.base, dec, torch.ones_like(dec), source=ids, source_mask=mask,
                                 **case.prompt(2))
    assert_close(case.peft_logits(ids, mask, decoder_ids=dec), want,
                 what=f"PEFT forward vs reference, source length {length}, {case.nvt} virtual tokens",
                 record=record_property)
