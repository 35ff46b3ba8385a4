"""PCC002 must leave the project's own ``to_legacy_cache`` alone: a Cache subclass with a
flattened layout, and a plain class. Only the transformers cache is a target."""

import torch
from transformers import DynamicCache


class FlatCache(DynamicCache):
    """Keeps one flat list of tensors next to the real cache."""

    def __init__(self):
        super().__init__()
        self.flat = []

    def remember(self, k, v):
        self.flat.extend([k, v])

    def to_legacy_cache(self):
        return tuple(self.flat)


class Snapshot:
    def __init__(self, tensors):
        self.tensors = list(tensors)

    def to_legacy_cache(self):
        return tuple((t, t * 2) for t in self.tensors)


def run():
    k = torch.arange(24.0).reshape(1, 2, 3, 4)
    own = FlatCache()
    own.remember(k, k + 1)
    snap = Snapshot([k])
    return own.to_legacy_cache(), snap.to_legacy_cache()
