"""Calibrate the tolerance policy: the distribution of |diff| over comparisons of *correct* paths,
per dtype x attention x family, and how often a correct path's greedy token flips, and at what
top-2 logit gap. Then derive atol and the token-noise gap with a stated margin, and show that the
derived policy still catches a dropped prompt.

Correct paths measured (each on the zoo family built on the suite axes, compat.testing.axes):

* ``oracle``: the model's own KV of P real tokens, through ``to_legacy`` and
  ``compat.prefixed_call`` (``to_cache``), then L tokens, vs one forward over the P + L tokens;
* ``to_cache``: PEFT prefix tuning's forward vs the base model given the same prefix explicitly;
* ``batch``: PEFT forward on a batch vs each row alone;
* ``use_cache``: PEFT forward with use_cache=False vs True;
* ``inputs_embeds``: PEFT prompt tuning vs the base model fed ``cat(virtual, embeds)``.

And one *wrong* path, the known silent bug's effect: PEFT's logits and greedy tokens vs the base
model with the prompt dropped (what peft 0.21.2 on transformers 5.24 generates, and 0.13.2 on
4.45.1): it must fail the derived policy, token comparison with near ties included.

Usage (repository root; one process per axes combination, spawned in parallel)::

    python benchmarks/bench_tolerance.py run --out DIR --dtypes bfloat16 float16 --attns eager sdpa \\
        --sizes tiny realistic            # needs CUDA for the GPU axes; writes DIR/<axes>.json
    python benchmarks/bench_tolerance.py derive DIR/*.json --margin 2   # the policy, as a table

``run --one`` is what each spawned process does (axes from PCC_* variables).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: (prefix tokens P, new tokens L, batch B) of the oracle: the issue's measurement at realistic size
SHAPES = {"tiny": (16, 16, 4), "realistic": (64, 32, 4)}
QUANTILES = (0.5, 0.9, 0.99, 0.999, 1.0)


# --------------------------------------------------------------------------- one axes combination


def _stats(got, want) -> dict:
    """|diff| distribution, logit scale, argmax agreement and the reference's gap at every flip."""
    import torch

    g, w = got.detach().float(), want.detach().float()
    d = (g - w).abs().reshape(-1)
    d = torch.where(torch.isfinite(d), d, torch.full_like(d, float("inf")))
    sample = d if d.numel() <= 2_000_000 else d[torch.randperm(d.numel(), device=d.device)[:2_000_000]]
    qs = torch.quantile(sample.double(), torch.tensor(QUANTILES, dtype=torch.float64, device=d.device)).tolist()
    top = w.topk(2, dim=-1).values
    gap = (top[..., 0] - top[..., 1]).reshape(-1)
    flip = (g.argmax(-1) != w.argmax(-1)).reshape(-1)
    return {
        "elements": int(d.numel()),
        "abs_diff_quantiles": dict(zip([str(q) for q in QUANTILES], qs)),
        "max_abs_diff": float(d.max()),
        "mean_abs_diff": float(d.mean()),
        "ref_abs_max": float(w.abs().max()),
        "ref_std": float(w.std()),
        "positions": int(gap.numel()),
        "argmax_agreement": float(1.0 - flip.float().mean()),
        "flip_gaps": sorted(float(x) for x in gap[flip].tolist()),
        "min_ref_gap": float(gap.min()),
        "ref_gap_p01": float(torch.quantile(gap.double(), 0.01)),
    }


def _ids(n: int, length: int, seed: int, device, vocab: int):
    import torch

    g = torch.Generator().manual_seed(seed)
    return torch.randint(3, min(vocab, 30000), (n, length), generator=g).to(device)


def _oracle(family: str, size: str) -> dict:
    import torch

    from compat import output_cache, prefixed_call, to_legacy
    from compat.testing import zoo

    P, L, B = SHAPES[size]
    base = zoo.build(family)
    dev, vocab = base.device, base.config.vocab_size
    with torch.no_grad():
        if base.config.is_encoder_decoder:
            enc = _ids(B, 12, 1, dev, vocab)
            full = _ids(B, P + L, 2, dev, vocab)
            full[:, 0] = base.config.decoder_start_token_id
            want = base(input_ids=enc, decoder_input_ids=full).logits[:, P:]
            own = output_cache(base(input_ids=enc, decoder_input_ids=full[:, :P], use_cache=True))
            call = prefixed_call(base, to_legacy(own, model=base), enc, decoder_input_ids=full[:, P:])
        else:
            full = _ids(B, P + L, 2, dev, vocab)
            want = base(full).logits[:, P:]
            own = output_cache(base(full[:, :P], use_cache=True))
            if own is None:
                raise RuntimeError("the forward returns no cache here")
            call = prefixed_call(base, to_legacy(own, model=base), full[:, P:])
        got = base(**call.kwargs).logits
    del base
    return _stats(got, want)


def _peft_checks(family: str) -> dict:
    """to_cache, batch, use_cache (prefix) and inputs_embeds (prompt) on the suites' own cases."""
    import torch

    from compat import prefixed_call
    from compat.testing import cases, reference

    out = {}
    for method in ("prefix", "prompt"):
        why = cases.applicable(family, method)
        if why:
            out[f"{method}:skipped"] = why
            continue
        case = cases.get(family, method)
        ids, mask = case.inputs(batch=3, length=8)
        dec = case.decoder_ids(3, length=6) if case.enc_dec else None
        peft = case.peft_logits(ids, mask, decoder_ids=dec)
        if method == "prefix":
            prefix = reference.peft_prefix(case.peft, 3)
            if case.enc_dec:
                want = reference.next_logits(case.base, dec, torch.ones_like(dec), source=ids, source_mask=mask,
                                             prefix=prefix)
            else:
                with torch.no_grad():
                    want = case.base(**prefixed_call(case.base, prefix, ids, attention_mask=mask).kwargs).logits
            out["to_cache"] = _stats(peft, want)
            alone = torch.cat([case.peft_logits(ids[i:i + 1], mask[i:i + 1],
                                                decoder_ids=None if dec is None else dec[i:i + 1]) for i in range(3)])
            out["batch"] = _stats(peft, alone)
            out["use_cache"] = _stats(case.peft_logits(ids, mask, decoder_ids=dec, use_cache=False),
                                      case.peft_logits(ids, mask, decoder_ids=dec, use_cache=True))
            out["dropped_prompt"] = _dropped(case, ids[:2], mask[:2])
        else:
            virtual = case.prompt(3)["virtual"]
            if case.enc_dec:
                want = reference.next_logits(case.base, dec, torch.ones_like(dec), source=ids, source_mask=mask,
                                             virtual=virtual)
            else:
                want = reference.next_logits(case.base, ids, mask, virtual=virtual)
            out["inputs_embeds"] = _stats(peft, want)
        cases.get.cache_clear()
        del case
        torch.cuda.empty_cache() if torch.cuda.is_available() else None
    return out


def _dropped(case, ids, mask) -> dict:
    """The silent bug's effect: the model without its prefix, judged by the policy (must fail)."""
    import torch

    from compat.testing import reference
    from compat.tolerance import assert_close, assert_same_tokens

    with torch.no_grad():
        if case.enc_dec:
            dec = case.decoder_ids(2)
            without = reference.next_logits(case.base, dec, torch.ones_like(dec), source=ids, source_mask=mask)
            with_prompt = case.peft_logits(ids, mask, decoder_ids=dec)
        else:
            without = reference.next_logits(case.base, ids, mask)
            with_prompt = case.peft_logits(ids, mask)
    res = {"logits": _stats(without, with_prompt)}
    try:
        assert_close(without, with_prompt, what="dropped prefix vs PEFT forward")
        res["logits_caught"] = False
    except AssertionError as exc:
        res["logits_caught"], res["logits_message"] = True, str(exc).splitlines()[0]
    ref = reference.decode(case.base, ids, mask, max_new_tokens=8, **case.prompt(2))
    bug = reference.decode(case.base, ids, mask, max_new_tokens=8)  # generation with the prompt dropped
    try:
        assert_same_tokens(bug.sequences, ref.sequences, logits_at=(bug.scores, ref.scores), near_ties="greedy",
                           dtype=case.base.dtype, what="greedy with the prompt dropped vs reference")
        res["tokens_caught"] = False
    except AssertionError as exc:
        res["tokens_caught"], res["tokens_message"] = True, str(exc).splitlines()[0]
    return res


def run_one(out_dir: Path) -> Path:
    import peft
    import torch
    import transformers

    from compat.testing import axes, zoo

    ax = axes.current()
    why = axes.device_check(ax)
    if why:
        raise SystemExit(f"bench_tolerance: {why}")
    result = {"axes": ax.to_json(), "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                                                 "peft": peft.__version__},
              "device_name": torch.cuda.get_device_name() if ax.device == "cuda" else "cpu",
              "date": time.strftime("%Y-%m-%d"), "shapes": SHAPES[ax.size], "families": {}}
    for family in zoo.suite_families():
        t0 = time.perf_counter()
        ok, why = zoo.family_available(family)
        if not ok:
            result["families"][family] = {"not_applicable": why}
            continue
        fam: dict = {}
        try:
            fam["oracle"] = _oracle(family, ax.size)
        except Exception as exc:
            fam["oracle:error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        try:
            fam.update(_peft_checks(family))
        except Exception as exc:
            fam["peft:error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        fam["seconds"] = round(time.perf_counter() - t0, 2)
        result["families"][family] = fam
        print(f"{ax.label()} {family}: {fam['seconds']} s", flush=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"tolerance-{ax.label()}.json"
    path.write_text(json.dumps(result, indent=1))
    return path


def run_all(ns: argparse.Namespace) -> int:
    procs = []
    for size in ns.sizes:
        for dtype in ns.dtypes:
            for attn in ns.attns:
                env = dict(os.environ, PCC_DEVICE=ns.device, PCC_DTYPE=dtype, PCC_ATTN=attn, PCC_SIZE=size)
                # the child keeps its own copy of the file descriptor: closing ours is safe
                with open(Path(ns.out) / f"bench-{ns.device}-{dtype}-{attn}-{size}.log", "w") as log:
                    procs.append((f"{dtype}-{attn}-{size}", subprocess.Popen(
                        [sys.executable, __file__, "run", "--one", "--out", ns.out], env=env, stdout=log,
                        stderr=subprocess.STDOUT, cwd=ROOT)))
    bad = 0
    for name, proc in procs:
        rc = proc.wait()
        print(f"{name}: exit {rc}")
        bad += rc != 0
    return 1 if bad else 0


# --------------------------------------------------------------------------- the policy


CHECKS = ("oracle", "to_cache", "batch", "use_cache", "inputs_embeds")


def _junit_maxima(paths: list[Path], per: dict) -> None:
    """The suites' own comparisons (every ``assert_close`` records ``max_abs_diff``; the suite
    axes are the ``axes`` property): on a version pair where the suites pass on the CPU, every
    one of them is a correct path."""
    import xml.etree.ElementTree as ET

    for path in paths:
        for case in ET.parse(path).iter("testcase"):
            props = {p.get("name"): p.get("value") for p in case.iter("property")}
            if "max_abs_diff" not in props or "axes" not in props:
                continue
            _, dtype, attn, size = props["axes"].split("-")
            d = per.setdefault(dtype, {"max": 0.0, "where": "", "flips": [], "rows": [], "dropped": []})
            value = float(props["max_abs_diff"])
            if value > d["max"]:
                d["max"], d["where"] = value, f"suite test {case.get('name')} {attn} {size}"


def derive(paths: list[Path], margin: float, junit: list[Path] = ()) -> dict:
    """Per dtype: the largest |diff| of any correct path (and where), atol = margin x that, the
    token-noise gap = 2 x atol, and every flip's gap checked against it; the dropped prompt caught?"""
    per: dict = {}
    _junit_maxima(list(junit), per)
    for path in paths:
        data = json.loads(Path(path).read_text())
        ax = data["axes"]
        dtype = ax["dtype"]
        d = per.setdefault(dtype, {"max": 0.0, "where": "", "flips": [], "rows": [], "dropped": []})
        for family, fam in data["families"].items():
            for check in CHECKS:
                s = fam.get(check)
                if not s:
                    continue
                d["rows"].append((ax["attn"], ax["size"], family, check, s["max_abs_diff"],
                                  s["abs_diff_quantiles"]["0.99"], s["mean_abs_diff"], s["ref_std"],
                                  s["argmax_agreement"], len(s["flip_gaps"]),
                                  max(s["flip_gaps"]) if s["flip_gaps"] else None))
                if s["max_abs_diff"] > d["max"]:
                    d["max"], d["where"] = s["max_abs_diff"], f"{family} {check} {ax['attn']} {ax['size']}"
                d["flips"] += s["flip_gaps"]
            if "dropped_prompt" in fam:
                dp = fam["dropped_prompt"]
                d["dropped"].append((ax["attn"], ax["size"], family, dp["logits"]["max_abs_diff"],
                                     dp["logits_caught"], dp["tokens_caught"]))
    policy = {}
    for dtype, d in per.items():
        atol = _round_up(margin * d["max"])
        noise = _round_up(2 * atol)
        policy[dtype] = {"max_abs_diff": d["max"], "where": d["where"], "atol": atol, "token_noise": noise,
                         "flips": len(d["flips"]), "largest_flip_gap": max(d["flips"]) if d["flips"] else None,
                         "flips_within_noise": all(g < noise for g in d["flips"]),
                         "dropped_all_caught": all(x[4] and x[5] for x in d["dropped"]),
                         "smallest_dropped_diff": min((x[3] for x in d["dropped"]), default=None),
                         "rows": d["rows"], "dropped": d["dropped"]}
    return policy


def _round_up(x: float) -> float:
    """Up to 2 significant digits (a policy number a person can read)."""
    if x <= 0:
        return 0.0
    exp = math.floor(math.log10(x)) - 1
    return math.ceil(x / 10 ** exp) * 10 ** exp


def print_policy(policy: dict, margin: float) -> None:
    for dtype, p in policy.items():
        print(f"\n## {dtype}: largest |diff| of a correct path {p['max_abs_diff']:.3g} ({p['where']}); "
              f"margin {margin:g} -> atol {p['atol']:g}; token noise gap 2 x atol = {p['token_noise']:g}")
        print(f"flips of correct paths: {p['flips']}, largest reference gap at a flip "
              f"{p['largest_flip_gap']}, all within the noise gap: {p['flips_within_noise']}")
        print(f"dropped prompt caught everywhere (logits and tokens): {p['dropped_all_caught']}; smallest "
              f"max |diff| of a dropped prompt {p['smallest_dropped_diff']}")
        print("| attn | size | family | check | max abs | p99 | mean | ref std | argmax agree | flips | max flip gap |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for r in sorted(p["rows"]):
            print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]:.3g} | {r[5]:.3g} | {r[6]:.3g} | {r[7]:.3g} | "
                  f"{r[8]:.4f} | {r[9]} | {'' if r[10] is None else f'{r[10]:.3g}'} |")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench_tolerance.py")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--out", required=True)
    r.add_argument("--one", action="store_true", help="this process: the axes of the PCC_* variables")
    r.add_argument("--device", default="cuda")
    r.add_argument("--dtypes", nargs="+", default=["bfloat16", "float16"])
    r.add_argument("--attns", nargs="+", default=["eager", "sdpa"])
    r.add_argument("--sizes", nargs="+", default=["tiny", "realistic"])
    d = sub.add_parser("derive")
    d.add_argument("paths", nargs="+", type=Path)
    d.add_argument("--margin", type=float, default=2.0)
    d.add_argument("--junit", nargs="*", type=Path, default=[],
                   help="suite JUnit files of a passing pair on the same axes (their max_abs_diff too)")
    d.add_argument("--json", type=Path, help="also write the derived policy here")
    ns = p.parse_args(argv)
    if ns.cmd == "run":
        Path(ns.out).mkdir(parents=True, exist_ok=True)
        if ns.one:
            print(run_one(Path(ns.out)))
            return 0
        return run_all(ns)
    policy = derive(ns.paths, ns.margin, ns.junit)
    print_policy(policy, ns.margin)
    if ns.json:
        ns.json.write_text(json.dumps({"margin": ns.margin, "policy": policy}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
