"""Family-native legacy layouts (Bloom < 4.44, GPTBigCode < 4.54) round trip."""

from __future__ import annotations

import pytest
import torch

from compat import _transformers as features
from compat import to_cache, to_legacy
from compat.layouts import to_bloom, to_gpt_bigcode
from compat.testing import zoo

B, S = 2, 3


def _legacy(layers, heads, dim, seed=0):
    g = torch.Generator().manual_seed(seed)
    return tuple((torch.randn(B, heads, S, dim, generator=g), torch.randn(B, heads, S, dim, generator=g))
                 for _ in range(layers))


def _model(family_id, **overrides):
    ok, why = zoo.family_available(family_id)
    if not ok:
        pytest.skip(f"not-applicable: {why}")
    return zoo.build(family_id, **overrides)


def _same(a, b):
    assert len(a) == len(b)
    for i, (x, y) in enumerate(zip(a, b)):
        assert all(torch.equal(p, q) for p, q in zip(x, y)), f"layer {i} differs"


@pytest.mark.parametrize("family_id, overrides", [
    pytest.param("bloom", {}, id="bloom"),
    pytest.param("gpt_bigcode", {}, id="gpt_bigcode-mqa"),
    pytest.param("gpt_bigcode", {"multi_query": False}, id="gpt_bigcode-mha"),
])
def test_to_cache_gives_the_installed_native_layout(family_id, overrides):
    model = _model(family_id, **overrides)
    cfg = model.config
    heads = 1 if getattr(cfg, "multi_query", False) else zoo.dims(model).heads
    dim = zoo.dims(model).head_dim
    legacy = _legacy(zoo.dims(model).layers, heads, dim)
    out = to_cache(legacy, model=model)
    layout = features.native_layout(cfg.model_type)
    if layout == "bloom":
        h = zoo.dims(model).heads
        assert [tuple(t.shape) for t in out[0]] == [(B * h, dim, S), (B * h, S, dim)]
    elif layout == "gpt_bigcode":
        want = (B, S, 2 * dim) if cfg.multi_query else (B, heads, S, 2 * dim)
        assert all(tuple(layer.shape) == want for layer in out)
    elif features.family_takes_cache(cfg.model_type, model=model):
        assert features.is_cache(out)
    else:
        assert isinstance(out, tuple) and [tuple(t.shape) for t in out[0]] == [(B, heads, S, dim)] * 2
    _same(to_legacy(out, model=model), legacy)


def test_bloom_native_input_is_read_on_any_version():
    cfg = zoo.config_for("bloom")
    legacy = _legacy(2, cfg.n_head, 8)
    native = tuple(to_bloom(layer) for layer in legacy)
    _same(to_legacy(native, config=cfg), legacy)


@pytest.mark.parametrize("multi_query", [pytest.param(True, id="mqa"), pytest.param(False, id="mha")])
def test_gpt_bigcode_fused_input_is_read_on_any_version(multi_query):
    cfg = zoo.config_for("gpt_bigcode", multi_query=multi_query)
    legacy = _legacy(2, 1 if multi_query else cfg.n_head, 8)
    fused = tuple(to_gpt_bigcode(layer, multi_query=multi_query) for layer in legacy)
    back = to_legacy(fused, config=cfg)
    _same(back, legacy)
    assert back[0][0].data_ptr() == fused[0].data_ptr()  # views, no copy


def test_native_layout_without_config_is_refused_clearly():
    cfg = zoo.config_for("bloom")
    native = tuple(to_bloom(layer) for layer in _legacy(1, cfg.n_head, 8))
    with pytest.raises(ValueError, match=r"layer 0: .*3-D.*Bloom.*model= or config="):
        to_legacy(native)
