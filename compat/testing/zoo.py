"""A zoo of tiny random-weight models built from configs (no downloads).

By default every model is fp32 on the CPU, in eval mode, 2-3 layers, hidden
size 32, vocabulary 96, eager attention, with weights drawn from a fixed seed,
so two ``build`` calls give bit-identical models. The suite axes
(:mod:`compat.testing.axes`: ``PCC_DEVICE``, ``PCC_DTYPE``, ``PCC_ATTN``,
``PCC_SIZE``) move them to another device, dtype or attention kernel, or to the
realistic-size shapes of :data:`REALISTIC` (GPU only). A family the installed
transformers lacks (or whose config does not honour what the family is here
for, e.g. GQA; or whose class cannot use the asked attention kernel; or that
has no realistic shape) is reported by :func:`family_available` with the
reason, never dropped silently.

>>> FAMILY_IDS[:4]
('llama', 'llama_gqa', 'mistral', 'qwen2')
>>> is_encoder_decoder("t5"), is_encoder_decoder("gpt2")
(True, False)
>>> ok, why = family_available("llama"); ok
True
>>> m = build("llama"); dims(m)
Dims(layers=2, heads=4, kv_heads=4, head_dim=8, hidden=32, vocab=96)
>>> build("gpt2", kv_heads=2)
Traceback (most recent call last):
...
ValueError: family 'gpt2' cannot set 'kv_heads' (settable: head_dim, heads, hidden, layers, vocab)
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, NamedTuple

__all__ = [
    "DECODER_IDS",
    "ENCODER_DECODER_IDS",
    "FAMILY_IDS",
    "PAD_ID",
    "REALISTIC",
    "VOCAB",
    "Dims",
    "Family",
    "build",
    "config_for",
    "dims",
    "family",
    "family_available",
    "is_encoder_decoder",
    "static_cache",
    "suite_families",
]

VOCAB = 96
PAD_ID = 0
# Larger than transformers' default 0.02 so that random models have a clear
# argmax (greedy comparisons are not decided by 1e-7 ties) and are sensitive
# to their context (a prompt changes the output).
INIT_RANGE = 0.2


class Dims(NamedTuple):
    """Shapes a prefix must have for a model (per attention layer)."""

    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    hidden: int
    vocab: int


@dataclasses.dataclass(frozen=True)
class Family:
    """How to build one family: config/model class names, base config, and
    which canonical override (``layers``, ``heads``, ``kv_heads``,
    ``head_dim``, ``hidden``, ``vocab``) maps to which config key."""

    id: str
    config_class: str
    model_class: str
    config: dict
    keys: dict
    encoder_decoder: bool = False
    # attribute -> value the built config must still carry (feature detection:
    # a transformers that ignores e.g. num_key_value_heads is not applicable)
    must_honour: tuple = ()
    note: str = ""


def _dec(hidden="hidden_size", layers="num_hidden_layers", heads="num_attention_heads", **extra):
    keys = {"hidden": hidden, "layers": layers, "heads": heads, "vocab": "vocab_size"}
    keys.update(extra)
    return keys


_COMMON = {"vocab_size": VOCAB, "pad_token_id": PAD_ID, "bos_token_id": 1, "eos_token_id": 2,
           "initializer_range": INIT_RANGE}
_ROPE = {"max_position_embeddings": 128, "intermediate_size": 48, "tie_word_embeddings": False}

_ZOO = [
    Family("llama", "LlamaConfig", "LlamaForCausalLM",
           {**_COMMON, **_ROPE, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
            "num_key_value_heads": 4},
           _dec(kv_heads="num_key_value_heads")),
    Family("llama_gqa", "LlamaConfig", "LlamaForCausalLM",
           {**_COMMON, **_ROPE, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
            "num_key_value_heads": 2},
           _dec(kv_heads="num_key_value_heads"), must_honour=(("num_key_value_heads", 2),),
           note="grouped-query attention: 4 query heads, 2 KV heads"),
    Family("mistral", "MistralConfig", "MistralForCausalLM",
           {**_COMMON, **_ROPE, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
            "num_key_value_heads": 2, "sliding_window": None},
           _dec(kv_heads="num_key_value_heads"), must_honour=(("num_key_value_heads", 2),)),
    Family("qwen2", "Qwen2Config", "Qwen2ForCausalLM",
           {**_COMMON, **_ROPE, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
            "num_key_value_heads": 2, "use_sliding_window": False},
           _dec(kv_heads="num_key_value_heads"), must_honour=(("num_key_value_heads", 2),)),
    Family("qwen3", "Qwen3Config", "Qwen3ForCausalLM",
           {**_COMMON, **_ROPE, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
            "num_key_value_heads": 2, "head_dim": 12, "use_sliding_window": False},
           _dec(kv_heads="num_key_value_heads", head_dim="head_dim"),
           must_honour=(("num_key_value_heads", 2), ("head_dim", 12)),
           note="explicit head_dim 12 != hidden/heads 8"),
    Family("gemma2", "Gemma2Config", "Gemma2ForCausalLM",
           {**_COMMON, **_ROPE, "hidden_size": 32, "num_hidden_layers": 3, "num_attention_heads": 4,
            "num_key_value_heads": 2, "head_dim": 8, "sliding_window": 64,
            "query_pre_attn_scalar": 8, "attn_logit_softcapping": 50.0, "final_logit_softcapping": 30.0},
           _dec(kv_heads="num_key_value_heads", head_dim="head_dim"),
           must_honour=(("num_key_value_heads", 2),),
           note="hybrid sliding/global attention, 3 layers"),
    Family("gemma3", "Gemma3TextConfig", "Gemma3ForCausalLM",
           {**_COMMON, **_ROPE, "hidden_size": 32, "num_hidden_layers": 3, "num_attention_heads": 4,
            "num_key_value_heads": 2, "head_dim": 8, "sliding_window": 64, "query_pre_attn_scalar": 8},
           _dec(kv_heads="num_key_value_heads", head_dim="head_dim"),
           must_honour=(("num_key_value_heads", 2),),
           note="hybrid sliding/global attention, 3 layers"),
    Family("gpt2", "GPT2Config", "GPT2LMHeadModel",
           {**_COMMON, "n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 128},
           _dec(hidden="n_embd", layers="n_layer", heads="n_head")),
    Family("gpt_neox", "GPTNeoXConfig", "GPTNeoXForCausalLM",
           {**_COMMON, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
            "intermediate_size": 48, "max_position_embeddings": 128, "rotary_pct": 0.5},
           _dec()),
    Family("opt", "OPTConfig", "OPTForCausalLM",
           {**_COMMON, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "ffn_dim": 48,
            "word_embed_proj_dim": 32, "max_position_embeddings": 128, "dropout": 0.0,
            "init_std": INIT_RANGE},
           _dec()),
    Family("bloom", "BloomConfig", "BloomForCausalLM",
           {**_COMMON, "hidden_size": 32, "n_layer": 2, "n_head": 4},
           _dec(layers="n_layer", heads="n_head"), note="ALiBi positions"),
    Family("falcon", "FalconConfig", "FalconForCausalLM",
           {**_COMMON, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
            "multi_query": False, "new_decoder_architecture": False, "alibi": False,
            "max_position_embeddings": 128},
           _dec(), note="multi_query=False: peft sizes a falcon prefix by num_attention_heads"),
    Family("gpt_bigcode", "GPTBigCodeConfig", "GPTBigCodeForCausalLM",
           {**_COMMON, "n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 128, "multi_query": True},
           _dec(hidden="n_embd", layers="n_layer", heads="n_head"), note="multi-query attention (1 KV head)"),
    Family("t5", "T5Config", "T5ForConditionalGeneration",
           {**_COMMON, "d_model": 32, "d_kv": 8, "d_ff": 48, "num_layers": 2, "num_decoder_layers": 2,
            "num_heads": 4, "decoder_start_token_id": PAD_ID, "eos_token_id": 1, "dropout_rate": 0.0,
            "initializer_factor": 1.0, "tie_word_embeddings": False, "feed_forward_proj": "gated-gelu"},
           {"hidden": "d_model", "layers": "num_layers", "heads": "num_heads", "head_dim": "d_kv",
            "vocab": "vocab_size", "decoder_layers": "num_decoder_layers"},
           encoder_decoder=True),
    Family("bart", "BartConfig", "BartForConditionalGeneration",
           {**_COMMON, "d_model": 32, "encoder_layers": 2, "decoder_layers": 2, "encoder_attention_heads": 4,
            "decoder_attention_heads": 4, "encoder_ffn_dim": 48, "decoder_ffn_dim": 48,
            "max_position_embeddings": 128, "bos_token_id": 1, "eos_token_id": 2,
            "decoder_start_token_id": 2, "forced_bos_token_id": None, "forced_eos_token_id": None,
            "init_std": INIT_RANGE, "dropout": 0.0, "attention_dropout": 0.0, "activation_dropout": 0.0,
            "scale_embedding": False},
           {"hidden": "d_model", "layers": "decoder_layers", "heads": "decoder_attention_heads",
            "vocab": "vocab_size", "encoder_layers": "encoder_layers",
            "encoder_heads": "encoder_attention_heads"},
           encoder_decoder=True),
]

#: The realistic-size profile (``PCC_SIZE=realistic``, GPU only): real shapes, random weights,
#: transformers' own initializer scale. family -> overrides (canonical names or raw config keys).
REALISTIC: dict[str, dict[str, Any]] = {
    # Llama-3-8B's attention and MLP shapes (head_dim 128, 32 query heads, 8 KV heads, hidden 4096,
    # MLP 14336, rope_theta 5e5) with 4 of its 32 layers and the vocabulary trimmed to 32000.
    "llama": {"layers": 4, "hidden": 4096, "heads": 32, "kv_heads": 8, "vocab": 32000,
              "intermediate_size": 14336, "max_position_embeddings": 8192, "rope_theta": 500000.0,
              "rms_norm_eps": 1e-5, "initializer_range": 0.02},
    # T5 v1.1-base: d_model 768, 12 heads x d_kv 64, 12 + 12 layers, gated-GELU MLP 2048, vocab 32128.
    "t5": {"layers": 12, "hidden": 768, "heads": 12, "head_dim": 64, "vocab": 32128, "d_ff": 2048},
}

_BY_ID = {f.id: f for f in _ZOO}
FAMILY_IDS = tuple(f.id for f in _ZOO)
ENCODER_DECODER_IDS = tuple(f.id for f in _ZOO if f.encoder_decoder)
DECODER_IDS = tuple(f.id for f in _ZOO if not f.encoder_decoder)


def family(family_id: str) -> Family:
    """The :class:`Family` record for an id; a clear error for an unknown one."""
    try:
        return _BY_ID[family_id]
    except KeyError:
        raise ValueError(f"unknown family {family_id!r}; expected one of {', '.join(FAMILY_IDS)}") from None


def suite_families() -> tuple[str, ...]:
    """The families the suites parametrize over on the active axes: all of them, or in the
    realistic profile those :data:`REALISTIC` has shapes for."""
    from compat.testing import axes

    if axes.current().size == "realistic":
        return tuple(f for f in FAMILY_IDS if f in REALISTIC)
    return FAMILY_IDS


def _size_overrides(family_id: str) -> dict[str, Any]:
    from compat.testing import axes

    return dict(REALISTIC[family_id]) if axes.current().size == "realistic" and family_id in REALISTIC else {}


def is_encoder_decoder(family_id: str) -> bool:
    """Whether the family is a seq2seq (encoder-decoder) model."""
    return family(family_id).encoder_decoder


def _resolve(fam: Family, overrides: dict) -> dict:
    cfg = dict(fam.config)
    canon = dict(overrides)
    # head_dim without an explicit config key: hidden = heads * head_dim
    heads = canon.get("heads", cfg[fam.keys["heads"]])
    if "head_dim" in canon and "head_dim" not in fam.keys:
        if "hidden" in canon and canon["hidden"] != heads * canon["head_dim"]:
            raise ValueError(f"family {fam.id!r} has no explicit head_dim: hidden must equal heads*head_dim")
        canon["hidden"] = heads * canon.pop("head_dim")
    elif "heads" in canon and "hidden" not in canon and "head_dim" not in fam.keys:
        old_hd = cfg[fam.keys["hidden"]] // cfg[fam.keys["heads"]]
        canon["hidden"] = heads * old_hd
    if "heads" in canon and "kv_heads" in fam.keys and "kv_heads" not in canon:
        default_kv = cfg[fam.keys["kv_heads"]]
        if canon["heads"] % default_kv:
            canon["kv_heads"] = canon["heads"]  # keep a valid grouping
    if "heads" in canon and "encoder_heads" in fam.keys:
        canon.setdefault("encoder_heads", canon["heads"])
    if "layers" in canon and "decoder_layers" in fam.keys:
        canon.setdefault("decoder_layers", canon["layers"])
    if "layers" in canon and "encoder_layers" in fam.keys:
        canon.setdefault("encoder_layers", canon["layers"])
    settable = sorted({*fam.keys, *([] if "head_dim" in fam.keys else ["head_dim"])} - {
        "decoder_layers", "encoder_layers", "encoder_heads"})
    for name, value in canon.items():
        if name in fam.keys:
            cfg[fam.keys[name]] = value
        elif name in {"kv_heads", "head_dim"} or name in Dims._fields:
            raise ValueError(f"family {fam.id!r} cannot set {name!r} (settable: {', '.join(settable)})")
        else:
            cfg[name] = value  # a raw config key
    return cfg


def config_for(family_id: str, **overrides: Any):
    """The transformers config for a family (raises if the installed version lacks it)."""
    import transformers

    fam = family(family_id)
    cls = getattr(transformers, fam.config_class, None)
    if cls is None:
        raise ValueError(f"transformers {transformers.__version__} has no {fam.config_class}")
    kwargs = _resolve(fam, {**_size_overrides(family_id), **overrides})
    cfg = cls(**kwargs)
    _set_attention(cfg)
    return cfg


def _set_attention(cfg) -> None:
    # One attention kernel for every path, the active axes' (default eager: it exists in every
    # version and handles fully masked (left-padding) rows without NaN).
    from compat.testing import axes

    attn = axes.current().attn
    try:
        cfg._attn_implementation = attn
    except Exception:  # pragma: no cover - very old configs without the property
        cfg.__dict__["_attn_implementation"] = attn


def _attention_reason(fam: Family, cfg) -> str:
    """``""`` when the family's model class builds with the active attention kernel, else why not.

    Feature detection: the class is instantiated on the meta device (no memory, no init cost) and
    transformers' own check decides; a build that silently falls back to another kernel is not
    applicable either."""
    import torch
    import transformers

    from compat.testing import axes

    attn = axes.current().attn
    if attn == "eager":
        return ""
    if not hasattr(transformers.PretrainedConfig(), "_attn_implementation"):
        return f"transformers {transformers.__version__} has no attention-implementation switch"
    try:
        with torch.device("meta"):
            model = getattr(transformers, fam.model_class)(cfg)
    except (ValueError, ImportError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"{fam.model_class} cannot use attn_implementation={attn} here: {first}"
    got = getattr(model.config, "_attn_implementation", None)
    if got != attn:
        return f"{fam.model_class} asked for attn_implementation={attn} builds {got!r}"
    if attn == "flex_attention":
        return _flex_kernel_reason(_head_dims(cfg))
    return ""


def _head_dims(cfg) -> tuple[int, ...]:
    """The attention head dims a config asks for, per layer as :mod:`compat.expect` reads them."""
    from compat.expect import expect

    specs = [s for s in expect(config=cfg).per_layer if s is not None]
    return tuple(sorted({d for s in specs for d in (s.key_dim, s.value_dim)}))


@functools.cache
def _flex_kernel_reason(head_dims: tuple[int, ...]) -> str:
    """``""`` when torch's compiled flex-attention kernel runs at these head dims on the active
    axes' device and dtype, else the kernel's own reason (feature detection: one tiny call each;
    e.g. torch 2.11's inductor refuses head dims below 16)."""
    import torch

    from compat.testing import axes

    ax = axes.current()
    try:
        from torch.nn.attention.flex_attention import flex_attention
    except ImportError as exc:
        return f"torch {torch.__version__} has no flex_attention: {exc}"
    kernel = torch.compile(flex_attention)
    for dim in head_dims:
        q = torch.zeros(1, 1, 16, dim, device=ax.torch_device, dtype=ax.torch_dtype)
        try:
            kernel(q, q, q)
        except Exception as exc:
            lines = [line for line in str(exc).splitlines() if line.strip()]
            first = next((line for line in lines if "NYI" in line or "Error" in line), lines[0] if lines else "")
            return f"torch {torch.__version__}'s flex_attention kernel cannot run head_dim {dim} here: {first.strip()}"
    return ""


@functools.cache
def family_available(family_id: str) -> tuple[bool, str]:
    """``(True, "")`` when the installed transformers can build the family as
    specified, else ``(False, reason)`` (feature detection, no version checks).
    Cached: the answer cannot change within a process, and the GQA check builds a model."""
    import transformers

    from compat.testing import axes

    fam = family(family_id)
    if axes.current().size == "realistic" and family_id not in REALISTIC:
        return False, (f"the realistic-size profile (PCC_SIZE=realistic) has shapes for "
                       f"{', '.join(REALISTIC)} only, not {family_id}")
    for name in (fam.config_class, fam.model_class):
        if not hasattr(transformers, name):
            return False, f"transformers {transformers.__version__} has no {name}"
    cfg = config_for(family_id)
    why = _attention_reason(fam, cfg)
    if why:
        return False, why
    for attr, want in fam.must_honour:
        got = getattr(cfg, attr, None)
        if got != want:
            return False, (f"transformers {transformers.__version__} {fam.config_class} does not honour "
                           f"{attr}={want} (got {got!r})")
    if any(attr == "num_key_value_heads" for attr, _ in fam.must_honour):
        # A config keeps unknown kwargs as attributes (4.30's Llama stores
        # num_key_value_heads and ignores it), so ask the built model.
        built = _kv_heads_of(build(family_id))
        want = dict(fam.must_honour)["num_key_value_heads"]
        if built is not None and built != want:
            return False, (f"transformers {transformers.__version__} {fam.model_class} ignores "
                           f"num_key_value_heads={want}: its attention has {built} KV heads")
    return True, ""


def _kv_heads_of(model) -> int | None:
    """KV heads of the first attention's ``k_proj`` (None when the model has none)."""
    cfg = model.config
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    for name, module in model.named_modules():
        if name.endswith("k_proj") and hasattr(module, "out_features"):
            return module.out_features // head_dim
    return None


def build(family_id: str, *, seed: int = 0, **overrides: Any):
    """A model of the family in eval mode, weights drawn from ``seed``, on the active axes'
    device, dtype and attention kernel (default: a tiny fp32 CPU eager model).

    ``overrides`` take canonical names (``layers``, ``heads``, ``kv_heads``,
    ``head_dim``, ``hidden``, ``vocab``) or raw config keys. Off the CPU the
    weights are drawn on that device (seeded there), then cast.
    """
    import torch
    import transformers

    from compat.testing import axes

    ax = axes.current()
    fam = family(family_id)
    cfg = config_for(family_id, **overrides)
    model_cls = getattr(transformers, fam.model_class)
    if ax.device == "cpu":
        devices_state = torch.random.get_rng_state()
        try:
            torch.manual_seed(seed)
            model = model_cls(cfg)
            _untie_lm_head(model, fam)
        finally:
            torch.random.set_rng_state(devices_state)
    else:
        with torch.random.fork_rng(devices=[torch.cuda.current_device()]), torch.device(ax.device):
            torch.manual_seed(seed)
            model = model_cls(cfg)
            _untie_lm_head(model, fam)
    model = model.to(device=ax.torch_device, dtype=ax.torch_dtype).eval()
    _set_attention(model.config)
    gc = getattr(model, "generation_config", None)
    if gc is not None:
        # Generation runs for exactly max_new_tokens: no EOS, no forced tokens.
        gc.eos_token_id = None
        gc.pad_token_id = PAD_ID
        for attr in ("forced_bos_token_id", "forced_eos_token_id"):
            if hasattr(gc, attr):
                setattr(gc, attr, None)
    # Older generate (e.g. 4.30) rebuilds a generation config that was derived
    # from model.config whenever the two disagree, bringing EOS back: keep the
    # model config in agreement (these ids are not used by any forward pass).
    for attr in ("eos_token_id", "forced_bos_token_id", "forced_eos_token_id"):
        if getattr(model.config, attr, None) is not None:
            setattr(model.config, attr, None)
    return model


def _untie_lm_head(model, fam: Family) -> None:
    """Give the LM head its own weights where the family asks for untied
    embeddings but the installed transformers ties them anyway.

    transformers >= 5.0 forces ``T5Config.tie_word_embeddings = True`` (the
    argument only decides whether decoder outputs are rescaled), so T5's
    ``lm_head`` *is* ``shared``: a tiny random T5 with tied embeddings then
    predicts the token it was just fed, its greedy output is one token
    repeated, mostly independent of the input and of a virtual prompt, and the
    generation checks lose their power (test_prompt_matters). Drawn like
    transformers 4.x's T5 init of an untied head: N(0, initializer_factor)."""
    import torch

    if fam.config.get("tie_word_embeddings", True):
        return
    head, emb = model.get_output_embeddings(), model.get_input_embeddings()
    if head is None or emb is None or head.weight is not emb.weight:
        return
    std = float(getattr(model.config, "initializer_factor", None) or getattr(model.config, "initializer_range", 0.02))
    head.weight = torch.nn.Parameter(torch.empty_like(emb.weight).normal_(0.0, std))


def static_cache(family_id: str, *, max_cache_len: int, batch: int) -> Any:
    """A ``StaticCache`` for ``family_id``'s zoo config, built with the constructor arguments this
    transformers names (``batch_size`` or ``max_batch_size``, ``dtype``, ``device``: the first
    ``__init__`` in the MRO that names ``max_cache_len``, since 4.54's forwards ``**kwargs``);
    ``None`` where this transformers has no ``StaticCache``. On 4.38-4.39 it holds one layer."""
    import inspect

    import torch

    from compat import _transformers as features

    cu = features.cache_utils()
    cls = getattr(cu, "StaticCache", None) if cu is not None else None
    if cls is None:
        return None
    params: dict[str, Any] = {}
    for klass in cls.__mro__:
        if "__init__" in vars(klass):
            params.update(inspect.signature(klass.__init__).parameters)
            if "max_cache_len" in params:
                break
    kw: dict[str, Any] = {"config": config_for(family_id), "max_cache_len": max_cache_len}
    batch_name = next((n for n in ("batch_size", "max_batch_size") if n in params), None)
    if batch_name:
        kw[batch_name] = batch
    kw.update({k: v for k, v in (("dtype", torch.float32), ("device", "cpu")) if k in params})
    return cls(**kw)


def dims(model_or_config) -> Dims:
    """Prefix shapes of a model (decoder side for encoder-decoders)."""
    cfg = getattr(model_or_config, "config", model_or_config)
    mt = cfg.model_type
    if mt == "t5":
        layers, heads, hd, hidden = cfg.num_decoder_layers, cfg.num_heads, cfg.d_kv, cfg.d_model
        return Dims(layers, heads, heads, hd, hidden, cfg.vocab_size)
    if mt == "bart":
        heads = cfg.decoder_attention_heads
        return Dims(cfg.decoder_layers, heads, heads, cfg.d_model // heads, cfg.d_model, cfg.vocab_size)
    if mt == "gpt2":
        return Dims(cfg.n_layer, cfg.n_head, cfg.n_head, cfg.n_embd // cfg.n_head, cfg.n_embd, cfg.vocab_size)
    if mt == "gpt_bigcode":
        kv = 1 if cfg.multi_query else cfg.n_head
        return Dims(cfg.n_layer, cfg.n_head, kv, cfg.n_embd // cfg.n_head, cfg.n_embd, cfg.vocab_size)
    if mt == "bloom":
        return Dims(cfg.n_layer, cfg.n_head, cfg.n_head, cfg.hidden_size // cfg.n_head, cfg.hidden_size,
                    cfg.vocab_size)
    heads = cfg.num_attention_heads
    kv = getattr(cfg, "num_key_value_heads", None) or heads
    if cfg is not model_or_config and hasattr(model_or_config, "named_modules"):
        kv = _kv_heads_of(model_or_config) or kv  # what the model built, not what the config asked
    if mt == "falcon" and not getattr(cfg, "new_decoder_architecture", False) and cfg.multi_query:
        kv = 1
    hd = getattr(cfg, "head_dim", None) or cfg.hidden_size // heads
    return Dims(cfg.num_hidden_layers, heads, kv, hd, cfg.hidden_size, cfg.vocab_size)
