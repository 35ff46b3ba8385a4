"""Uses of removed attributes on a cache subclass imported with a star import."""

import torch

from .caches import *  # noqa: F403


def run():
    cache = PrefixCache()  # noqa: F405
    k = torch.arange(24.0).reshape(1, 2, 3, 4)
    cache.update(k, -k, 0)
    return cache.first_key(), cache.value_cache[0]  # expect: PCC003
