"""PCC012/PCC013: the cache keyword and output field that transformers 5.24 renamed to ``cache``.
The model here is provably a model (built from a transformers model class)."""

import torch
from transformers import DynamicCache, LlamaForCausalLM

from _tiny import PREFIX_LEN, build_model, ids, prefix_pairs


def continue_from(model: LlamaForCausalLM, prefix, new):
    with torch.no_grad():
        out = model(prefix, use_cache=True)
        cache = out.past_key_values  # expect: PCC013
        mask = torch.ones(new.shape[0], PREFIX_LEN + new.shape[1], dtype=torch.long)
        nxt = model(new, attention_mask=mask, past_key_values=cache, use_cache=True)  # expect: PCC012
    return nxt.logits


def greedy(model: LlamaForCausalLM, prefix, new):
    legacy = tuple(prefix_pairs(model, prefix))
    full = torch.cat([prefix, new], dim=1)
    with torch.no_grad():
        return model.generate(full, attention_mask=torch.ones_like(full), past_key_values=legacy,  # expect: PCC011 PCC012
                              max_new_tokens=3, do_sample=False)


def run():
    model = build_model()
    prefix, new = ids()
    return continue_from(model, prefix, new), greedy(model, prefix, new)
