"""Old style: read the key/value tensors back out of a cache.

``key_cache``/``value_cache`` were removed in 4.56; ``cache[i]`` and
``to_legacy_cache()`` stopped working in 5.0.

Patterns: PCC002 (``to_legacy_cache``), PCC001 (``from_legacy_cache``),
PCC003 (``key_cache[i]``/``value_cache[i]``), PCC005 (``cache[i]``, iterating a cache).
Also PCC013 (``out.past_key_values``).
"""

import torch
from transformers import DynamicCache, LlamaConfig, LlamaForCausalLM


def build_model(seed=0):
    """A tiny random Llama (2 layers, GQA), built from a config."""
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=97,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
    )
    return LlamaForCausalLM(config).eval()


def run(model: LlamaForCausalLM, prefix_ids):
    """``{"keys": [...], "values": [...], "first": (k, v), "pairs": [(k, v), ...]}`` of the prefix."""
    with torch.no_grad():
        out = model(prefix_ids, use_cache=True)
    legacy = out.past_key_values.to_legacy_cache()
    cache = DynamicCache.from_legacy_cache(legacy)
    keys = [cache.key_cache[i] for i in range(len(legacy))]
    values = [cache.value_cache[i] for i in range(len(legacy))]
    first = cache[0]
    pairs = [(k, v) for k, v in cache]
    return {"keys": keys, "values": values, "first": first, "pairs": pairs}
