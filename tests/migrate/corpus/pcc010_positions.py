"""PCC010: only an explicit cache_position handed to a model with a prefix is a finding; a
wrapper passing its own cache_position through, and a mask helper, are not."""

import torch
from transformers import DynamicCache, LlamaForCausalLM

from _tiny import build_model, ids, prefix_pairs


def causal_mask(batch, past, length, cache_position=None, past_key_values=None):
    return torch.ones(batch, past + length, dtype=torch.long)


class Wrapper:
    def __init__(self, model):
        self.model = model

    def forward(self, input_ids, past_key_values=None, cache_position=None, past=0):
        mask = causal_mask(input_ids.shape[0], past, input_ids.shape[1],
                           cache_position=cache_position, past_key_values=past_key_values)
        with torch.no_grad():
            return self.model(input_ids, past_key_values=past_key_values,  # expect: PCC012
                              cache_position=cache_position, attention_mask=mask).logits


def run():
    model: LlamaForCausalLM = build_model()
    prefix, new = ids()
    pairs = prefix_pairs(model, prefix)
    past = prefix.shape[1]
    positions = torch.arange(past, past + new.shape[1])
    through = Wrapper(model).forward(new, past_key_values=DynamicCache.from_legacy_cache(pairs),  # expect: PCC001
                                     cache_position=positions, past=past)
    mask = torch.ones(new.shape[0], past + new.shape[1], dtype=torch.long)
    with torch.no_grad():
        direct = model(new, past_key_values=DynamicCache.from_legacy_cache(pairs),  # expect: PCC001 PCC012
                       cache_position=positions, attention_mask=mask).logits  # expect: PCC010
    return through, direct
