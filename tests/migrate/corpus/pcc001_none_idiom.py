"""PCC001 in the common idiom: the first forward has no cache yet (None).

``from_legacy_cache(None)`` gave an empty cache; the fix must keep that.
"""

import torch
from transformers import DynamicCache

from _tiny import build_model, ids, prefix_pairs


class Decoder:
    def __init__(self, model):
        self.model = model

    def step(self, input_ids, past_key_values=None, use_legacy_cache=True):
        if use_legacy_cache:
            past_key_values = DynamicCache.from_legacy_cache(past_key_values)  # expect: PCC001
        past = past_key_values.get_seq_length()
        mask = torch.ones(input_ids.shape[0], past + input_ids.shape[1], dtype=torch.long)
        with torch.no_grad():
            return self.model(input_ids, past_key_values=past_key_values, attention_mask=mask).logits  # expect: PCC012


def run():
    model = build_model()
    prefix, new = ids()
    decoder = Decoder(model)
    first = decoder.step(prefix)  # no cache yet
    second = decoder.step(new, past_key_values=prefix_pairs(model, prefix))
    return first, second
