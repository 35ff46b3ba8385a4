"""Golden recording refuses non-finite or non-reproducible outputs; replay finds changes.

Needs torch/transformers/peft (the gate's in-environment half)."""

from __future__ import annotations

import importlib.util
import json

import pytest

pytestmark = pytest.mark.skipif(
    not all(importlib.util.find_spec(m) for m in ("torch", "transformers", "peft", "safetensors")),
    reason="not-applicable: the gate's in-environment half needs torch, transformers, peft and safetensors",
)


@pytest.fixture
def case():
    from compat.gate.replay import Case

    return Case("fake", "model", "adapter", "CAUSAL_LM", [{"input_ids": [[3, 4]], "attention_mask": [[1, 1]]}])


def _outputs(logits):
    import torch

    return {"g0.logits": torch.as_tensor(logits, dtype=torch.float32),
            "g0.greedy_scores": torch.tensor([[0.5, float("-inf")]]),  # masked EOS is legitimate
            "g0.greedy": torch.tensor([[3, 4, 9]])}


def _runner(*runs):
    calls = iter(runs)
    return lambda case, root: _outputs(next(calls))


@pytest.mark.parametrize("runs, status, reason", [
    pytest.param(([1.0, 2.0], [1.0, 2.0]), "recorded", None, id="finite-reproducible"),
    pytest.param(([1.0, float("nan")], [1.0, float("nan")]), "refused", "non-finite golden", id="nan"),
    pytest.param(([1.0, float("inf")], [1.0, float("inf")]), "refused", "non-finite golden", id="inf"),
    pytest.param(([1.0, 2.0], [1.0, 2.0000002]), "refused", "not reproducible", id="nondeterministic"),
])
def test_golden_refusal(tmp_path, case, runs, status, reason):
    from compat.gate.golden import record_cases

    manifest = record_cases([case], tmp_path, runner=_runner(*runs))
    entry = manifest["cases"][0]
    assert entry["status"] == status
    assert (tmp_path / "cases" / "fake" / "outputs.safetensors").exists() == (status == "recorded")
    if reason:
        assert reason in entry["reason"]
    assert json.loads((tmp_path / "golden.json").read_text())["producer"]["torch"]


def test_baseline_exception_is_recorded_not_raised(tmp_path, case):
    from compat.gate.golden import record_cases

    def boom(case, root):
        raise RuntimeError("no such layer")

    entry = record_cases([case], tmp_path, runner=boom)["cases"][0]
    assert entry["status"] == "error" and "RuntimeError: no such layer" in entry["reason"]


def test_replay_reports_first_differing_step_and_errors(tmp_path, case):
    import torch

    from compat.gate.golden import record_cases, replay_golden

    record_cases([case], tmp_path, runner=_runner([1.0, 2.0], [1.0, 2.0]))

    def drifted(case, root):
        out = _outputs([1.0, 2.5])
        out["g0.greedy"] = torch.tensor([[3, 4, 7]])
        return out

    result = replay_golden(tmp_path, runner=drifted)["cases"][0]
    assert result["status"] == "changed"
    diffs = {d["output"]: d for d in result["outputs"]}
    assert diffs["g0.logits"]["max_abs"] == pytest.approx(0.5) and diffs["g0.logits"]["where"] == [1]
    assert (diffs["g0.greedy"]["first_step"], diffs["g0.greedy"]["candidate_token"]) == (0, 7)
    assert diffs["g0.greedy_scores"]["status"] == "same"

    def raises(case, root):
        raise AttributeError("'tuple' object has no attribute 'get_seq_length'")

    result = replay_golden(tmp_path, runner=raises)["cases"][0]
    assert result["status"] == "error" and "get_seq_length" in result["reason"]


def test_one_output_that_raises_does_not_hide_the_others(tmp_path, case):
    """Beam search raising on the baseline: the other outputs are still recorded and compared;
    an output that raises only on the candidate is a broken finding."""
    from compat.gate.golden import record_cases, replay_golden
    from compat.gate.verdict import decide

    def baseline(case, root):
        return {**_outputs([1.0, 2.0]), "g0.beam": "NotImplementedError: _reorder_cache"}

    manifest = record_cases([case], tmp_path, runner=baseline)
    entry = manifest["cases"][0]
    assert entry["status"] == "recorded"
    assert entry["output_errors"] == {"g0.beam": "NotImplementedError: _reorder_cache"}

    def candidate(case, root):
        return {**_outputs([1.0, 2.0]), "g0.greedy": "RuntimeError: shapes", "g0.beam": "NotImplementedError: x"}

    result = replay_golden(tmp_path, runner=candidate)
    statuses = {d["output"]: d["status"] for d in result["cases"][0]["outputs"]}
    assert statuses == {"g0.logits": "same", "g0.greedy_scores": "same", "g0.greedy": "error",
                        "g0.beam": "not-compared"}
    verdict = decide(manifest, result)
    assert verdict["verdict"] == "broken"
    assert [f["where"] for f in verdict["findings"]] == ["fake g0.greedy"]


def test_a_case_whose_adapter_outputs_all_raised_on_the_baseline_is_not_called_same(tmp_path, case):
    import torch

    from compat.gate.errors import GateError
    from compat.gate.golden import record_cases, replay_golden
    from compat.gate.verdict import decide

    def baseline(case, root):
        err = "IndexError: index 2 is out of bounds"
        return {"g0.logits": err, "g0.greedy": err, "g0.base_logits": torch.ones(3)}

    manifest = record_cases([case], tmp_path, runner=baseline)
    result = replay_golden(tmp_path, runner=baseline)
    assert result["cases"][0]["status"] == "not-compared"
    with pytest.raises(GateError, match="no golden could be compared"):
        decide(manifest, result)
    other = {"id": "other", "status": "same", "outputs": [{"output": "g0.logits", "status": "same"}]}
    manifest["cases"].append({"id": "other", "status": "recorded"})
    verdict = decide(manifest, {"cases": [*result["cases"], other]})
    assert verdict["verdict"] == "same" and [c["id"] for c in verdict["not_compared"]] == ["fake"]
