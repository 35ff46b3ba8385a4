"""The census harness itself: its registry is the installed transformers', its shrinking keeps
each layer kind, its oracle can fail, and its reports and command line behave."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch", reason="not-applicable: the census needs torch, transformers and peft")
pytest.importorskip("transformers", reason="not-applicable: the census needs torch, transformers and peft")
pytest.importorskip("peft", reason="not-applicable: the census needs torch, transformers and peft")
import torch

from compat.census import arch, checks, oracle, registry, report
from compat.census.results import Census, Status


def test_registry_is_the_auto_mappings():
    from transformers.models.auto import modeling_auto as auto

    archs = registry.architectures()
    causal = set(auto.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES)
    seq2seq = set(auto.MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES)
    assert len(archs) == len(causal) + len(seq2seq)
    assert {a.model_type for a in archs} == causal | seq2seq
    assert len({a.id for a in archs}) == len(archs)


def _llama():
    return next(a for a in registry.architectures() if a.id == "llama")


@pytest.mark.parametrize("method", [pytest.param(m, id=f"llama-{m}-oracle_power") for m in checks.METHODS])
def test_oracle_detects_a_wrong_prompt(method):
    """The real-token oracle passes when the adapter holds the P tokens and fails when it holds
    other ones: the logits check has power."""
    import peft

    from compat.census import build
    from compat.testing import methods

    base = build.build(_llama()).model
    pm = peft.get_peft_model(base, methods.peft_config(method, base, num_virtual_tokens=checks.P)).eval()
    x = checks.inputs(base)
    oracle.load(pm, method, x.prompt_ids)
    ok = checks.logits_check(pm, method, x)
    assert ok.status is Status.PASS, ok.message
    oracle.load(pm, method, (x.prompt_ids + 1) % 90 + 3)
    bad = checks.logits_check(pm, method, x)
    assert bad.status is Status.FAIL and bad.max_abs_diff > 1e-2, bad


@pytest.mark.tooling
def test_reports_round_trip(tmp_path):
    r = arch.census_arch(_llama())

    census = Census("t", "p", torch.__version__, "now", r.seconds, 1, (r,))
    s = report.write_reports(census, tmp_path)
    assert s["archs"] == 1 and s["arch_statuses"] == {r.status.value: 1}
    doc = json.loads((tmp_path / "census.json").read_text())
    assert Census.from_json(doc).to_json() == census.to_json()
    assert "llama" in (tmp_path / "census.md").read_text()
    page = (tmp_path / "census.html").read_text()
    assert "<table>" in page and "http" not in page.split("</style>")[0]


@pytest.mark.tooling
def test_cli_refuses_an_unknown_architecture(capsys):
    from compat.census import cli

    assert cli.main(["--archs", "no_such_arch"]) == 2
    assert "unknown architecture id(s) no_such_arch" in capsys.readouterr().err


@pytest.mark.tooling
def test_not_buildable_is_reported_not_skipped(monkeypatch):
    from compat.census import build

    def boom(a, **kw):
        raise build.NotBuildable("ValueError: no tiny config")

    monkeypatch.setattr(build, "build", boom)
    r = arch.census_arch(_llama())
    assert r.status is Status.NOT_BUILDABLE and "no tiny config" in r.reason


class _DoubleGradient:
    """Identity forward, gradient x2 backward: a PEFT whose prompt path scales its gradient."""

    @staticmethod
    def apply(t):
        class Scale(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x.view_as(x)

            @staticmethod
            def backward(ctx, g):
                return 2 * g

        return Scale.apply(t)


def _scaled(prompt):
    """PEFT's prompt (embeddings, or a prefix as a Cache or legacy tuples) with its gradient doubled."""
    if isinstance(prompt, torch.Tensor):
        return _DoubleGradient.apply(prompt)
    if isinstance(prompt, (tuple, list)):
        return type(prompt)(_scaled(p) for p in prompt)
    for layer in getattr(prompt, "layers", ()):
        layer.keys, layer.values = _DoubleGradient.apply(layer.keys), _DoubleGradient.apply(layer.values)
    for name in ("key_cache", "value_cache"):
        if isinstance(getattr(prompt, name, None), list):
            setattr(prompt, name, [_DoubleGradient.apply(t) for t in getattr(prompt, name)])
    return prompt


@pytest.mark.parametrize("method", [pytest.param(m, id=f"llama-{m}-grad_power") for m in checks.METHODS])
def test_grad_check_detects_a_wrong_gradient(method, monkeypatch):
    """The training-path check passes on PEFT as it is and fails when PEFT's prompt gradient is
    scaled on its way back (the forward, hence the loss, unchanged): it compares gradients."""
    import peft

    from compat.census import build
    from compat.testing import methods

    base = build.build(_llama()).model
    pm = peft.get_peft_model(base, methods.peft_config(method, base, num_virtual_tokens=checks.P)).eval()
    x = checks.inputs(base)
    oracle.load(pm, method, x.prompt_ids)
    ok = checks._grad(pm, method, x, True)
    assert ok.status is Status.PASS, ok.message
    get_prompt = pm.get_prompt
    monkeypatch.setattr(pm, "get_prompt", lambda *a, **kw: _scaled(get_prompt(*a, **kw)))
    bad = checks._grad(pm, method, x, True)
    assert bad.status is Status.FAIL and "gradient at PEFT's prompt encoder output" in bad.message, bad
