"""Type hints of the public API (for type checkers; nothing here imports torch at run time).

>>> from compat.hints import LegacyCache
>>> LegacyCache
tuple[tuple['torch.Tensor', ...], ...]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["CacheInput", "CacheOutput", "ConfigLike", "LegacyCache", "LegacyLayer", "ModelLike"]

#: One layer of legacy ``past_key_values``: ``(key, value)`` or ``(self k, self v, cross k, cross v)``
#: tensors ``[B, H_kv, S, D]`` (Bloom's and GPTBigCode's native layouts differ, see docs/shim.md).
LegacyLayer = tuple["torch.Tensor", ...]
#: Legacy ``past_key_values``: one :data:`LegacyLayer` per decoder layer.
LegacyCache = tuple[LegacyLayer, ...]

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from transformers import PretrainedConfig, PreTrainedModel
    from transformers.cache_utils import Cache

    #: What :func:`compat.to_cache` / :func:`compat.to_legacy` accept: legacy layers (tuples or
    #: lists), PEFT's stacked per-layer tensors, a Cache, or None.
    CacheInput = LegacyCache | list[Any] | tuple["torch.Tensor", ...] | Cache | None
    #: What :func:`compat.to_cache` returns: a Cache where the model takes one, else legacy layers.
    CacheOutput = Cache | LegacyCache | None
    #: A transformers model or a PEFT model wrapping one (unwrapped with ``get_base_model()``).
    ModelLike = PreTrainedModel | Any
    ConfigLike = PretrainedConfig
else:
    CacheInput = CacheOutput = ModelLike = ConfigLike = Any


def __dir__() -> list[str]:
    return __all__
