"""Old style: build a cache with ``DynamicCache(legacy)``.

Runs on transformers 5.23, but is silently EMPTY on 4.45-4.49 (the argument
binds to the deprecated ``num_hidden_layers``) and silently broken on
4.54-4.55 (an extra empty layer): the model then ignores the prefix.

Patterns: PCC004 (``DynamicCache(legacy)``).
Also PCC012 (``past_key_values=`` to a model).
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


def run(model: LlamaForCausalLM, legacy, input_ids):
    """Logits of ``input_ids`` after the prefix given as legacy ``(k, v)`` tuples."""
    prefix = tuple((k, v) for k, v in legacy)
    cache = DynamicCache(prefix)
    past = prefix[0][0].shape[-2]
    mask = torch.ones(input_ids.shape[0], past + input_ids.shape[1], dtype=torch.long)
    with torch.no_grad():
        out = model(input_ids, past_key_values=cache, attention_mask=mask, use_cache=True)
    return out.logits
