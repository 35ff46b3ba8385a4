"""PEFT ``generate`` equals the hand-written reference decoder (a full forward
over the sequence so far at every step, prompt/prefix given explicitly; no
``generate``, no carried cache). Token ids are compared exactly; a mismatch
names the first differing (row, step) and the logits there. Where the tokens agree, every step's
logits must agree too, within the tolerance (beam search: tokens only, its scores are beam
scores). In half precision a row is compared up to its first near tie (``compat.tolerance``: the
reference's top-2 gap below the measured noise and both sides' logits within tolerance), recorded
as ``token_near_ties``."""

from __future__ import annotations

import pytest
import torch

from compat.testing import profiles, zoo
from compat.testing.cases import params
from compat.tolerance import assert_same_step_logits, assert_same_tokens

BEAMS = 3
#: All methods, or one per hand-over path in the matrix profile (see compat.testing.profiles).
GENERATION_METHODS = profiles.generation_methods()


def _generate(case, ids, mask, **kw):
    new, out = case.peft_generate(ids, mask, output_scores=True, return_dict_in_generate=True, **kw)
    return new, list(out.scores)


def _reference(case, ids, mask, **kw):
    """The cache-free reference decode (computed once per process per case and input: the
    workaround and "the prompt matters" compare against the same greedy decode)."""
    return case.reference_decode(ids, mask, **kw)


def _same_decode(case, got, scores, expected, expected_scores, what, record, near_ties="greedy"):
    """The same tokens and, at every step, the same logits (tiny random models often pick the same
    tokens from different logits, so the tokens alone could pass a wrong decode)."""
    found = assert_same_tokens(got, expected, logits_at=(scores, expected_scores), what=what, near_ties=near_ties,
                               dtype=case.base.dtype, record=record)
    assert_same_step_logits(scores, expected_scores, what=f"{what}: step logits", compared_to=found.compared_to,
                            record=record)


def _check(case, got, scores, ref, what, record, near_ties="greedy"):
    _same_decode(case, got, scores, ref.sequences, ref.scores, f"{what} [{case.generate_diagnosis()}]", record,
                 near_ties)


@pytest.mark.parametrize("family,method", params("greedy", methods_=GENERATION_METHODS))
def test_greedy(case, record_property):
    ids, mask = case.inputs(batch=2, length=5)
    got, scores = _generate(case, ids, mask, do_sample=False)
    _check(case, got, scores, _reference(case, ids, mask), "greedy generate vs reference", record_property)


@pytest.mark.parametrize("family,method", params("beam", methods_=GENERATION_METHODS))
def test_beam_search(case, record_property):
    ids, mask = case.inputs(batch=2, length=5)
    ref = _reference(case, ids, mask, mode="beam", num_beams=BEAMS)
    assert ref.reordered(), "these inputs never reorder beams; the check would not exercise cache reordering"
    got, _ = case.peft_generate(ids, mask, do_sample=False, num_beams=BEAMS)
    assert_same_tokens(got, ref.sequences,
                       what=f"beam search (num_beams={BEAMS}) vs reference [{case.generate_diagnosis()}]",
                       near_ties="beam", beam_gaps=ref.beam_gaps, dtype=case.base.dtype, record=record_property)


@pytest.mark.parametrize("family,method", params("beam_return", methods_=GENERATION_METHODS))
def test_beam_num_return_sequences(case, record_property):
    ids, mask = case.inputs(batch=2, length=5)
    ref = _reference(case, ids, mask, mode="beam", num_beams=BEAMS, num_return_sequences=2)
    got, _ = case.peft_generate(ids, mask, do_sample=False, num_beams=BEAMS, num_return_sequences=2)
    assert_same_tokens(got, ref.sequences,
                       what=f"beam search, num_return_sequences=2 vs reference [{case.generate_diagnosis()}]",
                       near_ties="beam", beam_gaps=ref.beam_gaps, dtype=case.base.dtype, record=record_property)


@pytest.mark.parametrize("family,method", params("sample", methods_=GENERATION_METHODS))
def test_sampling_fixed_seed(case, record_property):
    ids, mask = case.inputs(batch=2, length=5)
    ref = _reference(case, ids, mask, mode="sample", seed=1234)
    torch.manual_seed(1234)
    got, scores = _generate(case, ids, mask, do_sample=True, top_k=0, top_p=1.0, temperature=1.0)
    _check(case, got, scores, ref, "sampling (seed 1234) vs reference drawing with the same generator",
           record_property, near_ties="sample")


@pytest.mark.parametrize("family,method", params("sample_return", methods_=GENERATION_METHODS))
def test_sampling_num_return_sequences(case, record_property):
    ids, mask = case.inputs(batch=2, length=5)
    ref = _reference(case, ids, mask, mode="sample", seed=99, num_return_sequences=2)
    torch.manual_seed(99)
    got, scores = _generate(case, ids, mask, do_sample=True, top_k=0, top_p=1.0, temperature=1.0,
                            num_return_sequences=2)
    _check(case, got, scores, ref, "sampling, num_return_sequences=2 vs reference", record_property,
           near_ties="sample")


def _padded_batch(case):
    """Rows of length 5 and 3: left-padded for decoder-only models, right-padded
    sources for encoder-decoders (their encoders use absolute positions)."""
    ids, _ = case.inputs(batch=2, length=5, seed=5)
    mask = torch.ones_like(ids)
    if case.enc_dec:
        ids[1, 3:], mask[1, 3:] = zoo.PAD_ID, 0
    else:
        ids[1, :2], mask[1, :2] = zoo.PAD_ID, 0
    return ids, mask


@pytest.mark.parametrize("family,method", params("padded_batch", methods_=GENERATION_METHODS))
def test_padded_batch(case, record_property):
    """Against the reference with the positions PEFT actually gives the model:
    mask-derived where it forwards position ids, the model's own otherwise."""
    ids, mask = _padded_batch(case)
    record_property("peft_honours_position_ids", case.honours_position_ids)
    got, scores = _generate(case, ids, mask, do_sample=False)
    ref = _reference(case, ids, mask, position_ids=case.honours_position_ids)
    _check(case, got, scores, ref, "padded batch generate vs reference", record_property)


@pytest.mark.parametrize("family,method", params("padded_alone", methods_=GENERATION_METHODS))
def test_padded_row_equals_row_alone(case, record_property):
    if not case.honours_position_ids:
        pytest.skip("not-applicable: this peft drops position_ids for this method (it warns 'Position ids are "
                    "not supported'), so a left-padded row's positions shift by its padding")
    ids, mask = _padded_batch(case)
    got, got_scores = _generate(case, ids, mask, do_sample=False)
    keep = mask[1].bool()
    alone, alone_scores = _generate(case, ids[1:, keep], mask[1:, keep], do_sample=False)
    _same_decode(case, got[1:], [s[1:] for s in got_scores], alone, alone_scores,
                 f"padded row in a batch vs the same row alone [{case.generate_diagnosis()}]", record_property)


@pytest.mark.parametrize("family,method", params("twice", methods_=GENERATION_METHODS))
def test_generate_twice(case, record_property):
    ids, mask = case.inputs(batch=2, length=5, seed=9)
    first, _ = case.peft_generate(ids, mask, do_sample=False)
    second, scores = _generate(case, ids, mask, do_sample=False)
    assert_same_tokens(second, first,
                       what="second generate call vs first (state leaking between calls) "
                            f"[{case.generate_diagnosis()}]")
    _check(case, second, scores, _reference(case, ids, mask), "second generate call vs reference", record_property)
