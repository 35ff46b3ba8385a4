"""The virtual prompt must change the output; otherwise a path that silently
ignores it would pass every equivalence check."""

from __future__ import annotations

import pytest
import torch

from compat.testing import reference
from compat.testing.cases import params
from compat.tolerance import diff_stats


@pytest.mark.parametrize("family,method", params("prompt_matters"))
def test_prompt_changes_greedy_output(case, record_property):
    ids, mask = case.inputs(batch=2, length=5)
    # the same decodes the generation checks compare against (computed once per process per input;
    # the base model's is shared by every method of a family: same weights, same ids)
    with_prompt = case.reference_decode(ids, mask).sequences
    without = case.reference_decode(ids, mask, with_prompt=False).sequences
    assert not torch.equal(with_prompt, without), (
        f"the virtual prompt does not change the greedy output: {with_prompt.tolist()}; "
        "a path that ignores it would pass the generation checks")
    dec = case.decoder_ids(2) if case.enc_dec else None
    peft = case.peft_logits(ids, mask, decoder_ids=dec)
    if case.enc_dec:
        base = reference.next_logits(case.base, dec, torch.ones_like(dec), source=ids, source_mask=mask)
    else:
        base = reference.next_logits(case.base, ids, mask)
    gaps = [diff_stats(peft[i], base[i])["max_abs_diff"] for i in range(ids.shape[0])]
    record_property("prompt_logit_gap", min(gaps))
    assert min(gaps) > 0.1, f"per-row PEFT logits are within {gaps} of the base model's: the prompt does not matter"
