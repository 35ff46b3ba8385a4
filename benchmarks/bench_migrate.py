"""Speed of ``compat migrate`` on generated code (figures, not assertions).

Two inputs, both generated with a fixed seed:

* a code base (``--files`` modules of about ``--lines`` lines each): most are ordinary
  code with no cache API in them (the common case in a real code base), a share
  (``--with-cache``, default 10%) holds the cache patterns of the corpus
  (from_legacy_cache, key_cache[i], past_key_values=, cache subclasses...);
* with ``--big-file N``, one module of about N lines (default share of cache blocks:
  ``--big-cache``, 10% of its blocks), like a large modeling file.

Each is checked by the CLI as a user runs it (``python -m compat migrate PATH``, a fresh
process each time, best of ``--repeat``), for lint and ``--fix`` (on a copy), with
``--jobs 1`` and with one job per CPU. Reported: wall seconds, CPU seconds (user+system,
workers included: steadier than wall time on a shared machine), files/s, ms/line and
the peak RSS of the largest process.

``--root`` picks the checkout whose ``compat`` runs, e.g. an older commit's files
(``git archive <commit> compat | tar -x -C /tmp/old``). The CLI runs with that
checkout as its working directory (``python -m`` puts the working directory first on
``sys.path``, so running from another checkout would measure that one instead):

    python benchmarks/bench_migrate.py [--files 200] [--lines 200] [--big-file 20000] [--root .] [--json]
"""

from __future__ import annotations

import argparse
import dataclasses
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


def _module(i: int, lines: int, cache_every: int, rng: random.Random) -> str:
    """About ``lines`` lines; every ``cache_every``-th block uses the cache API (0: none)."""
    parts = [(HEADER_CACHE if cache_every else HEADER_PLAIN).format(i=i)]
    count = parts[0].count("\n")
    n = 0
    while count < lines:
        block = CACHE_BLOCK if cache_every and n % cache_every == 0 else PLAIN_BLOCK
        parts.append(block.format(n=n, w=rng.randint(8, 64), d=rng.randint(1, 4)))
        count += parts[-1].count("\n")
        n += 1
    return "".join(parts)


def generate(target: Path, files: int, lines: int, with_cache: float, seed: int = 0) -> int:
    """Write the code base; returns its line count."""
    rng = random.Random(seed)
    total = 0
    for i in range(files):
        cached = rng.random() < with_cache
        text = _module(i, lines, 4 if cached else 0, rng)
        package = target / f"pkg{i // 50}"
        package.mkdir(parents=True, exist_ok=True)
        (package / "__init__.py").touch()
        (package / f"mod{i}.py").write_text(text)
        total += text.count("\n")
    return total


def generate_big(target: Path, lines: int, cache_share: float, seed: int = 0) -> int:
    """Write one module of about ``lines`` lines; returns its line count."""
    every = max(1, round(1 / cache_share)) if cache_share > 0 else 0
    text = _module(0, lines, every, random.Random(seed))
    target.mkdir(parents=True, exist_ok=True)
    (target / "big_model.py").write_text(text)
    return text.count("\n")


@dataclasses.dataclass(frozen=True)
class Run:
    """One CLI run: wall and CPU seconds (workers included), peak RSS of the largest process."""

    wall: float
    cpu: float
    rss_mb: float


def run_once(root: Path, args: list[str]) -> Run:
    env = {**os.environ, "PYTHONPATH": str(root)}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-m", "compat", "migrate", *args], env=env, cwd=root,
                                   stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode not in (0, 1):
            err.seek(0)
            raise SystemExit(f"compat migrate {' '.join(args)} exited {process.returncode}: "
                             f"{err.read().decode(errors='replace')[-500:]}")
    # ru_maxrss is in KiB on Linux; wait4 folds the reaped worker processes into the child's usage
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def timed(root: Path, args: list[str], repeat: int) -> Run:
    """Best of ``repeat`` runs (by wall time)."""
    return min((run_once(root, args) for _ in range(repeat)), key=lambda r: r.wall)


def measure(root: Path, tree: Path, scratch: Path, n_files: int, n_lines: int, jobs: list[int],
            repeat: int, label: str) -> list[dict]:
    """Lint and --fix (on a fresh copy each time) of ``tree`` with each ``--jobs`` value."""
    rows = []
    for job in jobs:
        extra = ["--jobs", str(job)] if _takes_jobs(root) else []  # an older commit has no --jobs
        lint = timed(root, [str(tree), *extra], repeat)
        fixes = []
        for _ in range(repeat):
            copy = scratch / "fix"
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(tree, copy)
            fixes.append(run_once(root, [str(copy), "--fix", *extra]))
        for mode, run in (("lint", lint), ("fix", min(fixes, key=lambda r: r.wall))):
            rows.append({"input": label, "mode": mode, "jobs": job if extra else 1, "files": n_files,
                         "lines": n_lines, "seconds": round(run.wall, 3), "cpu_seconds": round(run.cpu, 3),
                         "files_per_s": round(n_files / run.wall, 1),
                         "ms_per_line": round(1000 * run.wall / n_lines, 4), "peak_rss_mb": round(run.rss_mb, 1)})
        if not extra:
            break
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=200, help="modules in the code base (0: none)")
    parser.add_argument("--lines", type=int, default=200)
    parser.add_argument("--with-cache", type=float, default=0.1, help="share of files using the cache API")
    parser.add_argument("--big-file", type=int, default=0, metavar="N", help="also one module of about N lines")
    parser.add_argument("--big-cache", type=float, default=0.1, help="share of the big module's blocks using it")
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
        scratch = Path(tmp)
        if args.files:
            tree = scratch / "code"
            n_lines = generate(tree, args.files, args.lines, args.with_cache)
            rows += measure(root, tree, scratch, args.files, n_lines, jobs, args.repeat,
                            f"code base, {args.with_cache:.0%} of files using the cache API")
        if args.big_file:
            big = scratch / "big"
            n_lines = generate_big(big, args.big_file, args.big_cache)
            rows += measure(root, big, scratch, 1, n_lines, [1], args.repeat,
                            f"one file, {args.big_cache:.0%} of its blocks using the cache API")
    if args.json:
        print(json.dumps({"root": str(root), "rows": rows}, indent=2))
        return 0
    print(f"compat migrate from {root} (wall time of the CLI, best of {args.repeat})")
    for row in rows:
        print(f"  {row['input']}: {row['files']} files, {row['lines']} lines; {row['mode']:4s} --jobs {row['jobs']}: "
              f"{row['seconds']:7.2f} s ({row['cpu_seconds']:.2f} s CPU)  {row['files_per_s']:7.1f} files/s  "
              f"{row['ms_per_line']:.4f} ms/line  peak RSS {row['peak_rss_mb']:.0f} MB")
    return 0


def _takes_jobs(root: Path) -> bool:
    return "--jobs" in (root / "compat" / "migrate" / "cli.py").read_text(encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
