"""Old style: pass a legacy tuple prefix to ``generate``.

``generate`` converted tuples itself up to 4.57 (with a deprecation warning in
4.57) and raises ``ValueError`` from 5.0.

Patterns: PCC002 (``to_legacy_cache``), PCC011 (tuple to ``generate``).
Also PCC012 (``past_key_values=`` to a model), PCC013 (``out.past_key_values``).
"""

import torch
from transformers import LlamaConfig, LlamaForCausalLM


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
        pad_token_id=0,
    )
    return LlamaForCausalLM(config).eval()


def run(model: LlamaForCausalLM, prefix_ids, input_ids, max_new_tokens=4):
    """Greedy continuation of ``prefix_ids + input_ids``, reusing the prefix's KV."""
    with torch.no_grad():
        out = model(prefix_ids, use_cache=True)
    legacy = out.past_key_values.to_legacy_cache()
    full_ids = torch.cat([prefix_ids, input_ids], dim=1)
    mask = torch.ones_like(full_ids)
    with torch.no_grad():
        sequences = model.generate(
            full_ids,
            attention_mask=mask,
            past_key_values=legacy,
            max_new_tokens=max_new_tokens,
            do_sample=False,
        )
    return sequences[:, full_ids.shape[1]:]
