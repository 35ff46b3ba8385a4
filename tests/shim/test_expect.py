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
from compat.expect import LayerSpec, expect
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

    def __init__(self, per_layer):
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
    ])
    exp = expect(config=cfg)
    assert exp.layers == 4
    assert exp.per_layer == (
        LayerSpec(2, 8, 8, "per_layer_config[0] num_key_value_heads=2, head_dim=8"),
        None,
        LayerSpec(4, 16, 16, "per_layer_config[2] num_key_value_heads=4, head_dim=16"),
        None,
    )


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
