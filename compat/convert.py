"""``to_cache`` / ``to_legacy``: move a prefix between legacy tuples and Cache objects.

>>> import torch
>>> from compat import to_cache, to_legacy
>>> k, v = torch.randn(1, 2, 3, 4), torch.randn(1, 2, 3, 4)
>>> cache = to_cache(((k, v), (k, v)))           # a DynamicCache (a tuple before 4.36)
>>> back = to_legacy(cache)
>>> len(back), torch.equal(back[1][0], k), torch.equal(back[1][1], v)
(2, True, True)
>>> to_cache(cache) is cache                     # always a fresh object
False
>>> to_cache(None) is None
True
"""

from __future__ import annotations

from typing import Any

from compat import _transformers as features
from compat.errors import CacheTypeError, MalformedCacheError, UnsupportedModelError
from compat.expect import expect
from compat.hints import CacheInput, CacheOutput, ConfigLike, LegacyCache, ModelLike
from compat.layouts import to_bloom, to_gpt_bigcode
from compat.validate import check_fit, check_layers, describe, normalize

__all__ = ["to_cache", "to_legacy"]

Layers = tuple[tuple[Any, ...], ...]

# Families born on a model-specific cache: before they accept a DynamicCache
# (Gemma-2 in 4.42-4.44) they accept no legacy tuple either.
_OWN_CACHE_ONLY = frozenset({"gemma2", "gemma3", "gemma3_text"})


def to_cache(pkv: CacheInput, *, model: ModelLike = None, config: ConfigLike | None = None) -> CacheOutput:
    """What the installed transformers (and ``model``'s family) accepts as ``past_key_values``.

    Args:
        pkv: a tuple/list of per-layer ``(k, v)`` or ``(sk, sv, ck, cv)`` tensors
            ``[B, H_kv, S, D]``; PEFT's stacked per-layer ``[2|4, B, H, P, D]``
            tensors; an existing Cache (a fresh object with the same tensors is
            returned); or ``None`` (returned as is).
        model: a transformers or PEFT model (unwrapped with ``get_base_model()``).
        config: the model's config, instead of ``model``.

    Returns:
        Without ``model``/``config``: the installed version's generic container,
        a ``DynamicCache`` (``EncoderDecoderCache`` for 4-tuples, 4.43+) or the
        standard tuple where no Cache class exists. With them: a Cache where the
        family takes one on this install, otherwise the family's own legacy
        layout (Bloom ``[B*H, D, S]`` keys before 4.44, GPTBigCode's fused
        ``k || v`` before 4.54, standard tuples for the others). Never the
        object passed in; tensors are shared, not copied, wherever the
        installed version allows (see :func:`compat.capabilities`).

    Raises:
        MalformedCacheError, CacheTypeError: bad input, naming the layer; with
            ``model``/``config`` also a prefix that does not fit the model (layer
            count, a layer's KV heads or head dims, dtype, device; see
            :mod:`compat.expect`).
    """
    cfg = features.config_of(model, config)
    if pkv is None:
        return None
    if features.is_cache(pkv):
        layers = _read_cache(pkv)
        if not layers:
            return _empty_like(pkv)
        if cfg is None and features.is_encoder_decoder_cache(pkv) and len(layers[0]) == 2:
            return _encoder_decoder(layers)
    else:
        layers = normalize(pkv, config=cfg)
    _refuse_unsupported(cfg, model)
    _check_model_fit(layers, cfg, model)
    return _build(layers, cfg, model)


def to_legacy(pkv: CacheInput, *, model: ModelLike = None, config: ConfigLike | None = None) -> LegacyCache | None:
    """Standard-layout legacy tuples from any Cache or legacy form, of any version.

    Reads ``key_cache`` lists (4.36-4.53) or ``layers[i].keys`` (4.54+) without
    indexing or iterating the cache, drops unfilled trailing layers, and turns an
    ``EncoderDecoderCache`` into 4-tuples (2-tuples when its cross-attention cache
    is empty, as in GPTBigCode's decoder-only EDC of 4.56-4.57). Bloom's and
    GPTBigCode's native layouts are recognised when ``model``/``config`` says so,
    and the layers are then checked against the model as in :func:`to_cache`.
    Tensors are returned as they are stored (no copies).
    """
    cfg = features.config_of(model, config)
    if pkv is None:
        return None
    _refuse_unsupported(cfg, model)
    layers = _read_cache(pkv) if features.is_cache(pkv) else normalize(pkv, config=cfg)
    if layers:
        _check_model_fit(layers, cfg, model)
    return layers


def _refuse_unsupported(cfg: Any, model: Any) -> None:
    """With a model/config that takes a Cache: refuse one whose cache is not per-layer key/value
    (a cache class of its own, linear-attention/SSM layers), naming the layer and its type."""
    if cfg is None or not features.family_takes_cache(cfg.model_type, model=model):
        return
    refusal = features.prefix_refusal(model, cfg)
    if refusal is not None:
        raise UnsupportedModelError(refusal)


def _check_model_fit(layers: Layers, cfg: Any, model: Any) -> None:
    """With a model/config: the layer count, per-layer KV heads and head dims, dtype and device."""
    if cfg is None:
        return
    if len(layers[0]) == 4 and not cfg.is_encoder_decoder:  # every PretrainedConfig sets it
        raise MalformedCacheError(
            f"layer 0: the decoder-only {cfg.model_type!r} model takes (key, value) 2-tuples, found a 4-tuple"
        )
    check_fit(layers, expect(model, cfg))


# --------------------------------------------------------------------------- building


def _build(layers: Layers, cfg: Any, model: Any) -> Any:
    arity = len(layers[0])
    if cfg is None:
        if features.dynamic_cache_class() is None or (arity == 4 and features.encoder_decoder_cache_class() is None):
            return _tuples(layers)
        return _dynamic(layers) if arity == 2 else _encoder_decoder(layers)
    model_type = cfg.model_type
    enc_dec = cfg.is_encoder_decoder
    takes_cache = features.family_takes_cache(model_type, model=model)
    if not takes_cache and model_type in _OWN_CACHE_ONLY:
        raise UnsupportedModelError(
            f"{model_type!r} on this transformers takes only its own HybridCache: neither legacy tuples "
            "nor a DynamicCache (supported from the release where its _supports_cache_class is True)"
        )
    if not takes_cache:
        if enc_dec and arity == 2:
            raise MalformedCacheError(
                f"layer 0: {model_type!r} takes no Cache on this transformers, so it needs "
                "(self key, self value, cross key, cross value) 4-tuples; found a 2-tuple"
            )
        layout = features.native_layout(model_type)
        if layout == "bloom":
            return tuple(to_bloom(layer) for layer in layers)
        if layout == "gpt_bigcode":
            # check_fit has checked each layer's KV heads (1 for multi-query): no layer fails here
            return tuple(to_gpt_bigcode(layer, multi_query=cfg.multi_query) for layer in layers)
        return _tuples(layers)
    if enc_dec:
        return _encoder_decoder(layers)
    return _dynamic(layers)


def _tuples(layers: Layers) -> Layers:
    return tuple(tuple(layer) for layer in layers)


def _dynamic(pairs: Any) -> Any:
    # Never DynamicCache(legacy) nor from_legacy_cache: both are traps or gone
    # depending on the version. DynamicCache() + update() behaves everywhere.
    cache = features.dynamic_cache_class()()
    adopt = features.storage_strategy() == "adopt"
    for i, (k, v) in enumerate(pairs):
        if adopt:
            features.adopt(cache, k, v, i)
        else:
            cache.update(k, v, i)
    return cache


def _encoder_decoder(layers: Layers) -> Any:
    """Self-attention from each layer's first pair, cross-attention from its second (empty for 2-tuples)."""
    edc = features.encoder_decoder_cache_class()
    self_cache = _dynamic((layer[0], layer[1]) for layer in layers)
    cross_cache = _dynamic((layer[2], layer[3]) for layer in layers if len(layer) == 4)
    return edc(self_cache, cross_cache)  # the two-argument form exists in 4.43-5.x


def _empty_like(cache: Any) -> Any:
    if features.is_encoder_decoder_cache(cache):
        return features.encoder_decoder_cache_class()(_dynamic(()), _dynamic(()))
    return _dynamic(())


# --------------------------------------------------------------------------- reading


def _read_cache(cache: Any) -> Layers:
    if features.is_encoder_decoder_cache(cache):
        self_layers = _read_cache(cache.self_attention_cache)
        cross_layers = _read_cache(cache.cross_attention_cache)
        if not cross_layers:
            return self_layers
        if len(cross_layers) != len(self_layers):
            raise MalformedCacheError(
                f"EncoderDecoderCache: expected as many filled cross-attention layers as self-attention "
                f"layers ({len(self_layers)}), found {len(cross_layers)}"
            )
        out = tuple(s + c for s, c in zip(self_layers, cross_layers))
        check_layers(out)
        return out
    cu = features.cache_utils()
    quantized = getattr(cu, "QuantizedCache", None)
    if quantized is not None and isinstance(cache, quantized):
        raise CacheTypeError(
            f"expected a DynamicCache or EncoderDecoderCache, found {type(cache).__name__} "
            "(its tensors are quantised; only the residual is readable)"
        )
    if not isinstance(cache, cu.DynamicCache):
        return _read_fixed(cache)
    import torch

    if hasattr(cache, "layers"):  # layered design, 4.54+
        pairs = _layer_pairs(cache)
    else:  # 4.36-4.53: parallel lists
        pairs = list(zip(cache.key_cache, cache.value_cache))
    # unfilled: None (4.54+), an empty tensor (4.51-4.53) or an empty list (4.46-4.50 skipped layers)
    filled = [isinstance(k, torch.Tensor) and k.numel() > 0 for k, _ in pairs]
    n = filled.index(False) if False in filled else len(filled)
    if any(filled[n:]):
        raise MalformedCacheError(
            f"layer {n}: the cache has an unfilled layer {n} followed by filled layer "
            f"{filled.index(True, n)}; expected filled layers first"
        )
    return tuple((k, v) for k, v in pairs[:n])


def _read_fixed(cache: Any) -> Layers:
    """A fixed-size cache (Static/Hybrid/SlidingWindow): the first n = get_seq_length() slots.

    Only while every layer still holds the whole sequence in order (n below each
    layer's capacity, so no sliding window has rolled); otherwise the prefix is lost.
    """
    if hasattr(cache, "layers"):
        pairs = _layer_pairs(cache)
    elif hasattr(cache, "key_cache"):
        if not isinstance(cache.key_cache, (list, tuple)):
            raise CacheTypeError(
                f"{type(cache).__name__}: on this transformers it holds ONE layer (a single "
                f"{describe(cache.key_cache)} key tensor; models keep one per attention module); "
                "expected a whole model's cache (a list of layers) or legacy tuples"
            )
        pairs = list(zip(cache.key_cache, cache.value_cache))
    else:
        raise CacheTypeError(f"expected a DynamicCache or EncoderDecoderCache, found {type(cache).__name__}")
    n = int(cache.get_seq_length())
    if n == 0:
        return ()
    out: list[tuple[Any, ...]] = []
    for i, (k, v) in enumerate(pairs):
        # every transformers cache writes a layer's keys and values together: k None <=> v None
        if k is None or k.dim() != 4 or k.shape[2] <= n:
            found = "nothing" if k is None else f"shape {tuple(k.shape)}"
            raise CacheTypeError(
                f"layer {i}: {type(cache).__name__} holds {n} tokens but this layer stores {found}; "
                "expected room for more than the sequence (a full or rolled window has lost the prefix)"
            )
        out.append((k[..., :n, :], v[..., :n, :]))
    return tuple(out)


def _layer_pairs(cache: Any) -> list[tuple[Any, Any]]:
    """``(keys, values)`` of each layer of a layered cache (4.54+); a layer class that keeps no keys
    (5.x's LinearAttentionLayer, in the DynamicCache of a hybrid linear-attention model) is named."""
    for i, layer in enumerate(cache.layers):
        if not hasattr(layer, "keys"):
            raise CacheTypeError(
                f"layer {i}: {type(cache).__name__} layer {i} is a {type(layer).__name__}, which keeps no keys "
                "and values (a linear-attention/SSM state); expected a cache of key/value layers only"
            )
    return [(layer.keys, layer.values) for layer in cache.layers]


def __dir__() -> list[str]:
    return __all__
