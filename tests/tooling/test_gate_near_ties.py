"""The gate's near-tie rule for generations in half precision: a token flip whose step is within
the measured noise (greedy/sampling: the golden's top-2 gap below the noise and both sides' highest
scores within the tolerance; beam search: the golden's reference margin below the noise) is
``same`` with the rows named; a flip the scores do not explain (a dropped prompt) is ``changed``;
fp32 compares token ids exactly. Also a bf16 golden on the CPU records the reference's beam margins
and replays as ``same`` on the same side."""

from __future__ import annotations

import importlib.util
import json

import pytest

pytestmark = pytest.mark.skipif(
    not all(importlib.util.find_spec(m) for m in ("torch", "transformers", "peft", "safetensors")),
    reason="not-applicable: the gate's in-environment half needs torch, transformers, peft and safetensors",
)

PROMPT = 2  # prompt tokens in front of the generated ones
VOCAB = 24


def _scores(rows: int, steps: int, picks: dict[tuple[int, int], dict[int, float]]):
    """``[rows, steps, vocab]`` scores: -1 everywhere, 6.0 on token 1, except the given logits."""
    import torch

    s = torch.full((rows, steps, VOCAB), -1.0)
    s[:, :, 1] = 6.0
    for (row, step), logits in picks.items():
        s[row, step, 1] = -1.0
        for token, value in logits.items():
            s[row, step, token] = value
    return s


def _pair(candidate_step1: dict[int, float], *, later_candidate: float = 0.0):
    """Golden and candidate greedy outputs of two rows, four steps; row 0 chooses between tokens
    3 and 4 at step 1 (golden: 3 by a gap of 0.1); the candidate's step-1 scores are given."""
    import torch

    golden_scores = _scores(2, 4, {(0, 1): {3: 5.0, 4: 4.9}})
    cand_scores = _scores(2, 4, {(0, 1): candidate_step1})
    cand_choice = int(cand_scores[0, 1].argmax())
    # after the flip the candidate continues from another token: later scores differ widely
    cand_scores[0, 2:, 1] = -1.0
    cand_scores[0, 2:, 7] = 9.0 + later_candidate
    golden = torch.tensor([[5, 6, 1, 3, 1, 1], [5, 6, 1, 1, 1, 1]])
    cand = golden.clone()
    if cand_choice != 3:
        cand[0, 3:] = torch.tensor([cand_choice, 7, 7])
    return ({"g0.greedy": golden, "g0.greedy_scores": golden_scores},
            {"g0.greedy": cand, "g0.greedy_scores": cand_scores})


def _by_name(results):
    return {r["output"]: r for r in results}


@pytest.mark.parametrize("dtype, candidate_step1, status", [
    pytest.param("bfloat16", {3: 4.92, 4: 4.98}, "same", id="bf16-near-tie-flip-is-same"),
    pytest.param("float16", {3: 4.92, 4: 4.98}, "same", id="fp16-near-tie-flip-is-same"),
    pytest.param("bfloat16", {3: 5.0, 4: 9.0}, "changed", id="bf16-scores-moved-beyond-tolerance"),
    pytest.param("float32", {3: 4.92, 4: 4.98}, "changed", id="fp32-tokens-exact"),
    pytest.param(None, {3: 4.92, 4: 4.98}, "changed", id="no-dtype-tokens-exact"),
])
def test_greedy_near_tie(dtype, candidate_step1, status):
    from compat.gate.compare import compare_outputs

    golden, candidate = _pair(candidate_step1)
    out = _by_name(compare_outputs(golden, candidate, {0: PROMPT}, dtype=dtype))
    assert out["g0.greedy"]["status"] == status
    assert out["g0.greedy_scores"]["status"] == status  # scores after the tie are not compared
    if status == "same":
        assert out["g0.greedy"]["near_ties"][0].startswith("row 0 compared up to step 1: reference top-2")
        assert out["g0.greedy"]["compared_to"] == {"0": 1}
        assert out["g0.greedy_scores"]["compared_to"] == {"0": 1}
    else:
        assert out["g0.greedy"]["first_step"] == 1 and out["g0.greedy"]["row"] == 0


def test_a_tie_then_a_real_difference_in_another_row_is_changed():
    from compat.gate.compare import compare_outputs

    golden, candidate = _pair({3: 4.92, 4: 4.98})
    candidate["g0.greedy"][1, 5] = 9  # row 1 differs at step 3 with identical scores: behaviour
    out = _by_name(compare_outputs(golden, candidate, {0: PROMPT}, dtype="bfloat16"))
    assert out["g0.greedy"]["status"] == "changed"
    assert out["g0.greedy"]["near_ties"] == [n for n in out["g0.greedy"]["near_ties"] if n.startswith("row 0")]
    # the evidence names the difference that counts (row 1, step 3), not row 0's earlier tie
    assert (out["g0.greedy"]["row"], out["g0.greedy"]["first_step"]) == (1, 3)
    assert (out["g0.greedy"]["golden_token"], out["g0.greedy"]["candidate_token"]) == (1, 9)


def _beam_side(tokens: list[int], step0: dict[int, float]):
    """One row, three beam slots, three steps: the returned beam came from slot 0 at each step;
    every slot's step-0 scores are the prompt's next-token scores ``step0``."""
    import torch

    scores = _scores(3, 3, {(slot, 0): step0 for slot in range(3)})
    return {"g0.beam": torch.tensor([[5, 6, *tokens]]), "g0.beam_scores": scores,
            "g0.beam_indices": torch.zeros(1, 3, dtype=torch.long)}


@pytest.mark.parametrize("margin, candidate_step0, status", [
    pytest.param(0.05, {3: 4.92, 4: 4.98}, "same", id="bf16-margin-below-noise-scores-agree"),
    pytest.param(3.0, {3: 4.92, 4: 4.98}, "changed", id="bf16-margin-beyond-noise"),
    pytest.param(0.05, {3: 1.0, 4: 9.0}, "changed", id="bf16-dropped-prompt-scores-moved"),
])
def test_beam_flip_judged_by_margins_and_the_paths_scores(margin, candidate_step0, status):
    import torch

    from compat.gate.compare import compare_outputs

    golden = {**_beam_side([3, 3, 3], {3: 5.0, 4: 4.9}), "g0.beam_margins": torch.tensor([[margin], [2.0], [2.0]])}
    candidate = {**_beam_side([4, 4, 4], candidate_step0), "g0.beam_margins": torch.tensor([[0.0], [0.0], [0.0]])}
    out = _by_name(compare_outputs(golden, candidate, {0: PROMPT}, dtype="bfloat16"))
    assert not {"g0.beam_margins", "g0.beam_scores", "g0.beam_indices"} & set(out)  # evidence, not outputs
    assert out["g0.beam"]["status"] == status


def test_beam_without_path_scores_is_compared_exactly():
    import torch

    from compat.gate.compare import compare_outputs

    golden = {"g0.beam": torch.tensor([[5, 6, 3]]), "g0.beam_margins": torch.tensor([[0.0]])}
    candidate = {"g0.beam": torch.tensor([[5, 6, 4]])}
    out = _by_name(compare_outputs(golden, candidate, {0: PROMPT}, dtype="bfloat16"))
    assert out["g0.beam"]["status"] == "changed"


def test_sampling_flip_with_the_same_distribution_is_same():
    from compat.gate.compare import compare_outputs

    golden, candidate = _pair({3: 5.0, 4: 4.9})  # identical scores at step 1 ...
    golden = {k.replace("greedy", "sample"): v for k, v in golden.items()}
    candidate = {k.replace("greedy", "sample"): v for k, v in candidate.items()}
    candidate["g0.sample"][0, 3:] = candidate["g0.sample"].new_tensor([4, 7, 7])  # ... another draw
    candidate["g0.sample_scores"][0, 2:, 1] = -1.0
    candidate["g0.sample_scores"][0, 2:, 7] = 9.0
    out = _by_name(compare_outputs(golden, candidate, {0: PROMPT}, dtype="bfloat16"))
    assert out["g0.sample"]["status"] == "same", out["g0.sample"]
    assert "a draw on a boundary" in out["g0.sample"]["near_ties"][0]


def test_bf16_golden_records_beam_margins_and_replays_same(tmp_path):
    """A real tiny model + prefix adapter in bf16 on the CPU: the golden holds the reference's
    beam margins ([steps, batch], finite) and the same side replays it as ``same``."""
    import dataclasses

    import torch
    from safetensors.torch import load_file

    from compat.gate.cases import zoo_cases
    from compat.gate.golden import record_cases, replay_golden
    from compat.gate.replay import replay_case

    built, _ = zoo_cases(tmp_path, families=["llama"], methods=["prefix"])
    cases = [dataclasses.replace(c, dtype="bfloat16") for c in built]
    manifest = record_cases(cases, tmp_path)
    entry = manifest["cases"][0]
    assert entry["status"] == "recorded", entry
    outputs = load_file(str(tmp_path / entry["outputs"]))
    margins = outputs["g0.beam_margins"]
    case = cases[0]
    assert margins.shape == (case.max_new_tokens, len(case.inputs[0]["input_ids"]))
    assert bool(torch.isfinite(margins).all()) and bool((margins >= 0).all())
    slots = case.num_beams * len(case.inputs[0]["input_ids"])
    assert outputs["g0.beam_scores"].shape[:2] == (slots, case.max_new_tokens)
    assert outputs["g0.beam_indices"].shape == (len(case.inputs[0]["input_ids"]), case.max_new_tokens)
    assert "g0.beam_margins" not in replay_case(case, tmp_path)  # the golden's evidence only
    replay = replay_golden(tmp_path)
    assert [c["status"] for c in replay["cases"]] == ["same"], json.dumps(replay)[:2000]


def test_the_report_lists_near_ties_and_does_not_claim_identical_tokens():
    from compat.gate.compare import compare_outputs
    from compat.gate.report import render_markdown

    golden, candidate = _pair({3: 4.92, 4: 4.98})
    outputs = compare_outputs(golden, candidate, {0: PROMPT}, dtype="bfloat16")
    report = {"status": "done", "verdict": "same", "exit_code": 0, "findings": [],
              "replay": {"cases": [{"id": "llama-prefix", "status": "same", "outputs": outputs}]}}
    text = render_markdown(report)
    assert "### Near ties: compared up to the tie, not counted (1)" in text
    assert "| `llama-prefix` | g0.greedy | row 0 compared up to step 1" in text
    assert "token ids identical up to the near ties listed above." in text
