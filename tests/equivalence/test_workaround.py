"""The workaround for a PEFT ``generate`` that mishandles the cache (e.g. peft 0.21.2 on
transformers 5.24, see docs/suites.md): take the adapter's prompt as a prefix and generate with
the *base* model through :func:`compat.prefixed_call`. Checked here against the hand-written
reference decoder (no ``generate``, no carried cache), token ids exact, on every version.

* prefix methods: the adapter's own prefix (``get_prompt``, read in the standard layout);
* prompt methods (prompt tuning, p-tuning, multitask prompt tuning) of decoder-only models: the
  base model's KV of the virtual token embeddings, which is what attending to them means.
"""

from __future__ import annotations

import pytest
import torch

from compat import UnsupportedModelError, prefixed_call
from compat.testing import profiles, reference
from compat.testing.cases import GEN_TOKENS, params
from compat.tolerance import assert_same_tokens

GENERATION_METHODS = profiles.generation_methods()


def _prefix(case, batch, ids, mask):
    if case.is_prefix and case.enc_dec:
        # (self key, self value, cross key, cross value): what a tuple-era encoder-decoder needs,
        # and the cross-attention cache generate would compute itself on a Cache-era one
        cross = reference.cross_kv(case.base, ids, mask)
        return tuple((k, v, ck, cv) for (k, v), (ck, cv) in zip(reference.peft_prefix(case.peft, batch), cross))
    if case.is_prefix:
        return reference.peft_prefix(case.peft, batch)
    if case.enc_dec:
        pytest.skip("not-applicable: an encoder-decoder's virtual prompt is an encoder input, not a cache: "
                    "there is no prefix to hand to prefixed_call")
    return reference.prompt_kv(case.base, case.prompt(batch)["virtual"])


@pytest.mark.parametrize("family,method", params("prefixed_generate", methods_=GENERATION_METHODS))
def test_prefixed_call_generate_equals_reference(case, record_property):
    ids, mask = case.inputs(batch=2, length=5)
    prefix = _prefix(case, 2, ids, mask)
    try:
        call = prefixed_call(case.base, prefix, ids, attention_mask=mask, for_generate=True)
    except UnsupportedModelError as exc:  # e.g. Gemma-2 on 4.42-4.44 takes only its own HybridCache
        pytest.skip(f"not-applicable: prefixed_call refuses this model here: {exc}")
    with torch.no_grad():
        out = case.base.generate(**call.kwargs, max_new_tokens=GEN_TOKENS, do_sample=False, pad_token_id=0,
                                 output_scores=True, return_dict_in_generate=True)
    got = call.strip(out.sequences)[:, -GEN_TOKENS:]
    ref = case.reference_decode(ids, mask)
    assert_same_tokens(got, ref.sequences, what="greedy generate through prefixed_call vs reference",
                       logits_at=(list(out.scores), ref.scores), near_ties="greedy", dtype=case.base.dtype,
                       record=record_property)
