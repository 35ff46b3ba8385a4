"""A branch already guarded by a transformers-version check: no rule reports inside it."""

import transformers
from packaging import version
from transformers import DynamicCache

from _tiny import build_model, ids, prefix_pairs

NEW_CONSTRUCTOR = version.parse(transformers.__version__) >= version.parse("4.56")


def as_cache(pairs):
    if version.parse(transformers.__version__) >= version.parse("4.56"):
        return DynamicCache(pairs)
    return DynamicCache.from_legacy_cache(pairs)


def as_cache_by_flag(pairs):
    if NEW_CONSTRUCTOR:
        return DynamicCache(pairs)
    else:
        return DynamicCache.from_legacy_cache(pairs)


def run():
    model = build_model()
    prefix, _ = ids()
    pairs = prefix_pairs(model, prefix)
    return as_cache(pairs).get_seq_length(), as_cache_by_flag(pairs).get_seq_length()
