"""Gemma 4 (per-layer head dims) and DeepSeek V3 (multi-head latent attention) at realistic size,
in bf16 on a GPU: the shape classes the census found, beyond the suites' Llama/T5 realistic profile.

Each model is built from its config class's defaults (the real model's shapes) with fewer layers,
a 32000-token vocabulary and (DeepSeek) 8 routed experts, random weights, on the active axes'
device and dtype (``PCC_DEVICE``/``PCC_DTYPE``), once per attention kernel (``--attn``). Checks,
each against a plain forward or a plain ``generate`` over the same real tokens:

* ``shim-logits``: the model's own KV of P real tokens through ``compat.to_legacy`` +
  ``compat.prefixed_call`` == one forward over the P + L tokens (the policy's tolerance);
* ``shim-greedy``: ``generate`` with that prefix == ``generate`` over the P + L tokens (token ids,
  near ties judged by ``compat.tolerance``);
* ``prompt-logits``: PEFT prompt tuning holding the embeddings of P real tokens (the census
  oracle) == the plain forward over them + the input;
* ``prefix-logits``: PEFT prefix tuning holding the model's own KV of P real tokens (the census
  oracle) == the plain forward; where PEFT cannot hold it (the census catalogue's known
  mechanisms: MLA's one latent key head, Gemma 4's per-layer head dims) the status is
  ``peft-cannot-hold`` with the shapes.

    PCC_DEVICE=cuda PCC_DTYPE=bfloat16 python benchmarks/gpu_realistic_shapes.py --out OUT.json
    python benchmarks/gpu_realistic_shapes.py --tiny        # a CPU fp32 smoke run with tiny shapes

Figures, not assertions: every check's status, its max abs difference and its message go to the
JSON (docs/gpu.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

P, L, BATCH, NEW = 64, 32, 2, 8
VOCAB = 32000


def _trim_layers(defaults: dict[str, Any], layers: int) -> dict[str, Any]:
    """The first ``layers`` layers of the default layout (per-layer lists and dicts cut to match)."""
    out: dict[str, Any] = {"num_hidden_layers": layers}
    if isinstance(defaults.get("layer_types"), list):
        types = defaults["layer_types"]
        first_full = types.index("full_attention") if "full_attention" in types else layers - 1
        out["layer_types"] = types[: max(layers, first_full + 1)][:layers]
        if "full_attention" not in out["layer_types"]:
            out["layer_types"][-1] = "full_attention"
    if isinstance(defaults.get("per_layer_config"), dict):
        # keep each layer's own settings; the trimmed full layer takes a global layer's
        glob = next(iter(defaults["per_layer_config"].values()), {})
        out["per_layer_config"] = {f"{i:02d}": glob for i, t in enumerate(out.get("layer_types", []))
                                   if t == "full_attention"}
    return out


def gemma4_config(tiny: bool):
    import transformers

    cls = transformers.Gemma4TextConfig
    d = cls().to_dict()
    over: dict[str, Any] = {**_trim_layers(d, 6), "vocab_size": VOCAB}
    if "vocab_size_per_layer_input" in d:
        over["vocab_size_per_layer_input"] = VOCAB
    if tiny:
        over.update(hidden_size=64, intermediate_size=128, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                    hidden_size_per_layer_input=16, vocab_size=512, vocab_size_per_layer_input=512)
        if "per_layer_config" in over:
            over["per_layer_config"] = {k: {"head_dim": 32} for k in over["per_layer_config"]}
        if "global_head_dim" in d:
            over["global_head_dim"] = 32
    return cls(**over)


def deepseek_config(tiny: bool):
    import transformers

    cls = transformers.DeepseekV3Config
    over: dict[str, Any] = {"num_hidden_layers": 4, "first_k_dense_replace": 1, "n_routed_experts": 8,
                            "num_experts_per_tok": 2, "n_group": 1, "topk_group": 1, "vocab_size": VOCAB}
    if tiny:
        over.update(hidden_size=64, intermediate_size=128, moe_intermediate_size=32, num_attention_heads=4,
                    num_key_value_heads=4, q_lora_rank=32, kv_lora_rank=16, qk_nope_head_dim=8,
                    qk_rope_head_dim=8, v_head_dim=8, vocab_size=512)
    return cls(**over)


CONFIGS = {"gemma4_text": (gemma4_config, "Gemma4ForCausalLM"),
           "deepseek_v3": (deepseek_config, "DeepseekV3ForCausalLM")}


def build(name: str, attn: str, tiny: bool):
    import torch
    import transformers

    from compat.testing import axes

    ax = axes.current()
    make, cls_name = CONFIGS[name]
    cfg = make(tiny)
    cfg._attn_implementation = attn
    cfg.initializer_range = 0.02
    torch.manual_seed(0)
    with torch.device(ax.torch_device):
        model = getattr(transformers, cls_name)(cfg)
    model = model.to(dtype=ax.torch_dtype).eval()
    gc = model.generation_config
    gc.eos_token_id, gc.pad_token_id = None, 0
    return model


def _ids(model, rows: int, length: int, seed: int):
    import torch

    vocab = model.config.vocab_size
    g = torch.Generator().manual_seed(seed)
    return torch.randint(3, min(vocab, 30000), (rows, length), generator=g).to(model.device)


def _record(name: str, body) -> dict[str, Any]:
    from compat.census.oracle import OracleError

    start = time.perf_counter()
    try:
        out = body() or {}
        out.setdefault("status", "pass")
    except OracleError as exc:  # PEFT cannot hold the model's own KV: a known mechanism, not a number
        out = {"status": "peft-cannot-hold", "message": str(exc)[:600]}
    except AssertionError as exc:
        out = {"status": "fail", "message": str(exc)[:1200]}
    except Exception as exc:
        first = str(exc).splitlines()[0][:600] if str(exc) else ""
        out = {"status": "error", "message": f"{type(exc).__name__}: {first}"}
    out["check"], out["seconds"] = name, round(time.perf_counter() - start, 2)
    return out


def shim_checks(model, p: int, n: int) -> list[dict[str, Any]]:
    import torch

    from compat import output_cache, prefixed_call, to_legacy
    from compat.tolerance import assert_close, assert_same_tokens, diff_stats

    full = _ids(model, BATCH, p + n, seed=1)
    props: dict[str, Any] = {}

    def logits():
        with torch.no_grad():
            expected = model(full).logits[:, p:]
            own = output_cache(model(full[:, :p], use_cache=True))
            call = prefixed_call(model, to_legacy(own, model=model), full[:, p:])
            got = model(**call.kwargs).logits
        assert_close(got, expected, what="shim prefix vs one forward")
        return {"max_abs_diff": diff_stats(got, expected)["max_abs_diff"]}

    def greedy():
        opts = {"max_new_tokens": NEW, "do_sample": False, "output_scores": True, "return_dict_in_generate": True}
        with torch.no_grad():
            whole = model.generate(full, attention_mask=torch.ones_like(full), **opts)
            own = output_cache(model(full[:, :p], use_cache=True))
            call = prefixed_call(model, to_legacy(own, model=model), full[:, p:], for_generate=True)
            out = model.generate(**call.kwargs, **opts)
        got = call.strip(out.sequences)[:, n:]
        assert_same_tokens(got, whole.sequences[:, p + n:], logits_at=(list(out.scores), list(whole.scores)),
                           near_ties="greedy", dtype=model.dtype, record=lambda k, v: props.update({k: v}))
        return dict(props)

    return [_record("shim-logits", logits), _record("shim-greedy", greedy)]


def peft_checks(model, p: int) -> list[dict[str, Any]]:
    import torch

    from compat.census import oracle
    from compat.testing import methods
    from compat.tolerance import assert_close, diff_stats

    x = _ids(model, BATCH, 16, seed=2)
    prompt_ids = _ids(model, 1, p, seed=3)
    results = []
    for method in ("prompt", "prefix"):
        def body(method=method):
            pm = methods.wrap(model, method, seed=0, num_virtual_tokens=p)
            oracle.load(pm, method, prompt_ids)
            with torch.no_grad():
                got = pm(input_ids=x, attention_mask=torch.ones_like(x)).logits[:, -x.shape[1]:]
                expected = model(torch.cat([prompt_ids.expand(BATCH, -1), x], 1)).logits[:, -x.shape[1]:]
            assert_close(got, expected, what=f"PEFT {method} (real-token oracle) vs plain forward")
            return {"max_abs_diff": diff_stats(got, expected)["max_abs_diff"]}

        results.append(_record(f"{method}-logits", body))
        _free_gpu_memory()  # a prompt-learning PeftModel leaves the base model as it was
    return results


def _free_gpu_memory() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(CONFIGS))
    ap.add_argument("--attn", default="eager,sdpa")
    ap.add_argument("--tiny", action="store_true", help="tiny shapes (a CPU smoke run)")
    ap.add_argument("--out", default="")
    args = ap.parse_args(argv)
    import torch
    import transformers

    from compat.testing import axes

    ax = axes.current()
    p, n = (8, 4) if args.tiny else (P, L)
    report: dict[str, Any] = {"transformers": transformers.__version__, "torch": torch.__version__,
                              "device": ax.device, "dtype": ax.dtype, "P": p, "L": n, "batch": BATCH, "runs": []}
    for name in args.models.split(","):
        for attn in args.attn.split(","):
            start = time.perf_counter()
            run: dict[str, Any] = {"model": name, "attn": attn}
            try:
                model = build(name, attn, args.tiny)
            except Exception as exc:
                run.update(status="not-buildable", message=f"{type(exc).__name__}: {str(exc)[:600]}")
                report["runs"].append(run)
                print(json.dumps(run))
                continue
            shape_keys = ("hidden_size", "num_attention_heads", "num_key_value_heads", "head_dim", "global_head_dim",
                          "per_layer_config", "layer_types", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim",
                          "v_head_dim", "num_hidden_layers")
            settings = model.config.to_dict()
            run.update(parameters=sum(t.numel() for t in model.parameters()),
                       config={k: settings.get(k) for k in shape_keys})
            run["checks"] = shim_checks(model, p, n) + peft_checks(model, p if args.tiny else 16)
            run["seconds"] = round(time.perf_counter() - start, 1)
            report["runs"].append(run)
            print(json.dumps({k: run[k] for k in ("model", "attn", "parameters", "seconds")}),
                  [(c["check"], c["status"], c.get("max_abs_diff"), c.get("message", "")[:160]) for c in run["checks"]],
                  flush=True)
            del model
            _free_gpu_memory()
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
