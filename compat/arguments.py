"""The keyword a model takes its cache under, on every transformers version.

transformers 5.24 renamed the ``past_key_values`` argument of every model's ``forward`` and
``generate`` (and the output field) to ``cache``; the old name still works there but draws a
``FutureWarning`` (removal announced for 5.40) and a logged deprecation, and when both are given
the old one is silently ignored. Code that hands a prefix to a model should therefore name the
argument by feature detection, never by hand:

>>> import torch
>>> from compat import cache_kwargs, output_cache, cache_argument
>>> from compat.testing.zoo import build
>>> model = build("llama")
>>> out = model(torch.tensor([[5, 6, 7]]), use_cache=True)
>>> prefix = output_cache(out)                          # out.cache on 5.24+, out.past_key_values before
>>> kwargs = cache_kwargs(model, prefix)                 # {"cache": ...} on 5.24+, {"past_key_values": ...} before
>>> list(kwargs) == [cache_argument(model)]
True
>>> logits = model(torch.tensor([[8]]), use_cache=True, **kwargs).logits
"""

from __future__ import annotations

from typing import Any

from compat import _transformers as transformers_features
from compat.convert import to_cache
from compat.hints import CacheInput, CacheOutput, ModelLike

__all__ = ["cache_argument", "cache_kwargs", "output_cache"]


def cache_argument(model: ModelLike = None) -> str:
    """``"cache"`` (transformers 5.24+) or ``"past_key_values"``: what ``model`` takes (PEFT models unwrapped)."""
    return transformers_features.cache_argument(model)


def cache_kwargs(model: ModelLike, pkv: CacheInput) -> dict[str, CacheOutput]:
    """``{name: to_cache(pkv, model=model)}`` with the name ``model`` takes on this install.

    Use as ``model(input_ids, **cache_kwargs(model, prefix))`` or
    ``model.generate(..., **cache_kwargs(model, prefix))``: no deprecation warning on any
    version, and the right container for the model's family (see :func:`compat.to_cache`).
    """
    return {cache_argument(model): to_cache(pkv, model=model)}


def output_cache(outputs: Any) -> Any:
    """The cache in a model's output (``.cache`` on 5.24+, ``.past_key_values`` before), or ``None``."""
    return transformers_features.output_cache(outputs)


def __dir__() -> list[str]:
    return __all__
