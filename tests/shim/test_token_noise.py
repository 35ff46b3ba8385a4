"""The token-comparison policy (compat.tolerance): exact in fp32; in half precision a row is compared
up to its first near tie (reference top-2 gap below the measured noise and the logits that carry the
choice within tolerance), while a dropped prompt (logits moved far beyond the tolerance) always counts.
Synthetic scores, so the rule itself is checked on every CPU run."""

from __future__ import annotations

import pytest
import torch

from compat.tolerance import TOKEN_NOISE, assert_same_tokens

VOCAB = 50


def _scores(dtype, top: tuple[float, float], shift: float = 0.0, steps: int = 3):
    """Per-step [1, VOCAB] scores whose two best logits are tokens 7 and 9 with values ``top``."""
    out = []
    for _ in range(steps):
        s = torch.linspace(-3.0, 0.0, VOCAB).unsqueeze(0) + shift
        s[0, 7], s[0, 9] = top[0] + shift, top[1] + shift
        out.append(s.to(dtype))
    return out


def _flip_at_last_step(got_top, ref_top, dtype=torch.bfloat16, shift=0.0, kind="greedy", record=None):
    ref = torch.tensor([[7, 7, 7]])
    got = torch.tensor([[7, 7, 9]])
    assert_same_tokens(got, ref, logits_at=(_scores(dtype, got_top, shift), _scores(dtype, ref_top)),
                       near_ties=kind, dtype=dtype, record=record)


def test_bf16_near_tie_is_compared_up_to_the_tie_and_recorded():
    props = {}
    _flip_at_last_step((5.0, 5.03125), (5.03125, 5.0), record=props.__setitem__)
    assert "row 0 compared up to step 2" in props["token_near_ties"]
    assert TOKEN_NOISE["bf16"] > 0.03125


@pytest.mark.parametrize("got_top,ref_top,shift,why", [
    pytest.param((5.0, 6.0), (6.0, 5.0), 0.0, "reference top-2 gap 1.0 is above the noise", id="clear-choice"),
    pytest.param((5.0, 5.03125), (5.03125, 5.0), 2.5, "logits moved by 2.5 (a dropped prompt)", id="dropped-prompt"),
])
def test_bf16_behaviour_still_counts(got_top, ref_top, shift, why):
    with pytest.raises(AssertionError, match="first difference at row 0, step 2"):
        _flip_at_last_step(got_top, ref_top, shift=shift)


def test_fp32_tokens_stay_exact():
    with pytest.raises(AssertionError, match="first difference at row 0, step 2"):
        _flip_at_last_step((5.0, 5.00001), (5.00001, 5.0), dtype=torch.float32)


def test_sampling_flip_with_the_same_distribution_is_noise_and_a_moved_one_is_not():
    _flip_at_last_step((5.0, 4.0), (5.0, 4.0), kind="sample")
    with pytest.raises(AssertionError):
        _flip_at_last_step((5.0, 4.0), (5.0, 4.0), shift=3.0, kind="sample")


@pytest.mark.parametrize("gap,tie", [pytest.param(0.01, True, id="beam-near-tie"),
                                     pytest.param(5.0, False, id="beam-clear")])
def test_beam_margin(gap, tie):
    ref, got = torch.tensor([[7, 7, 7]]), torch.tensor([[7, 7, 9]])
    gaps = [torch.tensor([gap], dtype=torch.bfloat16)] * 3
    if tie:
        assert_same_tokens(got, ref, near_ties="beam", beam_gaps=gaps, dtype=torch.bfloat16)
    else:
        with pytest.raises(AssertionError):
            assert_same_tokens(got, ref, near_ties="beam", beam_gaps=gaps, dtype=torch.bfloat16)


@pytest.mark.parametrize(("shift", "ok"), [
    pytest.param(3e-5, True, id="fp32-decode-noise-3e-5-passes"),
    pytest.param(0.6, False, id="same-tokens-logits-0.6-off-fails"),
])
def test_step_logits_of_equal_tokens_are_compared(shift, ok):
    """Equal token ids from logits 0.6 apart (the smallest wrong decode the matrix showed with the same
    tokens) fail; the decode noise of a correct path (up to 3.5e-5 measured) passes."""
    from compat.tolerance import assert_same_step_logits

    ref = _scores(torch.float32, (5.0, 4.0))
    got = _scores(torch.float32, (5.0, 4.0), shift=shift)
    if ok:
        assert_same_step_logits(got, ref)
    else:
        with pytest.raises(AssertionError, match=r"step logits \(row, step, token\): not close"):
            assert_same_step_logits(got, ref)


def test_step_logits_past_a_near_tie_are_not_compared_and_half_precision_is_recorded():
    """After a row's near tie the two decodes continue different texts: only the steps up to the tie
    count. Half precision has no calibrated step tolerance: not compared, and the record says so."""
    from compat.tolerance import assert_same_step_logits

    ref = _scores(torch.float32, (5.0, 4.0))
    got = [ref[0], ref[1], ref[2] + 1.0]
    assert_same_step_logits(got, ref, compared_to={0: 1})
    with pytest.raises(AssertionError):
        assert_same_step_logits(got, ref, compared_to={0: 2})
    props = {}
    half = [s.to(torch.bfloat16) for s in got]
    assert_same_step_logits(half, [s.to(torch.bfloat16) for s in ref], record=props.__setitem__)
    assert props["step_logits"].startswith("not compared in bf16")


def test_step_logits_of_decodes_of_different_lengths_fail_in_one_line():
    """Two decodes of different step counts are a clear failure, never a torch traceback; two empty
    ones have nothing to compare."""
    from compat.tolerance import assert_same_step_logits

    ref = _scores(torch.float32, (5.0, 4.0))
    with pytest.raises(AssertionError, match="2 generated steps != expected 3"):
        assert_same_step_logits(ref[:2], ref)
    assert_same_step_logits([], [])
