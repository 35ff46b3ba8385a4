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


def _arch(arch_id: str):
    """The installed transformers' architecture ``arch_id``; a not-applicable skip where it has none."""
    found = [a for a in registry.architectures() if a.id == arch_id]
    if not found:
        import transformers

        pytest.skip(f"not-applicable: transformers {transformers.__version__} has no {arch_id}")
    return found[0]


def _llama():
    return _arch("llama")


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



@pytest.mark.parametrize("arch_id", [pytest.param(a, id=f"{a}-one-attention-layer")
                                     for a in ("bamba", "granitemoehybrid", "recurrent_gemma")])
def test_hybrid_overrides_keep_an_attention_layer(arch_id):
    """A hybrid whose default config has no attention layer among the two the census keeps (so its
    plain forward could not even read its cache's length: "`get_seq_length` can only be called on
    Attention layers") is built with one of each kind, and its forward with a cache runs."""
    from compat.census import build

    built = build.build(_arch(arch_id))
    cfg = built.model.config
    kinds = getattr(cfg, "layers_block_type", None) or cfg.layer_types
    assert len(kinds) == 2 and len(set(kinds)) == 2, kinds
    ids = torch.randint(3, 96, (2, 5), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = built.model(input_ids=ids, use_cache=True)
    assert tuple(out.logits.shape) == (2, 5, cfg.vocab_size)


def _top_k_over_experts(d: dict, where: str = "") -> list[str]:
    """Every (sub-)config dict whose experts per token exceed its experts, named."""
    from compat.census import shrink

    top = [k for k in ("num_experts_per_tok", "top_k_experts", "moe_topk", "num_experts_per_token", "moe_k")
           if isinstance(d.get(k), int)]
    experts = [k for k in ("num_experts", "num_local_experts", "n_routed_experts", "moe_num_experts")
               if isinstance(d.get(k), int) and d[k] > 0]
    bad = [f"{where}{t}={d[t]} > {e}={d[e]}" for t in top for e in experts if d[t] > d[e]]
    for key, value in d.items():
        if isinstance(value, dict):
            bad += _top_k_over_experts(value, f"{where}{key}.")
    assert set(top) <= set(shrink.SIZES)  # the keys checked are the ones shrinking sets
    return bad


def test_shrinking_never_leaves_more_experts_per_token_than_experts():
    """Ernie-4.5-MoE's ``moe_k`` (6) once outlived its 64 experts' shrinking to 4: its forward raised
    "selected index k out of range". Every architecture's tiny config keeps top-k within its experts."""
    from compat.census import build

    bad = {}
    for a in registry.architectures():
        try:
            small = build.overrides.apply(a.id, build.shrink.shrink(build._config_class(a)().to_dict()))
        except Exception:  # a config class that cannot be made at all is the census's not-buildable
            continue
        if found := _top_k_over_experts(small):
            bad[a.id] = found
    assert bad == {}


def test_an_override_takes_the_first_wording_the_installed_config_class_accepts(monkeypatch):
    """Granite-MoE-hybrid names its layer kinds ``linear_attention``/``full_attention`` on 5.x and
    ``mamba``/``attention`` on 4.x: the census tries the override's wordings in order, and where the
    class refuses every one, its own error is what the census reports."""
    from compat.census import build, overrides

    class Refused(ValueError):
        pass

    class Refusing:
        accepted = ("mamba", "attention")

        def __init__(self, **kwargs):
            if any(kind not in self.accepted for kind in kwargs.get("layer_types") or ()):
                raise Refused(f"layer_types must be in {self.accepted}")
            self.__dict__.update(kwargs)

        def to_dict(self):
            return {"num_hidden_layers": 4, "layer_types": None}

    monkeypatch.setattr(build, "_config_class", lambda arch: Refusing)
    monkeypatch.setitem(overrides.OVERRIDES, "llama", overrides.OVERRIDES["granitemoehybrid"])
    cfg = build.config_for(_llama())
    assert cfg.layer_types == ["mamba", "attention"] and cfg.num_hidden_layers == 2
    monkeypatch.setattr(Refusing, "accepted", ("ssm",))
    with pytest.raises(Refused) as info:
        build.config_for(_llama())
    assert str(info.value) == "layer_types must be in ('ssm',)"


@pytest.mark.parametrize(("config", "expected"), [
    pytest.param({"num_hidden_layers": 8, "hidden_size": 2560, "attention_hidden_size": 5120,
                  "layers_block_type": ["mamba"] * 6 + ["hybrid", "mamba"], "hybrid_layer_ids": [6]},
                 {"num_hidden_layers": 2, "layers_block_type": ["mamba", "hybrid"], "hybrid_layer_ids": [1],
                  "attention_hidden_size": 64}, id="zamba2-index-list-follows-the-kept-layers"),
    pytest.param({"num_hidden_layers": 32, "hidden_size": 4096, "attn_layer_indices": [9, 18, 27]},
                 {"num_hidden_layers": 2, "attn_layer_indices": [1]}, id="bamba-index-list-alone-keeps-one-of-each"),
    pytest.param({"num_hidden_layers": 8, "hidden_size": 4096, "attention_hidden_size": 4096},
                 {"attention_hidden_size": 32}, id="rwkv-one-hidden"),
    pytest.param({"num_hidden_layers": 8, "hidden_size": 100, "attention_hidden_size": 150},
                 {"attention_hidden_size": 32}, id="not-a-multiple-of-hidden"),
])
def test_shrinking_keeps_layer_index_lists_and_hidden_multiples(config, expected):
    """Zamba2 names its attention layers by index (``hybrid_layer_ids``) and runs attention over twice
    the hidden size: both once survived shrinking unchanged, and its tiny forward failed (32 vs 64)."""
    from compat.census import shrink

    small = shrink.shrink(config)
    assert {k: small[k] for k in expected} == expected


def test_the_tiny_vocabulary_is_no_multiple_of_another_tiny_size():
    """PEFT finds the word embeddings of prompt tuning and p-tuning as the first parameter with
    vocab_size rows, so a vocabulary equal to another tiny size (once 128 = 4 x hidden, an audio
    encoder's up-projection) made PEFT take the wrong module."""
    from compat.census import shrink

    vocab_keys = {k for k, v in shrink.SIZES.items() if v == shrink.VOCAB}
    others = {v for k, v in shrink.SIZES.items() if k not in vocab_keys} | {shrink.HIDDEN, shrink.HEADS,
                                                                            shrink.HEAD_DIM}
    assert not [(k, s) for s in others for k in range(1, 17) if k * s == shrink.VOCAB]


@pytest.mark.parametrize("arch_id", [pytest.param(a, id=f"{a}-peft_word_embeddings")
                                     for a in ("granite_speech", "vibevoice_asr")])
def test_peft_finds_the_input_embedding(arch_id):
    """Audio models whose encoder comes first: PEFT's word embeddings are the model's input embedding."""
    from compat.census import build

    base = build.build(_arch(arch_id)).model
    pm = arch._wrap(base, "prompt")
    assert pm.word_embeddings is base.get_input_embeddings()


class _NeedsFeatures(torch.nn.Module):
    def forward(self, input_ids=None, input_features=None):
        raise ValueError("You must specify exactly one of input_features or encoder_inputs_embeds")


@pytest.mark.parametrize(("message", "expected"), [
    pytest.param("You must specify exactly one of input_features or encoder_inputs_embeds", "input_features",
                 id="named-and-taken"),
    pytest.param("shape '[-1, 4, 4]' is invalid for input of size 4", "", id="not-named"),
    pytest.param("pixel_values are required", "", id="named-not-taken"),
])
def test_an_input_the_text_forward_demands(message, expected):
    assert arch._demanded_input(_NeedsFeatures(), ValueError(message)) == expected


@pytest.mark.parametrize(("message", "status"), [
    pytest.param("You must specify inputs_embeds", Status.NOT_APPLICABLE, id="demanded-not-applicable"),
    pytest.param("list index out of range", Status.FAIL, id="other-error-fails"),
])
def test_text_forward_error_is_not_applicable_only_when_it_demands_another_input(message, status, monkeypatch):
    """The model's own error must name an input its forward takes; any other error stays a failure."""
    def raising(base, x):
        raise ValueError(message)

    monkeypatch.setattr(arch, "_kv_reason", raising)
    monkeypatch.setattr(arch, "OTHER_INPUTS", ("inputs_embeds",))
    r = arch.census_arch(_llama())
    assert {m.status for m in r.methods} == {status}
    if status is Status.NOT_APPLICABLE:
        assert all("needs inputs_embeds even for text" in m.reason for m in r.methods)


def _greedy(tokens, logits):
    return checks.Greedy(torch.tensor(tokens), torch.tensor(logits, dtype=torch.float32))


_TOKENS = [[1, 2], [3, 4]]
_LOGITS = [[[0.0, 1.0], [0.5, 0.25]], [[0.75, 0.0], [1.0, 2.0]]]  # [B=2, n=2, V=2]
_OFF = [[[0.0, 1.0], [0.5, 0.35]], [[0.75, 0.0], [1.0, 2.0]]]  # row 0, step 1 off by 0.1


@pytest.mark.parametrize(("got", "own", "status", "said"), [
    pytest.param(_LOGITS, None, Status.PASS, "", id="same-tokens-same-logits"),
    pytest.param(_OFF, None, Status.FAIL, "first difference at row 0, step 1: the same tokens, but the logits",
                 id="same-tokens-wrong-logits-fails"),
    pytest.param(_OFF, (_TOKENS, _OFF), Status.PASS, "", id="the-plain-models-own-cached-numbers-pass"),
    pytest.param(_OFF, ([[9, 2], [3, 4]], _OFF), Status.FAIL, "picked other tokens before this step",
                 id="own-numbers-count-only-while-its-tokens-agree"),
])
def test_greedy_check_compares_step_logits(got, own, status, said):
    """Tiny random models often pick the same tokens from wrong logits: the census's greedy check
    compares every step's logits too, against the cache-free decode or the plain model's own
    generate (the same cache path)."""
    result = checks._same_greedy("greedy", _greedy(_TOKENS, got), _greedy(_TOKENS, _LOGITS), "PEFT vs ref",
                                 own=None if own is None else (lambda: _greedy(*own)))
    assert result.status is status, result.message
    assert said in result.message


@pytest.mark.parametrize("arch_id", [pytest.param(a, id=f"{a}-runs-after-override") for a in ("hrm_text", "xlstm")])
def test_overridden_recurrent_architectures_run_their_checks(arch_id):
    """HRM (cache slots per recurrent cycle) and xLSTM (mLSTM state from rounded dims) failed their
    plain forward once shrunk; with their overrides every method's checks run, and HRM's prefix
    gradient reference counts the slots its no-grad cycles never reach as zero."""
    result = arch.census_arch(_arch(arch_id))
    assert not [c for m in result.methods for c in m.checks if c.check == "base"]
    if arch_id == "hrm_text":
        assert {m.status for m in result.methods} == {Status.PASS}, [m.checks for m in result.methods]


@pytest.mark.parametrize(("message", "status"), [
    pytest.param("If you want to train `ReformerModel`, make sure to use `model.train()`", Status.NOT_APPLICABLE,
                 id="train-mode-only-is-not-applicable"),
    pytest.param("one of the variables needed for gradient computation has been modified", Status.FAIL,
                 id="any-other-training-error-fails"),
])
def test_a_model_that_trains_only_in_train_mode_is_not_applicable(message, status, monkeypatch):
    """The training check runs in eval mode (dropout off); a model that refuses backward there
    (Reformer) makes it not applicable with the model's words, any other error stays a failure."""
    from compat.census import build

    def refusing(pm, x, labels):
        raise AssertionError(message)

    base = build.build(_llama()).model
    pm = arch._wrap(base, "prompt")
    monkeypatch.setattr(checks, "_encoder_gradient", refusing)
    result = checks._guard("grad", lambda: checks._grad(pm, "prompt", checks.inputs(base), oracle_loaded=False))
    assert result.status is status
    assert message.split(",")[0] in result.message
