"""PCC001 + PCC003 in a per-layer loop: the rewrite must read one layer per access (O(1))."""

import torch
from transformers import DynamicCache

from _tiny import build_model, ids, prefix_pairs


def layer_norms(pairs):
    cache = DynamicCache.from_legacy_cache(tuple(pairs))  # expect: PCC001
    norms = []
    for i in range(len(pairs)):
        k = cache.key_cache[i]  # expect: PCC003
        v = cache.value_cache[i]  # expect: PCC003
        norms.append(torch.stack([k.norm(), v.norm()]))
    return torch.stack(norms)


def run():
    model = build_model()
    prefix, _ = ids()
    return layer_norms(prefix_pairs(model, prefix))
