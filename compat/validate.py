"""Normalise and validate legacy ``past_key_values`` before anything touches torch.

:func:`normalize` accepts every legacy form the shim supports and returns a
tuple of per-layer tuples in the standard layout (``(k, v)`` or
``(sk, sv, ck, cv)``, each ``[B, H, S, D]``), without copying:

* a tuple/list of per-layer 2-tuples or 4-tuples;
* PEFT's stacked per-layer tensors ``[2, B, H, P, D]`` / ``[4, B, H, P, D]``;
* with a Bloom config, Bloom's ``([B*H, D, S], [B*H, S, D])`` layers;
* with a GPTBigCode config, its fused ``k || v`` tensor per layer.

Anything else raises a :class:`~compat.errors.CompatError` that names the
layer, what was expected and what was found.

>>> import torch
>>> k = v = torch.zeros(1, 4, 3, 8)
>>> layers = normalize([(k, v), [k, v]])
>>> len(layers), [tuple(t.shape) for t in layers[1]]
(2, [(1, 4, 3, 8), (1, 4, 3, 8)])
>>> layers = normalize([torch.zeros(2, 1, 4, 3, 8)])
>>> len(layers[0]), tuple(layers[0][0].shape)
(2, (1, 4, 3, 8))
>>> normalize([(torch.zeros(1, 4, 3, 8), torch.zeros(1, 4, 5, 8))])  # doctest: +NORMALIZE_WHITESPACE
Traceback (most recent call last):
...
compat.errors.MalformedCacheError: layer 0: key and value must agree on [B, H, S];
found key (1, 4, 3, 8) and value (1, 4, 5, 8)
"""

from __future__ import annotations

from typing import Any

from compat.errors import CacheTypeError, MalformedCacheError
from compat.expect import Expectation
from compat.layouts import from_bloom, from_gpt_bigcode

__all__ = ["check_fit", "check_layers", "describe", "normalize"]

_NAMES = ("key", "value", "cross-attention key", "cross-attention value")


def describe(x: Any) -> str:
    """``shape (...)`` of a tensor-like value, else its type name (for error messages)."""
    shape = getattr(x, "shape", None)
    return f"shape {tuple(shape)}" if shape is not None else type(x).__name__


def _type(x: Any) -> str:
    return type(x).__module__.split(".")[0] + "." + type(x).__qualname__ if x is not None else "None"


def normalize(pkv: Any, *, config: Any = None) -> tuple[tuple[Any, ...], ...]:
    """Standard-layout per-layer tuples from any legacy form (views only, no copies)."""
    import torch

    if not isinstance(pkv, (tuple, list)):
        raise CacheTypeError(
            "past_key_values: expected a tuple/list of per-layer (key, value) tuples, "
            f"a transformers Cache or None, found {_type(pkv)}"
        )
    if len(pkv) == 0:
        raise MalformedCacheError(
            "past_key_values is empty: expected at least one layer of (key, value) tensors, found 0 layers"
        )
    model_type = getattr(config, "model_type", None)
    tensor = torch.Tensor
    bloom = model_type == "bloom"
    layers = []
    for i, entry in enumerate(pkv):
        if isinstance(entry, tensor):
            layers.append(_from_tensor(entry, i, config, model_type))
            continue
        if not isinstance(entry, (tuple, list)):
            raise CacheTypeError(
                f"layer {i}: expected a (key, value) tuple, a 4-tuple or a stacked tensor, found {_type(entry)}"
            )
        if len(entry) not in (2, 4):
            raise MalformedCacheError(
                f"layer {i}: expected a 2-tuple (key, value) or a 4-tuple (self key, self value, "
                f"cross key, cross value), found a {len(entry)}-tuple"
            )
        for j, t in enumerate(entry):
            if not isinstance(t, tensor):
                raise CacheTypeError(f"layer {i}: {_NAMES[j]} must be a torch.Tensor, found {_type(t)}")
        layer = tuple(entry)  # a tuple comes back as itself
        if bloom and len(layer) == 2 and layer[0].dim() == 3:
            layer = from_bloom(layer, n_head=config.n_head, index=i)  # BloomConfig's own name, 4.30-5.x
        layers.append(layer)
    out = tuple(layers)
    check_layers(out)
    return out


def _from_tensor(t: Any, i: int, config: Any, model_type: Any) -> tuple[Any, ...]:
    if t.dim() == 5 and t.shape[0] in (2, 4):
        return tuple(t.unbind(0))
    if model_type == "gpt_bigcode" and t.dim() in (3, 4):
        return from_gpt_bigcode(t, multi_query=config.multi_query, index=i)  # GPTBigCodeConfig sets it, 4.30-5.x
    raise MalformedCacheError(
        f"layer {i}: expected a (key, value) tuple or PEFT's stacked [2, B, H, P, D] / [4, B, H, P, D] "
        f"tensor, found a tensor of shape {tuple(t.shape)}"
        + ("" if model_type == "gpt_bigcode" else " (a fused GPTBigCode tensor needs model= or config=)")
    )


def check_layers(layers: tuple[tuple[Any, ...], ...]) -> None:
    """Raise :class:`MalformedCacheError` unless ``layers`` is a consistent standard-layout cache."""
    first = layers[0]
    arity = len(first)
    pairs = range(0, arity, 2)
    ref = None  # per pair: (batch, seq, dtype) of layer 0
    for i, layer in enumerate(layers):
        if len(layer) != arity:
            raise MalformedCacheError(
                f"layer {i}: expected a {arity}-tuple like layer 0, found a {len(layer)}-tuple "
                "(decoder-only 2-tuples and encoder-decoder 4-tuples cannot be mixed)"
            )
        shapes = [t.shape for t in layer]
        for j, shape in enumerate(shapes):
            if len(shape) != 4:
                raise MalformedCacheError(
                    f"layer {i}: expected a 4-D {_NAMES[j]} [B, H, S, D], found a {len(shape)}-D tensor "
                    f"of shape {tuple(shape)}"
                    + (" (Bloom's [B*H, D, S] layout needs model= or config=)" if len(shape) == 3 else "")
                )
        sig = []
        for a in pairs:
            k, v = layer[a], layer[a + 1]
            ks, vs = shapes[a], shapes[a + 1]
            if ks[0] != vs[0] or ks[1] != vs[1] or ks[2] != vs[2]:
                raise MalformedCacheError(
                    f"layer {i}: {_NAMES[a]} and {_NAMES[a + 1]} must agree on [B, H, S]; "
                    f"found {_NAMES[a]} {tuple(ks)} and {_NAMES[a + 1]} {tuple(vs)}"
                )
            dtype = k.dtype
            if not dtype.is_floating_point:
                raise MalformedCacheError(
                    f"layer {i}: {_NAMES[a]} must be a floating-point tensor (keys and values are "
                    f"activations); found dtype {dtype}"
                )
            if dtype != v.dtype:
                raise MalformedCacheError(
                    f"layer {i}: {_NAMES[a]} and {_NAMES[a + 1]} must have the same dtype; "
                    f"found {dtype} and {v.dtype}"
                )
            if k.device != v.device:
                raise MalformedCacheError(
                    f"layer {i}: {_NAMES[a]} and {_NAMES[a + 1]} must be on the same device; "
                    f"found {k.device} and {v.device}"
                )
            if k.is_meta:
                raise MalformedCacheError(
                    f"layer {i}: {_NAMES[a]} is a meta tensor (a shape without data); "
                    "expected a tensor holding data on a real device"
                )
            sig.append((ks[0], ks[2], dtype))
        if arity == 4 and sig[1][0] != sig[0][0]:
            raise MalformedCacheError(
                f"layer {i}: cross-attention batch size must equal the self-attention batch size "
                f"{sig[0][0]}, found {sig[1][0]}"
            )
        if ref is None:
            ref = sig
            continue
        if sig == ref:
            continue
        for a, (got, want) in zip(pairs, zip(sig, ref)):
            if got[0] != want[0]:
                raise MalformedCacheError(
                    f"layer {i}: batch size must match layer 0; expected {want[0]}, found {got[0]}"
                )
            if got[1] != want[1]:
                raise MalformedCacheError(
                    f"layer {i}: ragged layers: {_NAMES[a]} sequence length must match layer 0; "
                    f"expected {want[1]}, found {got[1]}"
                )
            if got[2] != want[2]:
                raise MalformedCacheError(
                    f"layer {i}: dtype must match layer 0; expected {want[2]}, found {got[2]}"
                )


def check_fit(layers: tuple[tuple[Any, ...], ...], expected: Expectation) -> None:
    """Raise :class:`MalformedCacheError` unless ``layers`` (already :func:`check_layers`-consistent)
    fit what the model expects: layer count, each layer's KV heads and head dims, dtype, device.

    Reads shapes, dtypes and devices only; a ``None`` in ``expected`` skips that check.
    """
    n, want = len(layers), expected.layers
    what = None
    if want is not None and n < want:
        what = f"layer {n}: missing (the model's layers {n}..{want - 1} would run without the prefix)"
    elif want is not None and n > want:
        what = f"layer {want}: the model has no such layer (layers {want}..{n - 1} would be ignored)"
    if what is not None:
        raise MalformedCacheError(f"{what}; expected {want} layers (from config {expected.layers_source}), found {n}")
    specs = expected.per_layer
    dtype, device = expected.dtype, expected.device
    for i, layer in enumerate(layers):
        spec = specs[i] if i < len(specs) else None
        for a in range(0, len(layer), 2):
            k, v = layer[a], layer[a + 1]
            if spec is not None:
                ks, vs = k.shape, v.shape
                if ks[1] != spec.kv_heads or ks[3] != spec.key_dim:
                    raise MalformedCacheError(
                        f"layer {i}: expected {spec.describe()}, found {_NAMES[a]} shape {tuple(ks)}"
                    )
                if vs[3] != spec.value_dim:
                    raise MalformedCacheError(
                        f"layer {i}: expected {spec.describe()}, found {_NAMES[a + 1]} shape {tuple(vs)}"
                    )
            if dtype is not None and k.dtype != dtype:
                raise MalformedCacheError(
                    f"layer {i}: expected dtype {dtype} (the model's parameters), found {_NAMES[a]} of dtype "
                    f"{k.dtype}; cast the prefix with .to({dtype})"
                )
            if device is not None and k.device != device:
                raise MalformedCacheError(
                    f"layer {i}: expected tensors on {device} (the model's device), found {_NAMES[a]} on {k.device}"
                )


def __dir__() -> list[str]:
    return __all__
