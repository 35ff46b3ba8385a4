"""A function monkeypatched onto DynamicCache: ``self`` is that cache."""

import torch
from transformers import DynamicCache


def _last_value(self):
    return self.value_cache[-1]  # expect: PCC003


DynamicCache.last_value = _last_value


def run():
    cache = DynamicCache()
    k = torch.arange(24.0).reshape(1, 2, 3, 4)
    cache.update(k, k * 3, 0)
    cache.update(k + 1, k * 5, 1)
    return cache.last_value()
