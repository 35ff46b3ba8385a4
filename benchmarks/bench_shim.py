"""Cost of the shim vs transformers' own loop (figures, not assertions).

For a 32-layer, 8-KV-head, 128-dim, 32-token fp32 prefix at batch 1 and 8:

* ``to_cache``: time per call and bytes of NEW tensor storage, against the
  native ``DynamicCache()`` + per-layer ``update()`` loop (a tuple on versions
  without Cache classes);
* ``to_legacy``: time per call against the native read loop
  (``layers[i].keys`` 4.54+, ``key_cache`` lists before);
* ``to_cache(config=...)`` and ``to_cache(model=...)``: the same prefix checked
  against a 32-layer Llama config that it fits (layer count, per-layer KV heads
  and head dims; with the model also dtype) -- the model is built on the meta
  device (no weights allocated), so its device is unknown and that one
  comparison per layer is skipped.

New storage = bytes of tensors held by the result whose untyped storage is not
one of the inputs' storages. Run it with any environment's python:

    python benchmarks/bench_shim.py [--json] [--repeat 7] [--number 50]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from compat import _transformers as features
from compat import capabilities, to_cache, to_legacy

LAYERS, KV_HEADS, HEAD_DIM, PREFIX = 32, 8, 128, 32


def make_prefix(batch: int) -> tuple:
    g = torch.Generator().manual_seed(0)
    return tuple(
        (torch.randn(batch, KV_HEADS, PREFIX, HEAD_DIM, generator=g),
         torch.randn(batch, KV_HEADS, PREFIX, HEAD_DIM, generator=g))
        for _ in range(LAYERS)
    )


def fitting_model():
    """A 32-layer Llama on the meta device whose KV the prefix fits, and its config."""
    import transformers

    cfg = transformers.LlamaConfig(
        vocab_size=96, hidden_size=KV_HEADS * HEAD_DIM, intermediate_size=64, num_hidden_layers=LAYERS,
        num_attention_heads=KV_HEADS, num_key_value_heads=KV_HEADS, head_dim=HEAD_DIM,
    )
    with torch.device("meta"):
        model = transformers.LlamaForCausalLM(cfg)
    return model, cfg


def native_to_cache(legacy: tuple):
    cls = features.dynamic_cache_class()
    if cls is None:
        return tuple(tuple(layer) for layer in legacy)
    cache = cls()
    for i, (k, v) in enumerate(legacy):
        cache.update(k, v, i)
    return cache


def native_to_legacy(cache):
    if isinstance(cache, tuple):
        return tuple(tuple(layer) for layer in cache)
    if hasattr(cache, "layers"):
        return tuple((layer.keys, layer.values) for layer in cache.layers)
    return tuple(zip(cache.key_cache, cache.value_cache))


def stored_tensors(obj) -> list:
    if isinstance(obj, tuple):
        return [t for layer in obj for t in layer]
    return [t for layer in native_to_legacy(obj) for t in layer]


def new_bytes(result, inputs: tuple) -> int:
    known = {t.untyped_storage().data_ptr() for layer in inputs for t in layer}
    seen, total = set(), 0
    for t in stored_tensors(result):
        ptr = t.untyped_storage().data_ptr()
        if ptr not in known and ptr not in seen:
            seen.add(ptr)
            total += t.untyped_storage().nbytes()
    return total


def per_call_us(fn, arg, number: int, repeat: int) -> float:
    fn(arg)  # warm-up
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn(arg)
        runs.append((time.perf_counter() - start) / number * 1e6)
    return min(runs)  # best of `repeat` runs: the least disturbed by other load


def measure(batch: int, number: int, repeat: int, model, cfg) -> dict:
    legacy = make_prefix(batch)
    cache = to_cache(legacy)
    row = {
        "batch": batch,
        "to_cache_us": per_call_us(to_cache, legacy, number, repeat),
        "to_cache_config_us": per_call_us(lambda x: to_cache(x, config=cfg), legacy, number, repeat),
        "to_cache_model_us": per_call_us(lambda x: to_cache(x, model=model), legacy, number, repeat),
        "native_update_us": per_call_us(native_to_cache, legacy, number, repeat),
        "to_legacy_us": per_call_us(to_legacy, cache, number, repeat),
        "native_read_us": per_call_us(native_to_legacy, cache, number, repeat),
        "to_cache_new_bytes": new_bytes(to_cache(legacy), legacy),
        "native_new_bytes": new_bytes(native_to_cache(legacy), legacy),
        "prefix_bytes": sum(t.nbytes for layer in legacy for t in layer),
    }
    row["to_cache_ratio"] = row["to_cache_us"] / row["native_update_us"]
    row["to_legacy_ratio"] = row["to_legacy_us"] / row["native_read_us"]
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--number", type=int, default=50, help="calls per timing run")
    parser.add_argument("--repeat", type=int, default=7, help="timing runs (best reported)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    caps = capabilities()
    model, cfg = fitting_model()
    rows = [measure(b, args.number, args.repeat, model, cfg) for b in (1, 8)]
    head = {"transformers": caps.transformers, "torch": caps.torch, "storage": caps.storage_strategy,
            "shape": f"{LAYERS} layers x [B, {KV_HEADS}, {PREFIX}, {HEAD_DIM}] fp32"}
    if args.json:
        print(json.dumps({**head, "rows": rows}, indent=2))
        return 0
    print(f"transformers {head['transformers']}, torch {head['torch']}, storage {head['storage']}; {head['shape']}")
    cols = ("B", "to_cache us", "to_cache(config=) us", "to_cache(model=) us", "native us", "ratio",
            "to_legacy us", "native read us", "ratio", "new MiB (shim)", "new MiB (native)")
    print(" | ".join(cols))
    for r in rows:
        print(" | ".join([
            str(r["batch"]), f"{r['to_cache_us']:.0f}", f"{r['to_cache_config_us']:.0f}",
            f"{r['to_cache_model_us']:.0f}", f"{r['native_update_us']:.0f}", f"{r['to_cache_ratio']:.2f}",
            f"{r['to_legacy_us']:.1f}", f"{r['native_read_us']:.1f}", f"{r['to_legacy_ratio']:.2f}",
            f"{r['to_cache_new_bytes'] / 2**20:.1f}", f"{r['native_new_bytes'] / 2**20:.1f}",
        ]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
