"""Speed of ``compat migrate`` on a generated code base (figures, not assertions).

Generates ``--files`` modules of about ``--lines`` lines each: most are ordinary
code with no cache API in them (the common case in a real code base), a share
(``--with-cache``, default 10%) holds the cache patterns of the corpus
(from_legacy_cache, key_cache[i], past_key_values=, cache subclasses...). Then runs
the CLI on it as a user would (``python -m compat migrate DIR``, a fresh process
each time, best of ``--repeat``) and reports files/s and ms/line, for lint and
``--fix`` (on a copy), with ``--jobs 1`` and with one job per CPU.

``--root`` picks the checkout whose ``compat`` runs (to measure an older commit on
the same generated code base, e.g. ``git worktree add /tmp/old <commit>``):

    python benchmarks/bench_migrate.py [--files 200] [--lines 200] [--root .] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PLAIN_BLOCK = '''

class Block{n}(torch.nn.Module):
    """A residual MLP block ({n})."""

    def __init__(self, width={w}, depth={d}):
        super().__init__()
        self.layers = torch.nn.ModuleList(torch.nn.Linear(width, width) for _ in range(depth))
        self.norm = torch.nn.LayerNorm(width)

    def forward(self, hidden, scale=1.0):
        for i, layer in enumerate(self.layers):
            residual = hidden
            hidden = self.norm(hidden)
            hidden = torch.relu(layer(hidden)) * scale
            if i % 2 == 0:
                hidden = hidden + residual
        return hidden


def summarize_{n}(values, threshold={w}):
    total, count = 0.0, 0
    for value in values:
        if value > threshold:
            total += value
            count += 1
    return {{"mean": total / max(count, 1), "count": count}}
'''

CACHE_BLOCK = '''

class PrefixStore{n}(DynamicCache):
    def first_key(self):
        return self.key_cache[0]


def prefix_step_{n}(model: LlamaForCausalLM, ids, legacy=None):
    cache = DynamicCache.from_legacy_cache(legacy)
    keys = [cache.key_cache[i] for i in range(len(cache))]
    out = model(ids, past_key_values=cache, use_cache=True)
    return out.past_key_values.to_legacy_cache(), keys
'''

HEADER_PLAIN = '"""Generated module {i} (no cache API)."""\n\nimport torch\n'
HEADER_CACHE = ('"""Generated module {i} (cache API)."""\n\nimport torch\n'
                "from transformers import DynamicCache, LlamaForCausalLM\n")


def generate(target: Path, files: int, lines: int, with_cache: float, seed: int = 0) -> int:
    """Write the code base; returns its line count."""
    rng = random.Random(seed)
    total = 0
    for i in range(files):
        cached = rng.random() < with_cache
        parts = [(HEADER_CACHE if cached else HEADER_PLAIN).format(i=i)]
        n = 0
        while sum(p.count("\n") for p in parts) < lines:
            block = CACHE_BLOCK if cached and n % 4 == 0 else PLAIN_BLOCK
            parts.append(block.format(n=n, w=rng.randint(8, 64), d=rng.randint(1, 4)))
            n += 1
        text = "".join(parts)
        package = target / f"pkg{i // 50}"
        package.mkdir(parents=True, exist_ok=True)
        (package / "__init__.py").touch()
        (package / f"mod{i}.py").write_text(text)
        total += text.count("\n")
    return total


def timed(root: Path, args: list[str], repeat: int) -> float:
    env = {**os.environ, "PYTHONPATH": str(root)}
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "compat", "migrate", *args], env=env,
                              capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - start
        if done.returncode not in (0, 1):
            raise SystemExit(f"compat migrate {' '.join(args)} exited {done.returncode}: {done.stderr[-500:]}")
        best = min(best, elapsed)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--lines", type=int, default=200)
    parser.add_argument("--with-cache", type=float, default=0.1, help="share of files using the cache API")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--root", default=str(Path(__file__).resolve().parents[1]),
                        help="checkout whose compat package runs (default: this one)")
    parser.add_argument("--jobs", type=int, nargs="*", default=None,
                        help="--jobs values to time (default: 1 and the CPU count)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    root = Path(args.root).resolve()
    jobs = args.jobs or sorted({1, os.cpu_count() or 1})
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "code"
        n_lines = generate(tree, args.files, args.lines, args.with_cache)
        for job in jobs:
            extra = ["--jobs", str(job)] if job else []
            if not _takes_jobs(root):
                extra = []  # an older commit without --jobs
            lint = timed(root, [str(tree), *extra], args.repeat)
            fix_times = []
            for _ in range(args.repeat):
                copy = Path(tmp) / "fix"
                shutil.rmtree(copy, ignore_errors=True)
                shutil.copytree(tree, copy)
                fix_times.append(timed(root, [str(copy), "--fix", *extra], 1))
            for mode, seconds in (("lint", lint), ("fix", min(fix_times))):
                rows.append({"mode": mode, "jobs": job if extra else 1, "files": args.files, "lines": n_lines,
                             "seconds": round(seconds, 3), "files_per_s": round(args.files / seconds, 1),
                             "ms_per_line": round(1000 * seconds / n_lines, 4)})
            if not extra:
                break
    if args.json:
        print(json.dumps({"root": str(root), "with_cache": args.with_cache, "rows": rows}, indent=2))
    else:
        print(f"compat migrate from {root}: {args.files} files, {rows[0]['lines']} lines, "
              f"{args.with_cache:.0%} using the cache API (wall time of the CLI, best of {args.repeat})")
        for row in rows:
            print(f"  {row['mode']:4s} --jobs {row['jobs']}: {row['seconds']:7.2f} s  "
                  f"{row['files_per_s']:7.1f} files/s  {row['ms_per_line']:.4f} ms/line")
    return 0


def _takes_jobs(root: Path) -> bool:
    return "--jobs" in (root / "compat" / "migrate" / "cli.py").read_text(encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
