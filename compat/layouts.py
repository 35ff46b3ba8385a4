"""Family-native legacy layouts and their conversion to/from the standard layout.

The standard layout is, per layer, ``(k, v)`` with ``[B, H_kv, S, D]`` tensors
(``(sk, sv, ck, cv)`` for encoder-decoders). Two families used another one:

* **Bloom** before 4.44: key ``[B*H, D, S]``, value ``[B*H, S, D]``.
* **GPTBigCode** before 4.54: one fused ``k || v`` tensor per layer on the last
  dim, ``[B, S, 2D]`` for multi-query and ``[B, H, S, 2D]`` otherwise.

Converting *to* a native layout may copy (a transpose or a concatenation);
converting *from* one returns views.

>>> import torch
>>> k, v = torch.randn(2, 3, 5, 4), torch.randn(2, 3, 5, 4)
>>> bk, bv = to_bloom((k, v))
>>> tuple(bk.shape), tuple(bv.shape)
((6, 4, 5), (6, 5, 4))
>>> k2, v2 = from_bloom((bk, bv), n_head=3)
>>> torch.equal(k2, k) and torch.equal(v2, v)
True
>>> fused = to_gpt_bigcode((k[:, :1], v[:, :1]), multi_query=True)
>>> tuple(fused.shape)
(2, 5, 8)
>>> [torch.equal(a, b) for a, b in zip(from_gpt_bigcode(fused, multi_query=True), (k[:, :1], v[:, :1]))]
[True, True]
"""

from __future__ import annotations

from typing import Any

from compat.errors import MalformedCacheError

__all__ = ["from_bloom", "from_gpt_bigcode", "to_bloom", "to_gpt_bigcode"]


def to_bloom(layer: tuple[Any, Any]) -> tuple[Any, Any]:
    """Standard ``(k, v)`` ``[B, H, S, D]`` -> Bloom's ``([B*H, D, S], [B*H, S, D])`` (takes any 4-D pair)."""
    k, v = layer
    b, h, s, d = k.shape
    return k.permute(0, 1, 3, 2).reshape(b * h, d, s), v.reshape(b * h, s, v.shape[-1])


def from_bloom(layer: tuple[Any, Any], *, n_head: int, index: int = 0) -> tuple[Any, Any]:
    """Bloom's ``([B*H, D, S], [B*H, S, D])`` -> standard ``(k, v)`` ``[B, H, S, D]`` (views)."""
    k, v = layer
    if k.dim() != 3 or v.dim() != 3:
        raise MalformedCacheError(
            f"layer {index}: expected Bloom's 3-D key [B*H, D, S] and value [B*H, S, D], "
            f"found key {tuple(k.shape)} and value {tuple(v.shape)}"
        )
    bh, d, s = k.shape
    if bh % n_head or tuple(v.shape[:2]) != (bh, s):
        raise MalformedCacheError(
            f"layer {index}: expected Bloom key [B*{n_head}, D, S] and value [B*{n_head}, S, D] "
            f"with matching B*H and S, found key {tuple(k.shape)} and value {tuple(v.shape)}"
        )
    b = bh // n_head
    return k.reshape(b, n_head, d, s).permute(0, 1, 3, 2), v.reshape(b, n_head, s, v.shape[-1])


def to_gpt_bigcode(layer: tuple[Any, Any], *, multi_query: bool, index: int = 0) -> Any:
    """Standard ``(k, v)`` -> GPTBigCode's fused tensor (``[B, S, 2D]`` MQA, ``[B, H, S, 2D]`` MHA)."""
    import torch

    k, v = layer
    if multi_query:
        if k.shape[1] != 1:
            raise MalformedCacheError(
                f"layer {index}: a multi-query GPTBigCode takes 1 key/value head, found {k.shape[1]} "
                f"(key shape {tuple(k.shape)})"
            )
        return torch.cat([k[:, 0], v[:, 0]], dim=-1)
    return torch.cat([k, v], dim=-1)


def from_gpt_bigcode(fused: Any, *, multi_query: bool, index: int = 0) -> tuple[Any, Any]:
    """GPTBigCode's fused tensor -> standard ``(k, v)`` (views; MQA gets 1 head)."""
    want = 3 if multi_query else 4
    shape = "[B, S, 2D]" if multi_query else "[B, H, S, 2D]"
    if fused.dim() != want or fused.shape[-1] % 2:
        raise MalformedCacheError(
            f"layer {index}: expected GPTBigCode's fused k||v tensor {shape} "
            f"({'multi_query' if multi_query else 'multi-head'}), found shape {tuple(fused.shape)}"
        )
    d = fused.shape[-1] // 2
    if multi_query:
        fused = fused.unsqueeze(1)
    return fused[..., :d], fused[..., d:]


def __dir__() -> list[str]:
    return __all__
