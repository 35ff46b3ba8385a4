"""``peft-cache-compat census`` / ``python -m compat census`` / ``nox -s census``: the architecture
census of the installed transformers + peft -> ``reports/census.{json,md,html}``.

Exit code 0 when the census ran (its findings are the report, not the exit code), 2 on bad
input (an unknown architecture id) or when torch, transformers, peft or the shim does not import
(``error:import``, as a matrix cell would say).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["main"]


def _parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Census every causal-LM and seq2seq-LM architecture of the "
                                "installed transformers: build each tiny, run prefix/prompt/p-tuning checks.")
    p.add_argument("--archs", default="", help="comma-separated architecture ids (default: all)")
    p.add_argument("--sample", action="store_true", help="only the fixed CI sample (compat.census.sample)")
    p.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    p.add_argument("--out", default="reports", help="reports folder (default reports/)")
    p.add_argument("--list", action="store_true", help="list the architecture ids and exit")
    return p


def main(argv: list[str] | None = None, prog: str = "peft-cache-compat census") -> int:
    args = _parser(prog).parse_args(argv)
    from compat.census import registry, report, run, sample

    failed = run.check_imports()  # before the registry reads transformers: one line, not a traceback
    if failed is not None:
        print(f"{prog}: {failed.status}: {failed.message}", file=sys.stderr)
        return 2
    known_ids = [a.id for a in registry.architectures()]
    if args.list:
        print("\n".join(known_ids))
        return 0
    chosen = [s.strip() for s in args.archs.split(",") if s.strip()] or (
        list(sample.present(known_ids)) if args.sample else known_ids)
    unknown = [a for a in chosen if a not in known_ids]
    if unknown:
        print(f"{prog}: unknown architecture id(s) {', '.join(unknown)}; see --list", file=sys.stderr)
        return 2
    if args.jobs < 1:
        print(f"{prog}: --jobs must be at least 1, got {args.jobs}", file=sys.stderr)
        return 2

    def progress(r, done: int, total: int) -> None:
        print(f"[{done:3d}/{total}] {r.arch:28s} {r.status.value:15s} {r.seconds:6.1f}s", flush=True)

    census = run.run_census(chosen, jobs=args.jobs, progress=progress)
    s = report.write_reports(census, Path(args.out))
    print(f"census: {s['archs']} architectures, {s['built']} built ({s['built_pct']} %); "
          f"architectures {s['arch_statuses']}; architecture x method {s['method_statuses']}; "
          f"wall {s['seconds']['wall']} s -> {args.out}/census.{{json,md,html}}")
    return 0
