"""Portable stand-ins for cache APIs that transformers removed, with the old semantics exactly.

``compat migrate --fix`` rewrites to these where :func:`compat.to_cache` /
:func:`compat.to_legacy` would differ from what the old call did:

* :func:`from_legacy_cache` is ``DynamicCache.from_legacy_cache`` (4.36-4.57) on every
  version: ``None`` gives an **empty** cache (``compat.to_cache(None)`` returns ``None``), and
  ``encoder_decoder=True`` is ``EncoderDecoderCache.from_legacy_cache`` (always an
  ``EncoderDecoderCache``, also for ``(k, v)`` 2-tuples).
* :func:`layer_keys` / :func:`layer_values` read ``cache.key_cache[i]`` /
  ``cache.value_cache[i]`` (removed in 4.56) in O(1): the layer's own tensor, no tuple rebuilt.

>>> import torch
>>> from compat.legacy_api import from_legacy_cache, layer_keys
>>> from_legacy_cache(None).get_seq_length()
0
>>> k = torch.zeros(1, 2, 3, 4)
>>> layer_keys(from_legacy_cache(((k, k),)), 0) is not None
True
"""

from __future__ import annotations

from typing import Any

from compat import _transformers as features
from compat.convert import to_cache
from compat.errors import CacheTypeError

__all__ = ["from_legacy_cache", "layer_keys", "layer_values"]


def from_legacy_cache(pkv: Any, *, encoder_decoder: bool = False) -> Any:
    """What ``DynamicCache.from_legacy_cache(pkv)`` (or ``EncoderDecoderCache``'s) returned.

    ``None`` gives an empty cache; legacy data gives a cache holding the same tensors.
    Where transformers has no Cache classes (before 4.36, where ``from_legacy_cache``
    did not exist either) ``None`` stays ``None`` and data stays a legacy tuple.
    """
    dynamic = features.dynamic_cache_class()
    if pkv is None:
        if dynamic is None:
            return None
        return _encoder_decoder(dynamic(), dynamic) if encoder_decoder else dynamic()
    cache = to_cache(pkv)
    if encoder_decoder and dynamic is not None and not features.is_encoder_decoder_cache(cache):
        return _encoder_decoder(cache, dynamic)
    return cache


def _encoder_decoder(self_attention: Any, dynamic: type) -> Any:
    cls = features.encoder_decoder_cache_class()
    if cls is None:
        raise CacheTypeError(
            "EncoderDecoderCache.from_legacy_cache: this transformers has no EncoderDecoderCache "
            "(it exists from 4.43)"
        )
    return cls(self_attention, dynamic())


def _layer(cache: Any, idx: int, which: int) -> Any:
    if isinstance(cache, (tuple, list)):
        return cache[idx][which]
    layers = getattr(cache, "layers", None)
    if layers is not None:  # layered caches, 4.54+
        layer = layers[idx]
        return layer.keys if which == 0 else layer.values
    lists = getattr(cache, "key_cache" if which == 0 else "value_cache", None)
    if lists is None:
        raise CacheTypeError(
            f"layer {idx}: expected a transformers Cache with per-layer tensors or a legacy tuple, "
            f"found {type(cache).__name__}"
        )
    return lists[idx]


def layer_keys(cache: Any, idx: int) -> Any:
    """``cache.key_cache[idx]`` on every version (the layer's key tensor itself, O(1))."""
    return _layer(cache, idx, 0)


def layer_values(cache: Any, idx: int) -> Any:
    """``cache.value_cache[idx]`` on every version (the layer's value tensor itself, O(1))."""
    return _layer(cache, idx, 1)


def __dir__() -> list[str]:
    return __all__
