"""Entry point run *inside* a side's environment: ``python -m compat.gate.inenv record|replay``.

The orchestrator (:mod:`compat.gate.cli`, torch-free) starts this with the
side's interpreter, cwd = the repository root, ``HF_HUB_OFFLINE=1``.

``record --out DIR [--device cpu|cuda] [--dtype float32|bfloat16|float16]``
``(--zoo [--families F ...] [--methods M ...] | --model DIR --adapter DIR [--prompts FILE])``
    builds the cases, runs each twice and writes ``DIR/golden.json`` (exit 0
    even when cases fail: the manifest says which; exit 2 only when nothing
    could be attempted).
``replay --golden DIR --out FILE``
    replays and compares every recorded case, writes the JSON result.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

__all__ = ["main"]


def _setup() -> None:
    from compat.tools.children import offline_child

    offline_child()  # watches the gate only where it could not set PR_SET_PDEATHSIG: end with the gate
    import warnings

    warnings.filterwarnings("ignore")
    import torch

    torch.set_num_threads(1)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
    except ImportError:  # pragma: no cover
        pass


def _record(args: argparse.Namespace) -> int:
    from compat.gate.cases import user_case, zoo_cases
    from compat.gate.golden import record_cases

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.model:
        try:
            cases = [user_case(Path(args.model), Path(args.adapter),
                               Path(args.prompts) if args.prompts else None,
                               max_new_tokens=args.max_new_tokens)]
        except (ValueError, OSError) as exc:
            print(f"gate: {exc}", file=sys.stderr)
            return 2
        skipped: dict[str, str] = {}
    else:
        cases, skipped = zoo_cases(out, args.families, args.methods, max_new_tokens=args.max_new_tokens)
    # the golden replays on the kind of device, in the dtype, it was recorded in
    cases = [dataclasses.replace(c, device=args.device, dtype=args.dtype) for c in cases]
    manifest = record_cases(cases, out, not_applicable=skipped)
    counts: dict[str, int] = {}
    for entry in manifest["cases"]:
        counts[entry["status"]] = counts.get(entry["status"], 0) + 1
    print(f"recorded goldens in {out}: {counts}")
    return 0


def _replay(args: argparse.Namespace) -> int:
    from compat.gate.golden import replay_golden

    result = replay_golden(Path(args.golden))
    from compat.tools.outputs import atomic_write_text

    atomic_write_text(Path(args.out), json.dumps(result, indent=2))  # never a half result the gate would read
    counts: dict[str, int] = {}
    for entry in result["cases"]:
        counts[entry["status"]] = counts.get(entry["status"], 0) + 1
    print(f"replayed {args.golden}: {counts}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m compat.gate.inenv")
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record")
    rec.add_argument("--out", required=True)
    rec.add_argument("--zoo", action="store_true")
    rec.add_argument("--families", nargs="*")
    rec.add_argument("--methods", nargs="*")
    rec.add_argument("--model")
    rec.add_argument("--adapter")
    rec.add_argument("--prompts")
    rec.add_argument("--max-new-tokens", type=int, default=6)
    rec.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    rec.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default="float32")
    rep = sub.add_parser("replay")
    rep.add_argument("--golden", required=True)
    rep.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if args.command == "record" and bool(args.model) == bool(args.zoo):
        parser.error("record needs either --zoo or --model/--adapter")
    _setup()
    return _record(args) if args.command == "record" else _replay(args)


if __name__ == "__main__":
    sys.exit(main())
