"""Save a random-weight base model and a prompt-learning adapter with ``save_pretrained``: a
checkpoint to run the upgrade gate's ``--model/--adapter`` path on (docs/gpu.md).

The model is the zoo family built on the suite axes (``PCC_DEVICE``, ``PCC_DTYPE``, ``PCC_SIZE``;
compat.testing.axes), e.g. the realistic-size Llama-3-8B-shaped decoder in bf16 on a GPU::

    PCC_DEVICE=cuda PCC_DTYPE=bfloat16 PCC_SIZE=realistic python benchmarks/make_checkpoint.py OUT \\
        --family llama --method prefix

writes ``OUT/model`` (config.json + model.safetensors) and ``OUT/adapter``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="make_checkpoint.py")
    p.add_argument("out", type=Path)
    p.add_argument("--family", default="llama")
    p.add_argument("--method", default="prefix")
    ns = p.parse_args(argv)
    from compat.testing import axes, methods, zoo

    ok, why = zoo.family_available(ns.family)
    if not ok:
        raise SystemExit(f"make_checkpoint: {ns.family} cannot be built here: {why}")
    base = zoo.build(ns.family)
    base.save_pretrained(ns.out / "model")
    methods.wrap(base, ns.method).save_pretrained(ns.out / "adapter")
    n = sum(t.numel() for t in base.parameters())
    print(f"saved {ns.family} ({n / 1e9:.2f} B parameters, {axes.current().describe()}) + {ns.method} to {ns.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
