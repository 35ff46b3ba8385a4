"""The real-token oracle: set a PEFT adapter's parameters so that its virtual prompt *is* P real
tokens. Then PEFT's forward and ``generate`` must equal one plain forward / a plain greedy decode
over those P tokens followed by the input, on any architecture, with no per-architecture code.

* prefix tuning: the model's own per-layer KV of the P tokens, written into the prefix table
  (without projection) or solved into the projection MLP's last layer (with projection);
* prompt tuning: the model's own input embeddings of the P tokens;
* p-tuning (MLP encoder): the same embeddings, solved into the encoder's last layer.

Solving a last ``Linear`` for given outputs: its inputs for the P virtual tokens are P vectors
of width >= P (24 here), so ``W = pinv(H) T`` reproduces the targets up to rounding; the
residual is checked against the tolerance policy before the oracle is used.
"""

from __future__ import annotations

from typing import Any

__all__ = ["OracleError", "kv_layers", "load", "own_kv", "prefix_rows"]


class OracleError(RuntimeError):
    """The oracle cannot be expressed for this model/adapter; the message says why."""


def own_kv(base: Any, token_ids: Any) -> list[tuple[Any, Any] | None]:
    """The model's own per-layer ``(key, value)`` ``[1, H, P, D]`` for ``token_ids`` (``None`` for a
    layer that keeps no KV, e.g. linear attention or an SSM mixer), read from the Cache it returns."""
    import torch

    from compat import output_cache

    with torch.no_grad():
        out = base(input_ids=token_ids, use_cache=True)
    return kv_layers(output_cache(out))


def kv_layers(cache: Any) -> list[tuple[Any, Any] | None]:
    """Per-layer ``(keys, values)`` of a Cache (``layers[i].keys``; ``key_cache[i]`` in 4.x Caches
    and the hybrid caches of early 5.x), or of legacy tuples."""
    if cache is None:
        raise OracleError("the model returned no cache for use_cache=True: it keeps no KV cache")
    cache = getattr(cache, "self_attention_cache", cache)  # a decoder's self-attention part
    layers = getattr(cache, "layers", None)
    if layers is not None:
        return [_kv(getattr(layer, "keys", None), getattr(layer, "values", None)) for layer in layers]
    keys, values = getattr(cache, "key_cache", None), getattr(cache, "value_cache", None)
    if isinstance(keys, list) and isinstance(values, list):  # 4.x Caches and 5.x-early hybrid ones
        return [_kv(k, v) for k, v in zip(keys, values)]
    if isinstance(cache, (tuple, list)):
        return [(layer[0].clone(), layer[1].clone()) for layer in cache]
    raise OracleError(f"cannot read keys/values from a {type(cache).__name__}")


def _kv(k: Any, v: Any) -> tuple[Any, Any] | None:
    """A layer's ``(keys, values)`` if both are filled ``[B, H, S, D]`` tensors, else ``None`` (a layer
    that keeps no KV: linear attention, an SSM mixer, a shared layer)."""
    ok = all(hasattr(t, "dim") and t.dim() == 4 and t.shape[-2] > 0 for t in (k, v))
    return (k.clone(), v.clone()) if ok else None


def prefix_rows(layers: list, peft_cfg: Any) -> Any:
    """PEFT's prefix layout ``[P, 2L * H * D]`` (slots 2i, 2i+1 = layer i's k, v) of real KV,
    or :class:`OracleError` naming the first layer whose KV that layout cannot hold."""
    import torch

    n_layers, heads = peft_cfg.num_layers, peft_cfg.num_attention_heads
    dim = peft_cfg.token_dim // heads
    if len(layers) != n_layers:
        raise OracleError(f"PEFT sizes the prefix for {n_layers} layers; the model's cache has {len(layers)}")
    slots = []
    for i, kv in enumerate(layers):
        if kv is None:
            raise OracleError(f"layer {i} keeps no KV (a linear-attention/SSM/shared layer): "
                              f"a prefix of {n_layers} KV layers cannot be the model's own state")
        for name, t in zip(("key", "value"), kv):
            if tuple(t.shape[1:2]) + tuple(t.shape[3:]) != (heads, dim):
                raise OracleError(f"layer {i}: the model's {name} has {t.shape[1]} heads x {t.shape[3]} dims; "
                                  f"PEFT sizes every prefix layer as {heads} heads x {dim} dims")
            slots.append(t[0].permute(1, 0, 2).reshape(t.shape[2], -1))  # [P, H*D]
    return torch.cat(slots, dim=1)


def _solve_last_linear(encoder: Any, tokens: Any, targets: Any) -> None:
    """Set the encoder's last ``Linear`` so that ``encoder(tokens) == targets`` (rows)."""
    import torch

    linears = [m for m in encoder.modules() if isinstance(m, torch.nn.Linear)]
    if not linears:
        raise OracleError(f"{type(encoder).__name__} has no Linear layer to solve")
    last = linears[-1]
    seen: list = []
    handle = last.register_forward_hook(lambda mod, args, out: seen.append(args[0].detach()))
    try:
        with torch.no_grad():
            encoder(tokens)
    finally:
        handle.remove()
    h = seen[-1].reshape(-1, last.in_features).double()
    t = targets.reshape(h.shape[0], -1).double()
    w = torch.linalg.pinv(h) @ t  # [in, out]: the least-norm exact solution (rank P <= in)
    with torch.no_grad():
        last.weight.copy_(w.T.to(last.weight.dtype))
        if last.bias is not None:
            last.bias.zero_()
        got = encoder(tokens).reshape(t.shape).double()
    err = float((got - t).abs().max())
    if err > 1e-5 * max(1.0, float(t.abs().max())):
        raise OracleError(f"cannot solve {type(encoder).__name__}'s last layer for real-token outputs "
                          f"(residual {err:.3g})")


def load(peft_model: Any, method: str, token_ids: Any) -> None:
    """Make ``peft_model``'s virtual prompt equal the P real tokens ``token_ids`` ``[1, P]``."""
    import torch

    name = peft_model.active_adapter
    cfg = peft_model.peft_config[name]
    enc = peft_model.prompt_encoder[name]
    base = peft_model.get_base_model()
    tokens = peft_model.prompt_tokens[name].unsqueeze(0)  # [1, P * submodules]
    repeat = tokens.shape[1] // token_ids.shape[1]
    if method.startswith("prefix"):
        rows = prefix_rows(own_kv(base, token_ids), cfg)
    else:
        with torch.no_grad():
            rows = base.get_input_embeddings()(token_ids)[0]
    rows = rows.repeat(repeat, 1)
    if method in ("prefix", "prompt"):
        with torch.no_grad():
            enc.embedding.weight[: rows.shape[0]] = rows.to(enc.embedding.weight.dtype)
        return
    _solve_last_linear(enc, tokens, rows)
