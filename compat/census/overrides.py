"""Per-architecture config overrides on top of :func:`compat.census.shrink.shrink`, each with a
one-line reason. Keep it small: a row belongs here only when the generic shrinking yields a config
the architecture rejects or one that would test something else than the architecture's point.

>>> OVERRIDES["mamba2"].reason
'SSM heads x head_dim must equal expand x hidden (2 x 32): 8 heads of 8'
"""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["OVERRIDES", "Override", "apply", "choices"]


@dataclasses.dataclass(frozen=True)
class Override:
    """Config keys to set (``sub.key`` reaches into a sub-config dict) and why; ``alternatives``
    say the same in the words of other versions' config classes, tried in order where the installed
    class refuses ``values`` (feature detection by the class's own validation)."""

    values: dict[str, Any]
    reason: str
    alternatives: tuple[dict[str, Any], ...] = ()


OVERRIDES: dict[str, Override] = {
    "mamba2": Override({"num_heads": 8, "head_dim": 8, "n_groups": 1},
                       "SSM heads x head_dim must equal expand x hidden (2 x 32): 8 heads of 8"),
    "jamba": Override({"attn_layer_period": 2, "attn_layer_offset": 1, "expert_layer_period": 2,
                       "expert_layer_offset": 1, "use_mamba_kernels": False},
                      "one Mamba and one attention layer in 2 (default period 8); no CUDA kernels"),
    "zaya": Override({"num_experts_per_tok": 1}, "ZAYA's config accepts only num_experts_per_tok=1"),
    "gemma3n_text": Override({"num_kv_shared_layers": 0},
                             "KV sharing needs a producing layer of each kind before the shared ones; "
                             "2 layers have none"),
    "gemma3n": Override({"text_config.num_kv_shared_layers": 0},
                        "KV sharing needs a producing layer of each kind before the shared ones; 2 layers have none"),
    "lfm2_moe": Override({"layer_types": ["conv", "full_attention"]},
                         "the default config has layer_types=None, which the model indexes; one conv + one attention"),
    "bamba": Override({"attn_layer_indices": [1]},
                      "the default config has no attention layer (attn_layer_indices=None), unlike Bamba's "
                      "checkpoints; one Mamba + one attention layer"),
    "granitemoehybrid": Override({"layer_types": ["linear_attention", "full_attention"]},
                                 "the default config is all Mamba (layer_types=None), unlike Granite 4's hybrid "
                                 "checkpoints; one Mamba + one attention layer",
                                 alternatives=({"layer_types": ["mamba", "attention"]},)),  # 4.x names
    "recurrent_gemma": Override({"block_types": ["recurrent", "attention"]},
                                "the default block cycle (recurrent, recurrent, attention) has no attention layer "
                                "in 2 layers; one recurrent + one attention block"),
    "xmod": Override({"default_language": "en_XX"},
                     "X-MOD routes every layer through a language adapter and the default config names none "
                     "(its forward raises without one); its one configured language"),
    "hrm_text": Override({"num_layers_per_stack": None},
                         "HRM's config counts cache slots in num_hidden_layers (layers per stack x H_cycles x "
                         "(L_cycles + 1)) and keeps the layers per stack apart; shrinking set both to 2 (2 slots for "
                         "16 steps), so the config derives them again from 2 layers per stack"),
    "xlstm": Override({"qk_dim_factor": 2.0, "v_dim_factor": 2.0},
                      "the mLSTM state is sized from q/k and v dims rounded up to a multiple of 64, the layers use "
                      "hidden x factor unrounded; the defaults (0.5, 1.0) agree at real sizes, at hidden 32 only "
                      "factor 2 gives 64 on both sides"),
    "reformer": Override({"axial_pos_embds_dim": [16, 16], "axial_pos_shape": [16, 16]},
                         "axial position factors must sum to hidden (32) and multiply to the positions (256)"),
}


def _set(d: dict, dotted: str, value: Any) -> None:
    *path, last = dotted.split(".")
    for part in path:
        d = d.setdefault(part, {})
    d[last] = value


def choices(arch_id: str) -> int:
    """How many wordings of the architecture's override there are to try (1 without one)."""
    override = OVERRIDES.get(arch_id)
    return 1 if override is None else 1 + len(override.alternatives)


def apply(arch_id: str, config_dict: dict, choice: int = 0) -> dict:
    """``config_dict`` with the architecture's overrides (a new dict): ``values`` for choice 0,
    else ``alternatives[choice - 1]``."""
    override = OVERRIDES.get(arch_id)
    if override is None:
        return config_dict
    out = dict(config_dict)
    for key, value in (override.values if choice == 0 else override.alternatives[choice - 1]).items():
        _set(out, key, value)
    return out
