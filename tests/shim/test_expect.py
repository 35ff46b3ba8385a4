"""compat.expect on the inputs test_fit.py does not reach: autocast, composite configs, per-layer configs.

Found by the mutation run (docs/mutation.md): under ``torch.autocast`` the dtype check must be
off (the model computes in the autocast dtype, so a prefix in it is right); a multimodal config
is read through its text config; a 5.x heterogeneous config is read per layer, a skipped layer
or one whose shape cannot be derived is unknown (``None``), never guessed.
"""

from __future__ import annotations

import pytest
import torch

from compat import MalformedCacheError, to_cache
from compat.expect import Expectation, LayerSpec, expect
from compat.testing import zoo


def _prefix(model, dtype):
    d = zoo.dims(model)
    return tuple((torch.zeros(1, d.kv_heads, 2, d.head_dim, dtype=dtype),) * 2 for _ in range(d.layers))


def test_autocast_turns_the_dtype_check_off(zoo_models):
    model = zoo_models("llama")
    bf16 = _prefix(model, torch.bfloat16)
    with pytest.raises(MalformedCacheError, match=r"^layer 0: expected dtype torch\.float32 "):
        to_cache(bf16, model=model)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        exp = expect(model)
        to_cache(bf16, model=model)  # what the model computes in under autocast: accepted
    assert exp.dtype is None and exp.device == torch.device("cpu")
    assert expect(model).dtype == torch.float32  # and back on once autocast is left


def _torch_before_2_4(monkeypatch, *, cuda_on: bool, cpu_on: bool | None) -> None:
    """torch before 2.4: ``is_autocast_enabled()`` takes no device type and is CUDA's flag; the
    CPU's is ``is_autocast_cpu_enabled()`` (``cpu_on=None``: a torch without that function)."""

    def is_autocast_enabled(*device_type):
        if device_type:
            raise TypeError("is_autocast_enabled() takes 0 positional arguments but 1 was given")
        return cuda_on

    monkeypatch.setattr(torch, "is_autocast_enabled", is_autocast_enabled)
    if cpu_on is None:
        monkeypatch.delattr(torch, "is_autocast_cpu_enabled", raising=False)
    else:
        monkeypatch.setattr(torch, "is_autocast_cpu_enabled", lambda: cpu_on)


@pytest.mark.parametrize("cuda_on, cpu_on, checked", [
    pytest.param(False, False, True, id="neither-on"),
    pytest.param(False, True, False, id="cpu-on"),
    pytest.param(True, False, False, id="cuda-on"),
    pytest.param(False, None, True, id="no-cpu-flag-cuda-off"),
    pytest.param(True, None, False, id="no-cpu-flag-cuda-on"),
])
def test_autocast_on_a_torch_with_one_flag_per_backend(zoo_models, monkeypatch, cuda_on, cpu_on, checked):
    """On torch < 2.4 either backend's flag turns the dtype check off (it cannot ask per device)."""
    model = zoo_models("llama")
    _torch_before_2_4(monkeypatch, cuda_on=cuda_on, cpu_on=cpu_on)
    exp = expect(model)
    assert exp.dtype == (torch.float32 if checked else None) and exp.device == torch.device("cpu")


def test_composite_config_is_read_through_its_text_config():
    import transformers

    cls = getattr(transformers, "LlavaConfig", None)
    if cls is None or not hasattr(transformers.PretrainedConfig, "get_text_config"):
        pytest.skip(f"not-applicable: transformers {transformers.__version__} has no LlavaConfig.get_text_config")
    text = transformers.LlamaConfig(hidden_size=48, num_hidden_layers=3, num_attention_heads=6, num_key_value_heads=2,
                                    intermediate_size=8, vocab_size=zoo.VOCAB)
    exp = expect(config=cls(text_config=text))
    assert exp.layers == 3 and exp.layers_source == "num_hidden_layers=3"
    assert [(s.kv_heads, s.key_dim, s.value_dim) for s in exp.per_layer] == [(2, 8, 8)] * 3


class _Config:
    """A config shaped like 5.x's heterogeneous ones: ``per_layer_config[i]`` holds layer i's values."""

    model_type = "test_heterogeneous"
    is_encoder_decoder = False

    def __init__(self, per_layer, is_encoder_decoder=False):
        self.is_encoder_decoder = is_encoder_decoder
        self.num_hidden_layers = len(per_layer)
        self.is_heterogeneous = True
        self.per_layer_config = per_layer


class _Layer:
    def __init__(self, **values):
        self.__dict__.update(values)


def test_heterogeneous_config_is_read_per_layer():
    cfg = _Config([
        _Layer(num_attention_heads=4, num_key_value_heads=2, head_dim=8),
        _Layer(num_attention_heads=4, num_key_value_heads=2, head_dim=8, skip=True),  # a skipped layer: unknown
        _Layer(num_attention_heads=8, num_key_value_heads=4, head_dim=16),
        _Layer(head_dim=16),  # no heads to derive from: unknown
        _Layer(num_attention_heads=4, head_dim=8, global_head_dim=16),  # an unmodelled attribute: unknown
        _Layer(num_attention_heads=4, num_key_value_heads=[2, 2, 2, 2, 2, 1], head_dim=8),  # a list: its entry 5
    ])
    exp = expect(config=cfg)
    assert exp.layers == 6
    assert exp.per_layer == (
        LayerSpec(2, 8, 8, "per_layer_config[0] num_key_value_heads=2, head_dim=8"),
        None,
        LayerSpec(4, 16, 16, "per_layer_config[2] num_key_value_heads=4, head_dim=16"),
        None,
        None,
        LayerSpec(1, 8, 8, "per_layer_config[5] num_key_value_heads[5]=1, head_dim=8"),
    )


def test_heterogeneous_encoder_decoder_layers_are_read_by_the_decoders_names():
    cfg = _Config([_Layer(num_attention_heads=2, decoder_attention_heads=4, hidden_size=16, d_model=32)],
                  is_encoder_decoder=True)
    assert expect(config=cfg).per_layer == (
        LayerSpec(4, 8, 8, "per_layer_config[0] d_model=32 // decoder_attention_heads=4"),)


def test_heterogeneous_transformers_config_is_unknown_where_a_layer_keeps_an_unmodelled_attribute():
    """5.x: a per-layer attribute raises on the global config; each layer is judged by its own view (layer 1
    keeps the global ``swa_head_dim``, layer 0 sets it to ``None``). Before, layer 1 was derived as if plain."""
    import transformers

    if not hasattr(transformers.PretrainedConfig, "per_layer_config"):
        pytest.skip(f"not-applicable: transformers {transformers.__version__} has no heterogeneous configs")
    cfg = transformers.LlamaConfig(num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, hidden_size=32,
                                   head_dim=8, swa_head_dim=16, per_layer_config={0: {"swa_head_dim": None}})
    assert expect(config=cfg) == Expectation(2, "num_hidden_layers=2", (
        LayerSpec(2, 8, 8, "per_layer_config[0] num_key_value_heads=2, head_dim=8"), None))


@pytest.mark.parametrize("overrides, kv_heads", [
    pytest.param({"new_decoder_architecture": True, "num_kv_heads": 2}, 4, id="new-architecture-2-kv-of-4"),
    pytest.param({"new_decoder_architecture": False, "multi_query": True}, 1, id="multi-query"),
    pytest.param({"new_decoder_architecture": False, "multi_query": False}, 4, id="multi-head"),
])
def test_falcon_expectation_matches_its_own_kv(overrides, kv_heads):
    """Falcon's new architecture caches its K/V broadcast to all query heads (not num_kv_heads): found
    while writing a test for a mutation survivor; its own KV was refused and a num_kv_heads prefix taken."""
    import transformers

    from compat import output_cache, to_legacy

    if not hasattr(transformers, "FalconConfig"):
        pytest.skip(f"not-applicable: transformers {transformers.__version__} has no Falcon model")
    cfg = transformers.FalconConfig(vocab_size=zoo.VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                    **overrides)
    torch.manual_seed(0)
    model = transformers.FalconForCausalLM(cfg).eval()
    with torch.no_grad():
        own = to_legacy(output_cache(model(torch.tensor([[5, 6, 7]]), use_cache=True)), model=model)
    assert {tuple(t.shape) for layer in own for t in layer} == {(1, kv_heads, 3, 8)}  # what the model really caches
    assert [(s.kv_heads, s.key_dim) for s in expect(model).per_layer] == [(kv_heads, 8)] * 2
    back = to_legacy(to_cache(own, model=model), model=model)
    assert [len(layer) for layer in back] == [len(layer) for layer in own]
    assert all(torch.equal(a, b) for got, want in zip(back, own) for a, b in zip(got, want))


@pytest.mark.parametrize("device_map, device", [
    pytest.param({"model.layers.0": 0, "model.layers.1": "cpu"}, None, id="spread-over-two-devices"),
    pytest.param({"": "cpu"}, torch.device("cpu"), id="one-device"),
    pytest.param(None, torch.device("cpu"), id="no-device-map"),
])
def test_device_is_unknown_when_the_model_is_spread_over_devices(zoo_models, device_map, device):
    """``from_pretrained(device_map=...)`` sets ``hf_device_map``; over several devices no single device is
    expected (a prefix may live on any of them), the dtype still is."""
    model = zoo_models("llama")
    if device_map is not None:
        model.hf_device_map = device_map
    try:
        exp = expect(model)
    finally:
        model.__dict__.pop("hf_device_map", None)
    assert exp.device == device and exp.dtype == torch.float32


def test_a_model_without_floating_point_parameters_expects_no_dtype():
    class IntModel(torch.nn.Module):  # e.g. weights kept as int8 by a quantizer
        def __init__(self):
            super().__init__()
            self.config = zoo.config_for("llama")
            self.weight = torch.nn.Parameter(torch.zeros(2, dtype=torch.int8), requires_grad=False)

    exp = expect(IntModel())
    assert exp.dtype is None and exp.device is None and exp.layers == zoo.dims(zoo.config_for("llama")).layers


class _Plain:
    """A decoder config of plain attributes: 4 query heads of 8 dims over 2 layers, plus ``extra``."""

    model_type = "test_plain"
    is_encoder_decoder = False

    def __init__(self, **extra):
        self.num_hidden_layers = 2
        self.num_attention_heads = 4
        self.head_dim = 8
        self.__dict__.update(extra)


SPEC_4 = LayerSpec(4, 8, 8, "num_attention_heads=4, head_dim=8")


@pytest.mark.parametrize("extra, layers, per_layer", [
    pytest.param({}, 2, (SPEC_4, SPEC_4), id="plain"),
    pytest.param({"layer_types": ["linear_attention", "full_attention"]}, 2, (None, SPEC_4),
                 id="linear-attention-layer-unknown"),
    pytest.param({"layer_types": ["full_attention"]}, 2, (SPEC_4, SPEC_4), id="layer-types-of-another-length-ignored"),
    pytest.param({"global_head_dim": 16}, 2, (None, None), id="unmodelled-attribute-every-layer-unknown"),
    pytest.param({"num_kv_shared_layers": 1}, None, (), id="kv-shared-layers-count-unknown"),
    pytest.param({"kv_lora_rank": 16}, 2, (None, None), id="latent-attention-unknown"),
    pytest.param({"v_head_dim": 16}, 2, (None, None), id="value-dim-of-its-own-unknown"),
    pytest.param({"num_key_value_heads": [2, 1]}, 2,
                 (LayerSpec(2, 8, 8, "num_key_value_heads[0]=2, head_dim=8"),
                  LayerSpec(1, 8, 8, "num_key_value_heads[1]=1, head_dim=8")), id="per-layer-kv-heads-list"),
    pytest.param({"num_key_value_heads": [2]}, 2, (LayerSpec(2, 8, 8, "num_key_value_heads[0]=2, head_dim=8"), None),
                 id="per-layer-kv-heads-list-too-short"),
    pytest.param({"num_key_value_heads": [2, 0]}, 2, (LayerSpec(2, 8, 8, "num_key_value_heads[0]=2, head_dim=8"), None),
                 id="per-layer-kv-heads-not-positive"),
    pytest.param({"num_key_value_heads": 0}, 2, (None, None), id="kv-heads-set-but-not-positive"),
])
def test_expectation_of_config_shapes_the_zoo_lacks(extra, layers, per_layer):
    """What the rule derives (or leaves unknown, never guessed) for config shapes no zoo family has."""
    exp = expect(config=_Plain(**extra))
    assert exp.layers == layers and exp.per_layer == per_layer


# --------------------------------------------------------------------------- the names read, config by config


def _pretrained(**values):
    """A plain ``PretrainedConfig``: no ``attribute_map``, so each name below is read as itself."""
    import transformers

    return transformers.PretrainedConfig(**values)


def _gpt2():
    import transformers

    return transformers.GPT2Config(n_layer=2, n_head=4, n_embd=32, vocab_size=zoo.VOCAB)


def _t5():
    import transformers

    return transformers.T5Config(d_model=32, d_kv=4, num_heads=4, num_layers=3, num_decoder_layers=2, d_ff=8,
                                 vocab_size=zoo.VOCAB)


def _bart():
    import transformers

    return transformers.BartConfig(encoder_layers=3, decoder_layers=2, d_model=32, encoder_attention_heads=2,
                                   decoder_attention_heads=4, encoder_ffn_dim=8, decoder_ffn_dim=8,
                                   vocab_size=zoo.VOCAB)


class _ClassLevel:
    """A config whose values live on its class (defaults, a property), none in its instance dict."""

    model_type = "test_class_level"
    num_hidden_layers = 2
    num_attention_heads = 4

    @property
    def head_dim(self):
        return 8


class _Slots:
    """A config without an instance dict."""

    __slots__ = ("head_dim", "model_type", "num_attention_heads", "num_hidden_layers")

    def __init__(self):
        self.model_type, self.num_hidden_layers, self.num_attention_heads, self.head_dim = "test_slots", 2, 4, 8


def _specs(n, *args):
    return (LayerSpec(*args),) * n


CONFIG_CASES = [
    pytest.param(_gpt2, Expectation(2, "num_hidden_layers=2", _specs(2, 4, 8, 8,
                                                                    "hidden_size=32 // num_attention_heads=4")),
                 id="gpt2-read-through-its-attribute-map"),
    pytest.param(lambda: _pretrained(n_layer=3, n_head=4, n_embd=32),
                 Expectation(3, "n_layer=3", _specs(3, 4, 8, 8, "n_embd=32 // n_head=4")), id="n_layer-n_head-n_embd"),
    pytest.param(lambda: _pretrained(num_layers=2, num_heads=2, hidden_size=16),
                 Expectation(2, "num_layers=2", _specs(2, 2, 8, 8, "hidden_size=16 // num_heads=2")),
                 id="num_layers-num_heads"),
    pytest.param(lambda: _pretrained(num_hidden_layers=2, num_attention_heads=4, hidden_size=32, decoder_layers=5,
                                     decoder_attention_heads=2, d_model=64),
                 Expectation(2, "num_hidden_layers=2", _specs(2, 4, 8, 8, "hidden_size=32 // num_attention_heads=4")),
                 id="decoder-only-ignores-encoder-decoder-names"),
    pytest.param(lambda: _pretrained(is_encoder_decoder=True, num_hidden_layers=3, decoder_layers=2,
                                     num_attention_heads=2, decoder_attention_heads=4, hidden_size=32),
                 Expectation(2, "decoder_layers=2", _specs(2, 4, 8, 8, "hidden_size=32 // decoder_attention_heads=4")),
                 id="encoder-decoder-hidden_size"),
    pytest.param(lambda: _pretrained(is_encoder_decoder=True, num_decoder_layers=1, decoder_attention_heads=2,
                                     n_embd=16),
                 Expectation(1, "num_decoder_layers=1", _specs(1, 2, 8, 8, "n_embd=16 // decoder_attention_heads=2")),
                 id="encoder-decoder-n_embd"),
    pytest.param(lambda: _pretrained(is_encoder_decoder=True, decoder_layers=2, decoder_attention_heads=4, d_model=32,
                                     num_key_value_heads=4, decoder_num_key_value_heads=2),
                 Expectation(2, "decoder_layers=2", _specs(
                     2, 2, 8, 8, "decoder_num_key_value_heads=2, d_model=32 // decoder_attention_heads=4")),
                 id="encoder-decoder-decoder-kv-heads"),
    pytest.param(lambda: _pretrained(is_encoder_decoder=True, decoder_layers=2, decoder_attention_heads=4,
                                     num_attention_heads=2, d_model=32, num_key_value_heads=[2, 1]),
                 Expectation(2, "decoder_layers=2", (
                     LayerSpec(2, 8, 8, "num_key_value_heads[0]=2, d_model=32 // decoder_attention_heads=4"),
                     LayerSpec(1, 8, 8, "num_key_value_heads[1]=1, d_model=32 // decoder_attention_heads=4"))),
                 id="encoder-decoder-per-layer-kv-heads-list"),
    pytest.param(_t5, Expectation(2, "num_decoder_layers=2", _specs(2, 4, 4, 4, "num_attention_heads=4, d_kv=4")),
                 id="t5-d_kv-independent-of-d_model"),
    pytest.param(_bart, Expectation(2, "decoder_layers=2", _specs(2, 4, 8, 8,
                                                                 "d_model=32 // decoder_attention_heads=4")),
                 id="bart-decoder-layers-not-encoder-layers"),
    pytest.param(lambda: _pretrained(num_hidden_layers=2, num_attention_heads=4, hidden_size=30),
                 Expectation(2, "num_hidden_layers=2", (None, None)), id="heads-do-not-divide-hidden-dim-unknown"),
    pytest.param(lambda: _pretrained(num_attention_heads=4, hidden_size=32), Expectation(None, "", ()),
                 id="no-layer-count-unknown"),
    pytest.param(_ClassLevel, Expectation(2, "num_hidden_layers=2", (SPEC_4, SPEC_4)), id="class-level-values"),
    pytest.param(_Slots, Expectation(2, "num_hidden_layers=2", (SPEC_4, SPEC_4)), id="slots-config"),
]


@pytest.mark.parametrize("make, expected", CONFIG_CASES)
def test_expectation_of_each_config_shape(make, expected):
    """Each name the rule falls back to, and each it must not read, by a config that has (only) it."""
    assert expect(config=make()) == expected


def test_kv_shared_layers_leave_the_count_unknown_not_the_dtype_and_device():
    class Shared(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.config = _Plain(num_kv_shared_layers=1)
            self.weight = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))

    assert expect(config=_Plain(num_kv_shared_layers=1)) == Expectation(None, "", ())
    assert expect(Shared()) == Expectation(None, "", (), torch.float64, torch.device("cpu"))


def test_a_model_without_parameters_expects_no_dtype_or_device():
    """A model object that is not a torch module (e.g. an exported wrapper) still has its config checked."""
    import types

    exp = expect(types.SimpleNamespace(config=_Plain()))
    assert exp == Expectation(2, "num_hidden_layers=2", (SPEC_4, SPEC_4))


def test_cpu_autocast_does_not_cover_a_model_on_another_device():
    """Autocast is per device type: under CPU autocast a model on ``meta`` (the other device a CPU machine
    has) still expects its parameters' dtype."""
    import transformers

    with torch.device("meta"):
        model = transformers.LlamaForCausalLM(zoo.config_for("llama"))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        exp = expect(model)
    assert exp.dtype == torch.float32 and exp.device is None


def test_the_decoders_text_config_is_read_beside_a_text_encoder():
    """A config holding a text encoder and a text config: the decoder's (get_text_config(decoder=True));
    asked for either, transformers finds two and raises."""
    import transformers

    if not hasattr(transformers.PretrainedConfig, "get_text_config"):
        pytest.skip(f"not-applicable: transformers {transformers.__version__} has no get_text_config")
    cfg = transformers.PretrainedConfig(
        text_encoder=transformers.LlamaConfig(num_hidden_layers=3, num_attention_heads=2, hidden_size=32),
        text_config=transformers.LlamaConfig(num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                             hidden_size=32, head_dim=8),
    )
    spec = LayerSpec(2, 8, 8, "num_key_value_heads=2, head_dim=8")
    assert expect(config=cfg) == Expectation(2, "num_hidden_layers=2", (spec, spec))


def test_mimo_v2_flash_own_kv_fits_its_expectation():
    """MiMo-V2-Flash (5.x) doubles ``num_key_value_heads`` on its sliding layers in its modeling code
    and has values of ``v_head_dim``: its config alone cannot say what each layer caches, so the
    check leaves those shapes out instead of refusing the model's own KV (it did, naming layer 1)."""
    import transformers

    from compat import to_legacy

    if not hasattr(transformers, "MiMoV2FlashConfig"):
        pytest.skip(f"not-applicable: transformers {transformers.__version__} has no MiMo-V2-Flash")
    cfg = transformers.MiMoV2FlashConfig(
        vocab_size=64, hidden_size=32, intermediate_size=32, moe_intermediate_size=16, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=1, head_dim=8, v_head_dim=12, n_routed_experts=2,
        num_experts_per_tok=1, layer_types=["full_attention", "sliding_attention"])
    torch.manual_seed(0)
    model = transformers.MiMoV2FlashForCausalLM(cfg).eval()
    with torch.no_grad():
        own = to_legacy(model(torch.tensor([[5, 6, 7]]), use_cache=True).past_key_values, model=model)
    shapes = [(tuple(k.shape), tuple(v.shape)) for k, v in own]
    assert shapes == [((1, 1, 3, 8), (1, 1, 3, 12)), ((1, 2, 3, 8), (1, 2, 3, 12))]  # what the config cannot say
    assert expect(model).per_layer == (None, None)
    back = to_legacy(to_cache(own, model=model), model=model)
    assert [len(layer) for layer in back] == [len(layer) for layer in own]
    assert all(a is b for got, want in zip(back, own) for a, b in zip(got, want))  # the same tensors: no copy
