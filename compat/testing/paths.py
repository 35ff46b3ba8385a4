"""Which ways of handing a prefix to a base model the installed transformers
offers (feature detection), and the native way of building a Cache.

>>> from compat.testing import zoo
>>> m = zoo.build("llama")
>>> ok, why = takes_cache(m); ok
True
>>> isinstance(accepts_tuple(m), tuple)
True
"""

from __future__ import annotations

import functools
import importlib
import inspect
from typing import Any

__all__ = ["accepts_tuple", "after_prefix", "empty_cache", "native_cache", "own_cache_only", "takes_cache",
           "tuple_for"]


def after_prefix(model, plen: int, new_len: int) -> dict:
    """``{"cache_position": arange(plen, plen + new_len)}`` where the model's forward takes it,
    else ``{}``: the positions of new tokens after a ``plen``-token cache. Most models derive them
    from the cache; Gemma-2 on 4.42-4.44 counts from 0 whatever the cache holds."""
    import torch

    from compat import _transformers as features

    if not features.forward_takes(model, "cache_position"):
        return {}
    return {"cache_position": torch.arange(plen, plen + new_len, device=model.device)}


def own_cache_only(model) -> str:
    """A "not-applicable: ..." reason if the model takes neither tuples nor a generic Cache on
    this install, only its own fixed-size cache (Gemma-2/3 where ``_supports_cache_class`` is
    False), else ``""``: no prefix can be handed to it through the shim."""
    from compat import _transformers as features
    from compat.convert import _OWN_CACHE_ONLY

    if features.cache_utils() is None or features.family_takes_cache(model=model):
        return ""
    if getattr(model.config, "model_type", None) not in _OWN_CACHE_ONLY:
        return ""
    return (f"not-applicable: {type(model).__name__} on this transformers takes only its own HybridCache "
            "(neither legacy tuples nor a DynamicCache), so no explicit prefix can be handed to it")


def takes_cache(model) -> tuple[bool, str]:
    """``(True, "")`` if the model's family accepts a Cache on this install."""
    from compat import _transformers as features

    if features.cache_utils() is None:
        return False, "not-applicable: this transformers has no cache_utils (no Cache classes)"
    if not features.family_takes_cache(model=model):
        return False, (f"not-applicable: {type(model).__name__} does not accept a Cache on this transformers "
                       "(_supports_cache_class is False)")
    return True, ""


@functools.cache
def _module_converts(module_name: str) -> bool:
    src = inspect.getsource(importlib.import_module(module_name))
    return "from_legacy_cache" in src


def accepts_tuple(model) -> tuple[bool, str]:
    """``(True, "")`` if the model accepts legacy tuples as ``past_key_values``:
    natively (its family takes no Cache) or by converting them (its module
    still calls ``from_legacy_cache``)."""
    ok, _ = takes_cache(model)
    if not ok:
        why = own_cache_only(model)
        return (False, why) if why else (True, "")
    if _module_converts(type(model).__module__):
        return True, ""
    return False, (f"not-applicable: {type(model).__name__} takes only a Cache on this transformers "
                   "(its module no longer converts legacy tuples)")


def tuple_for(model, layers) -> tuple:
    """The legacy tuple the model reads: its family's native layout where it
    takes no Cache (Bloom/GPTBigCode layouts), else the standard layout."""
    from compat import to_cache

    ok, _ = takes_cache(model)
    if not ok:
        return to_cache(layers, model=model)
    return tuple(tuple(layer) for layer in layers)


def native_cache(layers) -> Any:
    """A Cache built the native way: ``DynamicCache()`` + ``update`` per layer
    (``EncoderDecoderCache(self, cross)`` for 4-tuples)."""
    from compat import _transformers as features

    def dyn(pairs):
        cache = features.dynamic_cache_class()()
        for i, (k, v) in enumerate(pairs):
            cache.update(k, v, i)
        return cache

    if len(layers[0]) == 4:
        self_attention = dyn((layer[0], layer[1]) for layer in layers)
        cross_attention = dyn((layer[2], layer[3]) for layer in layers)
        return features.encoder_decoder_cache_class()(self_attention, cross_attention)
    return dyn(layers)


def empty_cache() -> Any:
    """A fresh empty ``DynamicCache`` (only where ``cache_utils`` exists)."""
    from compat import _transformers as features

    return features.dynamic_cache_class()()
