"""A tiny random Llama for the corpus snippets (2 layers, GQA), built from a config, no download."""

import torch
from transformers import LlamaConfig, LlamaForCausalLM

PREFIX_LEN, INPUT_LEN = 5, 3


def build_model(seed=0):
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
    )
    return LlamaForCausalLM(config).eval()


def ids(seed=1):
    generator = torch.Generator().manual_seed(seed)
    prefix = torch.randint(1, 97, (2, PREFIX_LEN), generator=generator)
    new = torch.randint(1, 97, (2, INPUT_LEN), generator=generator)
    return prefix, new


def prefix_pairs(model, prefix):
    """The prefix's (k, v) per layer, read natively (no cache API that a rule knows)."""
    with torch.no_grad():
        layers = model(prefix, use_cache=True)[1]
    if isinstance(layers, tuple):
        return tuple((k, v) for k, v in layers)
    if hasattr(layers, "layers"):
        return tuple((layer.keys, layer.values) for layer in layers.layers)
    return tuple(zip(getattr(layers, "key" + "_cache"), getattr(layers, "value" + "_cache")))
