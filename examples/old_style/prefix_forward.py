"""Old style (transformers 4.36-4.57): run a model on new tokens after a prefix cache.

The prefix is the model's own KV of ``prefix_ids``, taken out as legacy tuples
and put back with ``DynamicCache.from_legacy_cache`` -- the widely copied
workaround. Breaks on transformers 5.x (both converters were removed).

Patterns: PCC002 (``to_legacy_cache``), PCC001 (``from_legacy_cache``),
PCC009 (``get_usable_length``).
Also PCC012 (``past_key_values=`` to a model), PCC013 (``out.past_key_values``).
"""

import torch
from transformers import DynamicCache, LlamaConfig, LlamaForCausalLM


def build_model(seed=0):
    """A tiny random Llama (2 layers, GQA), built from a config: nothing is downloaded."""
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


def prefix_legacy(model: LlamaForCausalLM, prefix_ids):
    """The prefix's per-layer (key, value) tensors, as legacy tuples."""
    with torch.no_grad():
        out = model(prefix_ids, use_cache=True)
    return out.past_key_values.to_legacy_cache()


def run(model: LlamaForCausalLM, prefix_ids, input_ids):
    """Logits of ``input_ids`` given the prefix, computed through a prefix cache."""
    legacy = prefix_legacy(model, prefix_ids)
    cache = DynamicCache.from_legacy_cache(legacy)
    past_length = cache.get_usable_length(input_ids.shape[1])
    mask = torch.ones(input_ids.shape[0], past_length + input_ids.shape[1], dtype=torch.long)
    with torch.no_grad():
        out = model(input_ids, past_key_values=cache, attention_mask=mask, use_cache=True)
    return out.logits
