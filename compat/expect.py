"""What a model expects of a prefix, per layer (derived from its config by feature detection).

:func:`expect` reads a model or config and returns an :class:`Expectation`:
the number of decoder layers that keep a KV cache, and per layer the KV heads
and the key and value head dims that layer's attention produces, plus the
dtype and device of the model's parameters. :func:`compat.validate.check_fit`
compares a prefix with it.

The rule, per layer, on the decoder's text config (``get_text_config``), or on
that layer's own config where the config is heterogeneous (5.x
``per_layer_config``):

* **KV heads**: the query heads with Falcon's ``new_decoder_architecture``
  (it caches its ``num_kv_heads`` K/V broadcast to every query head, on every
  version checked, 4.35 to 5.23); ``1`` when ``multi_query`` is set (GPTBigCode, Falcon
  without ``new_decoder_architecture``); else ``num_key_value_heads`` (a per-layer list
  is indexed); else the decoder's query heads (``decoder_attention_heads`` of
  encoder-decoders, else ``num_attention_heads``, which config attribute maps
  turn into ``n_head``/``num_heads``).
* **head dims**: ``d_kv`` (T5), else ``head_dim``, else ``hidden_size //
  query heads`` (``d_model`` for encoder-decoders); keys and values share it.
  :class:`LayerSpec` and the check keep key and value dims apart, so a rule
  for layers whose values differ from their keys slots in here; none is
  derived today (see multi-head latent attention below).
* **layers**: ``num_decoder_layers``/``decoder_layers`` for encoder-decoders,
  else ``num_hidden_layers``.

**Unknown is skipped, never guessed.** A check whose expectation cannot be
derived is left out: the layer count when the config shares KV between layers
(``num_kv_shared_layers``); a layer whose ``layer_types`` entry is not plain
attention (linear attention, SSM/conv mixers, compressed or indexed attention)
or whose per-layer config skips modules; every layer with multi-head latent
attention (``kv_lora_rank``: transformers 4.57's DeepSeek-V3 caches per-head
keys of ``qk_nope + qk_rope`` dims and values of ``v_head_dim``, 5.23's the
compressed latent ``[B, 1, S, kv_lora_rank]`` and the rope key ``[B, 1, S,
qk_rope_head_dim]``, so the config alone cannot say); every per-layer shape when a value
above is missing or not a positive int, or the config carries a head-shape
attribute this rule does not model (:data:`UNMODELLED`; of a heterogeneous
config, the layers whose own config carries one); dtype and device
without a model (``config=`` only), under ``torch.autocast``, and the device
when the model is spread over several devices (``hf_device_map``) or on
``meta``. The expectations are cross-checked against the KV the models produce
for every family of :mod:`compat.testing.zoo` (``tests/shim/test_fit.py``).

>>> from transformers import LlamaConfig
>>> cfg = LlamaConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=8)
>>> exp = expect(config=cfg)
>>> exp.layers, exp.layers_source, exp.per_layer[1].describe()
(2, 'num_hidden_layers=2', '2 KV heads x 8 dims (from config num_key_value_heads=2, head_dim=8)')
>>> exp.dtype is None and exp.device is None   # no model: not checked
True
"""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["ATTENTION_LAYER_TYPES", "UNMODELLED", "Expectation", "LayerSpec", "expect"]

#: ``layer_types`` entries whose layers keep a standard ``[B, H_kv, S, D]`` KV cache.
ATTENTION_LAYER_TYPES = frozenset({"full_attention", "sliding_attention", "chunked_attention", "attention"})

#: Config attributes that change head shapes in ways the rule above does not model:
#: their presence makes every per-layer shape unknown (skipped).
UNMODELLED = (
    "swa_head_dim",
    "swa_num_key_value_heads",
    "swa_num_attention_heads",
    "global_head_dim",
    "num_global_key_value_heads",
    "pad_head_dim_to_multiple_of",
    "num_key_value_heads_per_layer",
    "num_attention_heads_per_layer",
    # Values of another dim than the keys; the one non-latent family with it, MiMo-V2-Flash (5.x),
    # also doubles num_key_value_heads on its sliding layers in its modeling code, not its config.
    "v_head_dim",
)


@dataclasses.dataclass(frozen=True)
class LayerSpec:
    """The KV one attention layer produces: ``[B, kv_heads, S, key_dim]`` / ``[B, kv_heads, S, value_dim]``."""

    kv_heads: int
    key_dim: int
    value_dim: int
    source: str  # the config values it was derived from, for messages

    def describe(self) -> str:
        dims = f"{self.key_dim}" if self.key_dim == self.value_dim else f"key {self.key_dim} / value {self.value_dim}"
        return f"{self.kv_heads} KV heads x {dims} dims (from config {self.source})"


@dataclasses.dataclass(frozen=True)
class Expectation:
    """What a model expects of a prefix; ``None`` anywhere means unknown (that check is skipped)."""

    layers: int | None
    layers_source: str
    per_layer: tuple[LayerSpec | None, ...]
    dtype: Any = None  # torch.dtype
    device: Any = None  # torch.device


def expect(model: Any = None, config: Any = None) -> Expectation:
    """The :class:`Expectation` of ``model`` (PEFT models are unwrapped) or ``config``."""
    from compat import _transformers as features

    cfg = features.config_of(model, config)
    dtype, device = _placement(features.unwrap_model(model))
    enc_dec = bool(_get(cfg, "is_encoder_decoder"))
    # Encoder-decoders keep decoder_* names on their own config (5.x's get_text_config(decoder=True)
    # of BART is a fresh config with default decoder_layers/decoder_attention_heads).
    text = cfg if enc_dec else _text_config(cfg)
    # Layers that reuse others' KV (num_kv_shared_layers): which layer holds what is unknown.
    counted = None if _int(text, "num_kv_shared_layers") else _layer_count(text, enc_dec)
    if counted is None:
        return Expectation(None, "", (), dtype, device)
    count, count_source = counted
    return Expectation(count, count_source, _per_layer(text, enc_dec, count), dtype, device)


# --------------------------------------------------------------------------- config


def _text_config(cfg: Any) -> Any:
    get = getattr(cfg, "get_text_config", None)
    if not callable(get):
        return cfg
    try:
        return get(decoder=True)
    except TypeError:  # pragma: no cover - a get_text_config without `decoder`
        return get()


def _get(cfg: Any, name: str) -> Any:
    """``cfg.name`` or ``None``; never raises (5.x heterogeneous configs raise on per-layer names).

    Reads the instance dict first (through the config's ``attribute_map``, e.g. ``n_head`` for
    ``num_attention_heads``): transformers' ``__getattribute__`` and a missed ``getattr`` cost
    microseconds each, and this runs on every ``to_cache(model=...)`` (a third to a half of
    :func:`expect`'s time; docs/shim.md). Class-level names (properties, defaults, ``__slots__``)
    and heterogeneous configs (whose per-layer names must raise) take the normal lookup.
    """
    cls = type(cfg)
    try:
        values = object.__getattribute__(cfg, "__dict__")  # without the config's __getattribute__
    except AttributeError:  # no instance dict (``__slots__``): the class-level lookup below
        values = {}
    if "_heterogeneity_spec" not in values:
        key = getattr(cls, "attribute_map", {}).get(name, name)
        if key in values:
            return values[key]
        if not hasattr(cls, key):
            return None
    try:
        return getattr(cfg, name)
    except Exception:  # AttributeError; AmbiguousGlobalPerLayerAttributeError (a RuntimeError) and the like
        return None


def _int(cfg: Any, name: str) -> int | None:
    value = _get(cfg, name)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _first(cfg: Any, names: tuple[str, ...]) -> tuple[int, str] | None:
    """The first of ``names`` set to a positive int, with its source (``"name=value"``); else ``None``."""
    for name in names:
        value = _int(cfg, name)
        if value is not None:
            return value, f"{name}={value}"
    return None


def _unmodelled(cfg: Any) -> bool:
    return any(_get(cfg, name) is not None for name in UNMODELLED)


def _layer_count(text: Any, enc_dec: bool) -> tuple[int, str] | None:
    names = ("num_decoder_layers", "decoder_layers") if enc_dec else ()
    return _first(text, (*names, "num_hidden_layers", "n_layer", "num_layers"))


def _per_layer(text: Any, enc_dec: bool, n: int) -> tuple[LayerSpec | None, ...]:
    if _unmodelled(text):
        return (None,) * n
    layer_types = _get(text, "layer_types")
    if not isinstance(layer_types, (list, tuple)) or len(layer_types) != n:
        layer_types = None
    heterogeneous = bool(_get(text, "is_heterogeneous"))
    shared = None if heterogeneous else _spec(text, enc_dec, None)
    out: list[LayerSpec | None] = []
    for i in range(n):
        if layer_types is not None and layer_types[i] not in ATTENTION_LAYER_TYPES:
            out.append(None)
        elif heterogeneous:
            out.append(_layer_spec(text, enc_dec, i))
        else:
            out.append(shared if shared is not None else _spec(text, enc_dec, i))
    return tuple(out)


def _layer_spec(text: Any, enc_dec: bool, i: int) -> LayerSpec | None:
    try:
        layer_cfg = text.per_layer_config[i]
    except Exception:  # an unreadable per-layer view: unknown
        return None
    if _get(layer_cfg, "skip") or _unmodelled(layer_cfg):
        return None
    spec = _spec(layer_cfg, enc_dec, i)
    return None if spec is None else dataclasses.replace(spec, source=f"per_layer_config[{i}] {spec.source}")


def _spec(cfg: Any, enc_dec: bool, i: int | None) -> LayerSpec | None:
    """One layer's spec; ``i`` indexes per-layer lists (``None``: the config has none, or give up on them)."""
    decoder_names = ("decoder_attention_heads",) if enc_dec else ()
    q = _first(cfg, (*decoder_names, "num_attention_heads", "n_head", "num_heads"))
    if q is None:
        return None
    if _get(cfg, "kv_lora_rank") is not None:
        return None  # multi-head latent attention: what the cache holds differs by version (module docstring)
    kv = _kv_heads(cfg, q, i)
    dim = _head_dim(cfg, q, enc_dec)
    if kv is None or dim is None:
        return None
    source = dim[1] if kv[1] in dim[1] else f"{kv[1]}, {dim[1]}"
    return LayerSpec(kv[0], dim[0], dim[0], source)


def _kv_heads(cfg: Any, q: tuple[int, str], i: int | None) -> tuple[int, str] | None:
    """Layer ``i``'s KV heads and their source, given its query heads ``q``; ``None``: unknown."""
    if _get(cfg, "new_decoder_architecture"):
        # Falcon's new architecture broadcasts its num_kv_heads K/V to every query head before caching
        return q[0], f"new_decoder_architecture=True, {q[1]}"
    if _get(cfg, "multi_query") is True:
        return 1, "multi_query=True"
    raw = _get(cfg, "num_key_value_heads")
    if isinstance(raw, (list, tuple)):
        if i is None or i >= len(raw) or not isinstance(raw[i], int) or raw[i] <= 0:
            return None
        return raw[i], f"num_key_value_heads[{i}]={raw[i]}"
    found = _first(cfg, ("decoder_num_key_value_heads", "num_key_value_heads"))
    if found is not None:
        return found
    if raw is not None:  # set, but not a positive int
        return None
    return q


def _head_dim(cfg: Any, q: tuple[int, str], enc_dec: bool) -> tuple[int, str] | None:
    """The head dim and its source, given the query heads ``q``; ``None``: unknown."""
    found = _first(cfg, ("d_kv", "head_dim"))
    if found is not None:
        return found
    hidden = _first(cfg, ("d_model", "hidden_size", "n_embd") if enc_dec else ("hidden_size", "n_embd"))
    if hidden is None or hidden[0] % q[0]:
        return None
    return hidden[0] // q[0], f"{hidden[1]} // {q[1]}"


# --------------------------------------------------------------------------- placement


def _placement(base: Any) -> tuple[Any, Any]:
    """The model's parameter dtype and device; ``None`` for what cannot be known."""
    if base is None:
        return None, None
    # What transformers' own ``model.dtype`` reads (and PEFT casts its prefix to).
    first = next((p for p in _parameters(base) if p.is_floating_point()), None)
    if first is None:
        return None, None
    dtype, device = first.dtype, first.device
    if _autocast(device):
        dtype = None
    device_map = getattr(base, "hf_device_map", None)  # set by from_pretrained(device_map=...)
    if device.type == "meta" or (isinstance(device_map, dict) and len(set(map(str, device_map.values()))) > 1):
        device = None
    return dtype, device


def _parameters(base: Any) -> Any:
    params = getattr(base, "parameters", None)
    return params() if callable(params) else ()


def _autocast(device: Any) -> bool:
    import torch

    try:
        return bool(torch.is_autocast_enabled(device.type))
    except TypeError:  # torch < 2.4: one flag per backend, no device type
        return bool(torch.is_autocast_enabled()) or bool(getattr(torch, "is_autocast_cpu_enabled", bool)())
    except RuntimeError:  # a device type autocast does not know (meta): it cannot be on for it
        return False


def __dir__() -> list[str]:
    return __all__
