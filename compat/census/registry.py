"""Which architectures the census covers: every model type in the installed transformers'
causal-LM and seq2seq-LM auto mappings (``MODEL_FOR_CAUSAL_LM_MAPPING_NAMES``,
``MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES``), read at run time, so the census adapts to
each version's registry.

A model type in both mappings (``bart``, ``pegasus``, ...) is two architectures: the
seq2seq model keeps the model type as its id, the decoder-only class gets ``_causal``.
Ids use ``_`` for ``-`` so that test ids stay ``arch-method-check``.

>>> a = Arch("gpt-sw3", "causal", "GPT2LMHeadModel")
>>> a.id, a.seq2seq
('gpt_sw3', False)
>>> Arch("bart", "causal", "BartForCausalLM", both=True).id
'bart_causal'
"""

from __future__ import annotations

import dataclasses

__all__ = ["Arch", "architectures"]


@dataclasses.dataclass(frozen=True)
class Arch:
    """One architecture: a model type and the auto class it maps to in one mapping."""

    model_type: str
    mapping: str  # "causal" or "seq2seq"
    model_class: str
    both: bool = False  # the model type is in both mappings

    @property
    def id(self) -> str:
        base = self.model_type.replace("-", "_")
        return f"{base}_causal" if self.both and self.mapping == "causal" else base

    @property
    def seq2seq(self) -> bool:
        return self.mapping == "seq2seq"


def _names(mapping) -> dict[str, str]:
    out = {}
    for model_type, cls in mapping.items():
        out[model_type] = cls[0] if isinstance(cls, (tuple, list)) else cls
    return out


def architectures() -> tuple[Arch, ...]:
    """Every architecture of the installed transformers, sorted by id."""
    from transformers.models.auto import modeling_auto

    causal = _names(modeling_auto.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES)
    seq2seq = _names(getattr(modeling_auto, "MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES", {}))
    both = set(causal) & set(seq2seq)
    archs = [Arch(t, "causal", c, t in both) for t, c in causal.items()]
    archs += [Arch(t, "seq2seq", c, t in both) for t, c in seq2seq.items()]
    return tuple(sorted(archs, key=lambda a: a.id))
