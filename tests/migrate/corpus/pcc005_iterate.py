"""PCC005: iterating and indexing a cache built in the same scope."""

import torch
from transformers import DynamicCache

from _tiny import build_model, ids, prefix_pairs


def summary(pairs):
    cache = DynamicCache.from_legacy_cache(pairs)  # expect: PCC001
    sums = [k.sum() + v.sum() for k, v in cache]  # expect: PCC005
    first_key = cache[0][0]  # expect: PCC005
    return torch.stack(sums), first_key


def run():
    model = build_model()
    prefix, _ = ids()
    return summary(prefix_pairs(model, prefix))
