"""A Cache subclass that keeps its own ``key_cache``/``value_cache`` lists: the assignment collides
with the read-only property of 4.54-4.55 (a finding, TODO); its own reads are not findings."""

import torch
from transformers import DynamicCache


class WindowCache(DynamicCache):
    def __init__(self, window):
        super().__init__()
        self.window = window
        self.key_cache = []  # expect: PCC003
        self.value_cache = []  # expect: PCC003

    def push(self, k, v):
        self.key_cache.append(k[..., -self.window:, :])
        self.value_cache.append(v[..., -self.window:, :])
        return self.key_cache[-1].shape[-2]


def run():
    cache = WindowCache(window=2)
    k = torch.arange(48.0).reshape(1, 2, 6, 4)
    n = cache.push(k, -k)
    return n, cache.key_cache[0], cache.value_cache[0]
