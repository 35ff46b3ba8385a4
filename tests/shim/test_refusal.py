"""Models whose cache is not per-layer key/value get a clear refusal from the shim, naming the
layer and its type (or the model's own cache class), never a DynamicCache the model then rejects
("Cannot get conv state for non linear attention layer 0 of type DynamicLayer")."""

from __future__ import annotations

import pytest
import torch

from compat import UnsupportedModelError, cache_kwargs, prefixed_call, to_cache, to_legacy

# The refusal names the model and either the layer and its type (5.x: DynamicCache(config=...) has
# non-KV layer classes) or the model's own cache class (4.4x-4.5x hybrids, MiniMax), whichever the
# installed transformers shows first.
CASES = [
    pytest.param("qwen3_next", id="hybrid-linear-attention-qwen3_next"),
    pytest.param("falcon_h1", id="mamba-beside-attention-falcon_h1"),
    pytest.param("minimax", id="own-cache-class-minimax"),
    pytest.param("deepseek_v32", id="sparse-attention-indexer-deepseek_v32"),
]
REASONS = ("layer 0: '{}' layer 0 keeps a ", "'{}' takes only its own cache class ")


def _tiny(model_type):
    from compat.census import build, registry

    archs = {a.model_type: a for a in registry.architectures()}
    if model_type not in archs:
        pytest.skip(f"not-applicable: this transformers has no {model_type!r}")
    try:
        return build.build(archs[model_type]).model
    except build.NotBuildable as exc:  # counted as not-buildable by the census itself (docs/census.md)
        pytest.skip(f"not-applicable: no tiny {model_type!r} can be built on this transformers: {exc}")


@pytest.mark.parametrize("model_type", CASES)
def test_a_model_without_a_plain_kv_cache_is_refused_clearly(model_type):
    model = _tiny(model_type)
    k = torch.zeros(1, 1, 2, 4)
    for call in (lambda: to_cache(((k, k),), model=model), lambda: to_legacy(((k, k),), model=model),
                 lambda: to_cache(((k, k),), config=model.config),
                 lambda: prefixed_call(model, ((k, k),), torch.tensor([[5, 6]]))):
        with pytest.raises(UnsupportedModelError) as info:
            call()
        said = str(info.value)
        assert any(said.startswith(reason.format(model_type)) for reason in REASONS), said
        assert "expected" in said, said  # what was expected, as every shim error says
        assert info.traceback[-1].frame.code.path.parts[-2] == "compat"  # raised by the shim, not the model


def test_zoo_models_are_not_refused():
    from compat import _transformers as transformers_features
    from compat.testing import zoo

    for family in zoo.FAMILY_IDS:
        ok, _ = zoo.family_available(family)
        if ok:
            assert transformers_features.prefix_refusal(zoo.build(family)) is None, family


def test_a_model_class_from_a_module_with_its_own_cache_class_is_refused_by_its_class(monkeypatch):
    """What ``model=`` adds over ``config=``: a remote-code model class whose module brings its own
    Cache class is refused by that class, though its config's family (Llama) takes a DynamicCache."""
    import sys
    import types

    from compat import _transformers as features
    from compat.testing import zoo

    cu = features.cache_utils()
    if cu is None:
        pytest.skip("not-applicable: no transformers Cache classes (nothing but legacy tuples to hand over)")
    model = zoo.build("llama")
    module = types.ModuleType("pcc_remote_llama")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    module.RemoteCache = type("RemoteCache", (cu.Cache,), {"__module__": module.__name__})
    module.RemoteLlama = type("RemoteLlama", (type(model),), {"__module__": module.__name__})
    model.__class__ = module.RemoteLlama
    d = zoo.dims(model)
    prefix = ((torch.zeros(1, d.kv_heads, 2, d.head_dim),) * 2,) * d.layers
    for call in (lambda: to_cache(prefix, model=model), lambda: to_legacy(prefix, model=model),
                 lambda: cache_kwargs(model, prefix)):
        with pytest.raises(UnsupportedModelError) as info:
            call()
        assert str(info.value) == ("'llama' takes only its own cache class RemoteCache (pcc_remote_llama); "
                                   "expected a model that takes a DynamicCache or legacy tuples")
    assert len(to_legacy(to_cache(prefix, config=model.config), config=model.config)) == d.layers
