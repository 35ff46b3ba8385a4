"""Old style: cache calls with no rewrite that is right on every version.

``--fix`` leaves a ``# TODO(compat):`` comment on each; none of them is
rewritten. Not meant to be run.

Patterns: PCC006 (``crop(0)``/``crop(n)``), PCC007 (``get_max_length``),
PCC008 (``seen_tokens``), PCC009 (``get_usable_length`` on a cache of unknown
type), PCC010 (``cache_position`` next to ``past_key_values``).
Also PCC012 (``past_key_values=`` to a model not known to be one).
"""

import torch


def reset(past_key_values):
    """Empty the cache in place (crop(0) did that up to transformers 5.14)."""
    past_key_values.crop(0)
    return past_key_values


def truncate(past_key_values, length):
    """Keep the first ``length`` positions."""
    past_key_values.crop(length)


def budget(past_key_values, new_tokens):
    """How many tokens still fit, and how many were seen."""
    limit = past_key_values.get_max_length()
    seen = past_key_values.seen_tokens
    usable = past_key_values.get_usable_length(new_tokens)
    return limit, seen, usable


def step(model, input_ids, past_key_values):
    """One forward after a prefix, with explicit positions."""
    past = past_key_values.get_seq_length()
    positions = torch.arange(past, past + input_ids.shape[1])
    return model(input_ids, past_key_values=past_key_values, cache_position=positions)
