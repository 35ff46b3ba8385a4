"""Generic shrinking of a transformers config to a tiny one: no per-architecture code.

A config's defaults describe a real model (billions of parameters). :func:`shrink` walks its
``to_dict()`` (and every sub-config dict, e.g. ``text_config``/``vision_config``) and replaces
each size it recognises by key name with a tiny value: layers 2, hidden 32, 4 heads of 8 dims,
KV heads 2 (1 where the default is multi-query, 4 where it is multi-head), intermediate sizes 64,
vocabulary 131, 4 experts with 2 per token, latent ranks 16, windows 64, positions 256. Per-layer
lists (``layer_types`` and any list as long as the layer count) keep one layer of every distinct
kind, so a hybrid stays hybrid. Token ids are moved into the tiny vocabulary: pad 0, bos 1, eos 2,
any other special id into 100..130 (never drawn as an input token, which are 3..95). The
vocabulary is prime, so no small multiple of another tiny size equals it: PEFT finds the word
embeddings of prompt tuning and p-tuning as the first parameter with vocab_size rows (128 = 4 x
hidden once made it take an audio encoder's up-projection).

>>> d = shrink({"num_hidden_layers": 30, "hidden_size": 2304, "num_attention_heads": 8,
...     "num_key_value_heads": 4, "head_dim": 256, "vocab_size": 262144,
...     "layer_types": ["sliding_attention"] * 5 + ["full_attention"], "eos_token_id": [1, 106]})
>>> d["num_hidden_layers"], d["hidden_size"], d["num_key_value_heads"], d["head_dim"], d["vocab_size"]
(2, 32, 2, 8, 131)
>>> d["layer_types"], d["eos_token_id"]
(['sliding_attention', 'full_attention'], [2, 100])
"""

from __future__ import annotations

from typing import Any

__all__ = ["INPUT_TOKENS", "SIZES", "VOCAB", "shrink"]

VOCAB = 131
#: token ids drawn as inputs (pad/bos/eos are 0-2, other specials 100-130)
INPUT_TOKENS = (3, 96)
_SPECIAL_START = 100

HIDDEN, HEADS, HEAD_DIM = 32, 4, 8

#: key -> tiny value, for every key in the config or a sub-config that holds a non-None int
SIZES: dict[str, int] = {
    **dict.fromkeys(("num_hidden_layers", "num_layers", "n_layer", "n_layers", "num_decoder_layers",
                     "encoder_layers", "decoder_layers", "num_encoder_layers", "depth", "max_window_layers",
                     "speech_encoder_layers", "num_layers_per_stack", "num_blocks"), 2),
    **dict.fromkeys(("hidden_size", "d_model", "n_embd", "embed_dim", "word_embed_proj_dim", "hidden_size_global",
                     "embedding_size", "lru_width", "attention_hidden_size", "input_embedding_size",
                     "output_embedding_size", "emb_dim", "hidden_dim", "audio_hidden_size",
                     "cross_attention_hidden_size", "backbone_hidden_size", "out_hidden_size",
                     "projector_input_dim", "projector_output_dim", "vision_output_dim", "output_dim",
                     "embedding_dim"), HIDDEN),
    **dict.fromkeys(("num_attention_heads", "n_head", "num_heads", "n_heads", "encoder_attention_heads",
                     "decoder_attention_heads", "attention_heads", "num_encoder_attention_heads",
                     "num_decoder_attention_heads", "swa_num_attention_heads", "speech_encoder_attention_heads"),
                    HEADS),
    **dict.fromkeys(("head_dim", "d_kv", "attention_head_dim", "dim_head", "d_head", "kv_channels",
                     "attention_head_size", "swa_head_dim", "linear_head_dim", "mamba_d_head", "mamba_head_dim",
                     "mamba_headdim"), HEAD_DIM),
    **dict.fromkeys(("intermediate_size", "ffn_dim", "d_ff", "n_inner", "encoder_ffn_dim", "decoder_ffn_dim",
                     "moe_intermediate_size", "shared_expert_intermediate_size", "shared_experts_intermediate_size",
                     "moe_shared_expert_intermediate_size", "shared_intermediate_size", "intermediate_size_mlp",
                     "dense_intermediate_size", "expert_ffn_hidden_size", "ffn_hidden_size", "d_inner", "dim_ff",
                     "dff", "feed_forward_size", "mlp_dim", "speech_encoder_intermediate_size"), 64),
    **dict.fromkeys(("vocab_size", "decoder_vocab_size", "vocab_size_per_layer_input", "src_vocab_size",
                     "tgt_vocab_size"), VOCAB),
    **dict.fromkeys(("num_experts", "num_local_experts", "n_routed_experts", "moe_num_experts"), 4),
    **dict.fromkeys(("num_experts_per_tok", "top_k_experts", "moe_topk", "num_experts_per_token", "moe_k"), 2),
    **dict.fromkeys(("n_group", "num_expert_group", "topk_group", "n_shared_experts", "first_k_dense_replace"), 1),
    **dict.fromkeys(("kv_lora_rank", "q_lora_rank", "o_lora_rank", "laurel_rank", "adapter_rank",
                     "gated_norm_rank", "hc_lowrank"), 16),
    "qk_rope_head_dim": 4, "qk_nope_head_dim": 8, "v_head_dim": 8, "qk_head_dim": 12,
    "index_head_dim": 8, "index_n_heads": 2, "index_topk": 64,
    "linear_num_key_heads": 2, "linear_num_value_heads": 4, "linear_key_head_dim": 8, "linear_value_head_dim": 8,
    "linear_num_heads": 4,
    **dict.fromkeys(("mamba_d_state", "state_size", "ssm_state_size", "d_state"), 8),
    **dict.fromkeys(("mamba_dt_rank", "time_step_rank"), 8),
    **dict.fromkeys(("mamba_n_heads", "mamba_num_heads"), 8),
    **dict.fromkeys(("sliding_window", "sliding_window_size", "attention_window_size", "local_attention_window_len",
                     "attention_chunk_size", "window_size", "attention_window"), 64),
    **dict.fromkeys(("max_position_embeddings", "n_positions", "n_ctx", "max_source_positions",
                     "max_target_positions", "max_seq_len", "max_encoder_position_embeddings",
                     "max_decoder_position_embeddings", "original_max_position_embeddings", "context_length"), 256),
    "mamba_d_ssm": 2 * HIDDEN,
    "query_pre_attn_scalar": HEAD_DIM, "hidden_size_per_layer_input": 8, "rotary_dim": 4,
}

_LAYER_KEYS = ("num_hidden_layers", "num_layers", "n_layer", "n_layers", "num_decoder_layers", "decoder_layers")
_PER_LAYER_STRINGS = ("hybrid_override_pattern", "block_pattern")
#: sizes kept as a multiple of the hidden size (see _hidden_multiples)
_HIDDEN_MULTIPLES = ("attention_hidden_size",)
#: None defaults a model reads as numbers (its checkpoints always set them): the value the
#: tiny shapes imply (hidden / heads = 8; no KV grouping)
_FILL_NONE = {"head_dim": HEAD_DIM, "num_key_value_heads": HEADS, "num_experts_per_tok": 2, "topk_group": 1,
              "n_group": 1}
_NAMED_IDS = {"pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2}


def _layer_count(d: dict) -> int | None:
    for key in _LAYER_KEYS:
        if isinstance(d.get(key), int) and not isinstance(d.get(key), bool):
            return d[key]
    types = d.get("layer_types")
    return len(types) if isinstance(types, list) else None


def _kept_layers(values: list, minimum: int) -> list[int]:
    """Indices keeping the first layer of every distinct kind (in order), padded to ``minimum``."""
    seen, keep = set(), []
    for i, v in enumerate(values):
        key = repr(v)
        if key not in seen:
            seen.add(key)
            keep.append(i)
    for i in range(len(values)):
        if len(keep) >= minimum:
            break
        if i not in keep:
            keep.append(i)
    return sorted(keep)


def _per_layer(d: dict, n: int) -> dict:
    """Keys whose value is a list (or pattern string) with one entry per layer."""
    out = {}
    for key, value in d.items():
        per_layer_list = isinstance(value, list) and len(value) == n and n > 2
        per_layer_string = key in _PER_LAYER_STRINGS and isinstance(value, str) and len(value) == n
        if per_layer_list or per_layer_string:
            out[key] = value
    if isinstance(d.get("layer_types"), list):
        out["layer_types"] = d["layer_types"]
    return out


def _layer_indices(key: str, value: Any, n: int) -> bool:
    """A list of layer indices (``hybrid_layer_ids``, ``attn_layer_indices``): which layers are of a kind."""
    named = "layer" in key and key.endswith(("_ids", "_indices", "_idx"))
    return (named and isinstance(value, list) and bool(value)
            and all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < n for i in value))


def _layer_dict(value: Any, n: int) -> bool:
    """A dict keyed by layer index (``{"05": {"head_dim": 512}}``): per-layer exceptions."""
    return (isinstance(value, dict) and bool(value)
            and all(str(k).isdigit() and int(k) < n for k in value))


def _remap_layer_dict(d: dict, key: str, keep: list[int]) -> None:
    """Keep the exceptions of kept layers, renumbered, their sizes scaled like the defaults'
    (Gemma 4's global layers keep twice the head_dim of the others)."""
    new = {}
    for old_key, spec in d[key].items():
        if int(old_key) not in keep:
            continue
        scaled = {}
        for name, value in (spec.items() if isinstance(spec, dict) else ()):
            base = d.get(name)
            if name in SIZES and isinstance(value, int) and isinstance(base, int) and base:
                scaled[name] = max(1, SIZES[name] * value // base)
            else:
                scaled[name] = value
        new[str(keep.index(int(old_key))).zfill(len(str(old_key)))] = scaled if isinstance(spec, dict) else spec
    d[key] = new


def _shrink_layers(d: dict, tiny: int) -> bool:
    """Shrink the layer count and every per-layer list/dict; False if ``d`` has no layers."""
    n = _layer_count(d)
    if n is None:
        return False
    lists = _per_layer(d, n)
    indices = [k for k, v in d.items() if _layer_indices(k, v, n) and k not in lists]
    driver = lists.get("layer_types") or next(iter(lists.values()), None)
    if driver is None and indices:  # a layer's kind: which index lists name it
        driver = [tuple(i in d[k] for k in indices) for i in range(n)]
    keep = _kept_layers(list(driver), tiny) if driver is not None else list(range(min(n, tiny)))
    for key in [k for k, v in d.items() if _layer_dict(v, n)]:
        _remap_layer_dict(d, key, keep)
    for key, value in lists.items():
        picked = [value[i] for i in keep if i < len(value)]
        d[key] = "".join(picked) if isinstance(value, str) else picked
    for key in indices:
        d[key] = [keep.index(i) for i in d[key] if i in keep]  # the kept layers among them, renumbered
    for key in _LAYER_KEYS:
        if isinstance(d.get(key), int) and not isinstance(d.get(key), bool):
            d[key] = len(keep)
    for key in ("encoder_layers", "num_encoder_layers"):
        if isinstance(d.get(key), int) and not isinstance(d.get(key), bool):
            d[key] = tiny
    return True


def _kv_heads(d: dict) -> None:
    heads = d.get("num_attention_heads")
    for key in ("num_key_value_heads", "num_kv_heads", "swa_num_key_value_heads", "num_query_groups"):
        value = d.get(key)
        if not isinstance(value, int) or isinstance(value, bool):
            continue
        d[key] = 1 if value == 1 else (HEADS if value == heads else 2)


class _Ids:
    """Moves special token ids into the tiny vocabulary, the same old id always to the same new id."""

    def __init__(self) -> None:
        self.moved: dict[int, int] = {}
        self.specials = 0

    def __call__(self, key: str, value: Any, first: bool = True) -> Any:
        if isinstance(value, list):
            return [self(key, v, i == 0) for i, v in enumerate(value)]
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            return value
        if key in _NAMED_IDS and first and value not in self.moved:
            self.moved[value] = _NAMED_IDS[key]
        if value not in self.moved:
            self.moved[value] = min(_SPECIAL_START + self.specials, VOCAB - 1)
            self.specials += 1
        return self.moved[value]


def _hidden_multiples(d: dict) -> dict:
    """Sizes whose default is a whole multiple of the hidden size keep that multiple of the tiny
    hidden size (Zamba's attention runs over hidden + the original embeddings: 2 x hidden)."""
    hidden = d.get("hidden_size")
    out = {}
    for key in _HIDDEN_MULTIPLES:
        value = d.get(key)
        if isinstance(value, int) and isinstance(hidden, int) and hidden > 0 and value % hidden == 0:
            out[key] = SIZES["hidden_size"] * (value // hidden)
    return out


def _is_id(key: str) -> bool:
    return key.endswith(("_token_id", "_token_ids", "_token_index")) or key in ("decoder_start_token_id",)


def _walk(d: dict, ids: _Ids) -> dict:
    d = dict(d)
    layered = _shrink_layers(d, SIZES["num_hidden_layers"])
    original_heads = d.get("num_attention_heads")
    multiples = _hidden_multiples(d)
    for key, value in list(d.items()):
        if layered and key in _LAYER_KEYS:
            continue  # set by _shrink_layers (one layer of every kind)
        if _layer_dict(value, 10**9):
            continue  # per-layer exceptions, remapped by _shrink_layers
        if isinstance(value, dict) and not key.startswith(("id2label", "label2id", "rope", "quantization")):
            d[key] = _walk(value, ids)
        elif _is_id(key):
            d[key] = ids(key, value)
        elif key in _FILL_NONE and value is None:
            d[key] = _FILL_NONE[key]
        elif key in SIZES and isinstance(value, int) and not isinstance(value, bool):
            if key.startswith(("num_layers", "num_hidden_layers", "n_layer")) and value < 2:
                continue
            d[key] = SIZES[key]
    d.update(multiples)
    if isinstance(d.get("qk_rope_head_dim"), int) and isinstance(d.get("qk_nope_head_dim"), int):
        # multi-head latent attention: rotary head_dim is the rope part, queries/keys are nope + rope
        if "head_dim" in d:
            d["head_dim"] = d["qk_rope_head_dim"]
        if "qk_head_dim" in d:
            d["qk_head_dim"] = d["qk_rope_head_dim"] + d["qk_nope_head_dim"]
    if original_heads is not None:
        d["num_attention_heads"] = original_heads
        _kv_heads(d)
        d["num_attention_heads"] = SIZES["num_attention_heads"]
    return d


def shrink(config_dict: dict) -> dict:
    """A tiny version of a config's ``to_dict()`` (a new dict; sub-configs shrunk too)."""
    ids = _Ids()
    # named ids first, so pad/bos/eos keep 0/1/2 wherever they appear
    for key in _NAMED_IDS:
        if key in config_dict:
            ids(key, config_dict[key])
    return _walk(config_dict, ids)
