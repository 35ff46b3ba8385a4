"""The reference memo (compat.testing.memo) hands out copies, keys on content and gives exactly
what an uncached reference decode gives: caching references saves work, never a comparison."""

from __future__ import annotations

import pytest
import torch

from compat.testing import cases, memo, reference, zoo
from compat.testing.cases import GEN_TOKENS


def _case(family="llama", method="prefix"):
    reason = cases.applicable(family, method)
    if reason:
        pytest.skip(reason)
    return cases.get(family, method)


def _uncached(case, ids, mask, **kw):
    return reference.decode(case.base, ids, mask, max_new_tokens=GEN_TOKENS, **case.prompt(ids.shape[0]), **kw)


@pytest.mark.parametrize("mode", [pytest.param("greedy", id="greedy"), pytest.param("sample", id="sample")])
def test_cached_decode_equals_uncached_and_survives_mutation(mode):
    case = _case()
    ids, mask = case.inputs(batch=2, length=5, seed=41)  # inputs no suite test uses
    kw = {"seed": 7} if mode == "sample" else {}
    first = case.reference_decode(ids, mask, mode=mode, **kw)
    first.sequences.fill_(-1)  # a caller mutating what it got ...
    first.scores[0].zero_()
    first.scores.append(torch.ones(1))
    hits = memo.REFERENCES.hits
    again = case.reference_decode(ids, mask, mode=mode, **kw)
    assert memo.REFERENCES.hits == hits + 1, "the second call should have been served from the memo"
    want = _uncached(case, ids, mask, mode=mode, **kw)  # ... changes nothing the next caller gets
    assert torch.equal(again.sequences, want.sequences)
    assert len(again.scores) == len(want.scores) == GEN_TOKENS
    assert all(torch.equal(a, b) for a, b in zip(again.scores, want.scores))


def test_other_inputs_are_not_served_from_the_memo():
    case = _case()
    ids, mask = case.inputs(batch=2, length=5, seed=42)
    case.reference_decode(ids, mask)
    misses = memo.REFERENCES.misses
    other = ids.clone()
    other[0, -1] = (other[0, -1] + 1) % zoo.VOCAB
    got = case.reference_decode(other, mask)
    assert memo.REFERENCES.misses == misses + 1
    assert torch.equal(got.sequences, _uncached(case, other, mask).sequences)
    case.reference_decode(ids, mask, with_prompt=False)  # the base model alone is another reference
    assert memo.REFERENCES.misses == misses + 2


def test_key_covers_the_weights_and_the_prompt():
    base = zoo.build("llama")
    before = memo.model_digest(base)
    assert memo.model_digest(base) == before == memo.model_digest(zoo.build("llama"))  # same seed, same weights
    first = next(base.parameters()).view(-1)
    original = first[0].item()
    with torch.no_grad():
        first[0] += 1.0  # in place, through a view
    changed = memo.model_digest(base)
    assert changed != before
    with torch.no_grad():
        first[0] = original
    assert memo.model_digest(base) == before  # the content, not the history, is the key
    emb = base.get_input_embeddings()
    emb.weight = torch.nn.Parameter(emb.weight.detach() * 2)  # a replaced parameter
    assert memo.model_digest(base) not in (before, changed)
    assert memo.digest(torch.zeros(2)) != memo.digest(torch.zeros(2, dtype=torch.float64))
    assert memo.digest({"prefix": (torch.zeros(1),)}) != memo.digest({"virtual": torch.zeros(1)})
    with pytest.raises(TypeError, match="cannot key a memo on a object"):
        memo.digest(object())


def test_best_beams_equals_decoding_with_fewer_returns():
    case = _case()
    ids, mask = case.inputs(batch=2, length=5, seed=43)
    got = case.reference_decode(ids, mask, mode="beam", num_beams=3, num_return_sequences=2)
    want = _uncached(case, ids, mask, mode="beam", num_beams=3, num_return_sequences=2)
    assert torch.equal(got.sequences, want.sequences)
    assert all(torch.equal(a, b) for a, b in zip(got.beam_gaps, want.beam_gaps))
    with pytest.raises(ValueError, match="cannot take 4 of 3 beams"):
        reference.best_beams(_uncached(case, ids, mask, mode="beam", num_beams=3, num_return_sequences=3), 2, 4)
