"""CLI: ``python -m compat.matrix run [...]`` and ``python -m compat.matrix report merge DIR...``.

Also ``peft-cache-compat matrix ...`` and ``peft-cache-compat report merge DIR...`` (an install's
console command). The default matrix, suites and catalogues come from :mod:`compat.resources`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
from pathlib import Path

from compat import resources
from compat.matrix.config import MatrixError, load_matrix
from compat.testing.profiles import PROFILES
from compat.tools.outputs import OutputError
from compat.tools.runlock import FolderBusyError, hold_folder


def _parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run (or --list) the cells of a matrix file")
    run.add_argument("--matrix", type=Path, default=None,
                     help="matrix TOML (default: matrices/default.toml of the data root, see compat.resources)")
    run.add_argument("--cells", metavar="PATTERN", help="glob on cell names, or tag:GLOB; comma = or")
    run.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1, help="cells in parallel (default: cores)")
    run.add_argument("--timeout", type=float, default=1800.0, metavar="S",
                     help="pytest time limit per cell in seconds (> 0; default 1800)")
    run.add_argument("--resume", action="store_true", help="keep finished cells from --out, run the rest")
    run.add_argument("--incremental", action="store_true",
                     help="rerun only cells whose inputs (versions, suite + shim hash, ...) changed since a run "
                          "stored under --work/store; reuse the others")
    run.add_argument("--list", action="store_true", help="print the cells instead of running them")
    run.add_argument("--json", action="store_true", help="with --list: JSON for a CI fan-out")
    run.add_argument("--out", type=Path, default=None,
                     help="report folder (default: the checkout's reports/, from an install ./reports)")
    run.add_argument("--work", type=Path, default=None, help="environments and scratch (default: the "
                     "checkout's .matrix-work/, from an install ~/.cache/peft-cache-compat/matrix)")
    run.add_argument("--fresh-envs", action="store_true", help="rebuild every cell environment")
    run.add_argument("--pytest-workers", type=int, default=0, metavar="N", help="pytest-xdist workers per cell")
    run.add_argument("--profile", choices=sorted(PROFILES), default="matrix",
                     help="suite profile per cell (default: %(default)s; see compat/testing/profiles.py)")
    run.add_argument("--strict", action="store_true", help="an XPASS (declared failure that passes) fails the run")
    run.add_argument("--no-merge", action="store_true", help="write per-cell results only (CI fan-out jobs)")
    run.add_argument("pytest_args", nargs="*", help="after --: extra pytest arguments for every cell")
    rep = sub.add_parser("report", help="merge per-cell results into matrix.{json,md,html}")
    rep_sub = rep.add_subparsers(dest="action", required=True)
    merge = rep_sub.add_parser("merge", help="merge per-cell JSON files found (recursively) under DIRs")
    merge.add_argument("dirs", nargs="+", type=Path)
    merge.add_argument("--out", type=Path, default=None,
                       help="report folder (default: the checkout's reports/, from an install ./reports)")
    merge.add_argument("--strict", action="store_true")
    merge.add_argument("--summary", action="store_true", help="also print matrix.md to stdout")
    return p


def _list(cells, as_json: bool) -> None:
    if as_json:
        print(json.dumps([
            {"name": c.name, "transformers": c.transformers, "peft": c.peft, "tags": list(c.tags),
             "expect": c.expect, "known_issues": [k.id for k in c.known]} for c in cells
        ]))
        return
    for c in cells:
        extra = f"  expect={c.expect} ({c.reason})" if c.expect else ""
        tags = f"  [{', '.join(c.tags)}]" if c.tags else ""
        known = f"  {len(c.known)} known issues" if c.known else ""
        print(f"{c.name:<24} transformers=={c.transformers:<8} peft=={c.peft:<7}{tags}{known}{extra}")


def _command(prog: str, argv) -> str:
    """How this run was started, for the lock's owner record (``nox -s matrix`` runs the module)."""
    return " ".join([prog, shlex.join(argv)]).strip()


def _timeout_problem(value: float) -> str | None:
    if not math.isfinite(value) or value <= 0:
        return f"--timeout must be a positive number of seconds, got {value:g}"
    return None


def _merge(args, command: str) -> int:
    from compat.matrix.report import MergeError, load_results, markdown, write_reports

    try:
        found = load_results(args.dirs)
    except MergeError as exc:
        for line in exc.problems:
            print(f"compat.matrix report: {line}", file=sys.stderr)
        print(f"compat.matrix report: {len(exc.problems)} unusable file(s); nothing merged", file=sys.stderr)
        return 2
    if found.ignored:
        shown = ", ".join(map(str, found.ignored[:5])) + (" ..." if len(found.ignored) > 5 else "")
        print(f"compat.matrix report: ignored {len(found.ignored)} JSON file(s) that are not cell results: {shown}",
              file=sys.stderr)
    if not found.results:
        print(f"compat.matrix report: no cell results under {[str(d) for d in args.dirs]}", file=sys.stderr)
        return 2
    with hold_folder(args.out, "matrix", command):
        doc = write_reports(found.results, args.out, strict=args.strict)
    if args.summary:
        print(markdown(found.results, strict=args.strict))
    print(f"merged {len(found.results)} cells -> {args.out}/matrix.{{json,md,html}}", file=sys.stderr)
    return 0 if doc["summary"]["ok"] else 1


def _run(args, command: str) -> int:
    try:
        matrix = load_matrix(args.matrix or resources.default_matrix())
        cells = matrix.select(args.cells)
    except MatrixError as exc:
        print(f"compat.matrix: {exc}", file=sys.stderr)
        return 2
    if args.list:
        _list(cells, args.json)
        return 0
    problem = "--jobs must be >= 1" if args.jobs < 1 else _timeout_problem(args.timeout)
    if problem:
        print(f"compat.matrix: {problem}", file=sys.stderr)
        return 2
    from compat.matrix.report import summary, write_reports
    from compat.matrix.runner import RunOptions, run_cells

    opts = RunOptions(
        out=args.out.resolve(), work=args.work.resolve(), jobs=args.jobs, timeout=args.timeout,
        resume=args.resume, reuse_envs=not args.fresh_envs, pytest_workers=args.pytest_workers,
        pytest_args=tuple(args.pytest_args), profile=args.profile, incremental=args.incremental,
    )
    with hold_folder(opts.out, "matrix", command):
        try:
            results = run_cells(matrix, cells, opts)
        except KeyboardInterrupt:
            return 130
        if args.no_merge:
            s = summary(results, strict=args.strict)
        else:
            s = write_reports(results, opts.out, strict=args.strict)["summary"]
    print(f"{s['cells']} cells: " + ", ".join(f"{v} {k}" for k, v in s["statuses"].items()))
    if not args.no_merge:
        print(f"reports: {opts.out}/matrix.md, matrix.html, matrix.json; per cell: {opts.out}/cells/")
    if not s["ok"]:
        print(f"unexpected failures: {', '.join(s['failing_cells'])}", file=sys.stderr)
        return 1
    return 0


def _default_folders(args) -> None:
    """Fill ``--out`` (and ``--work``) left out with :mod:`compat.resources`' defaults."""
    args.out = args.out if args.out is not None else resources.reports_dir()
    if args.command == "run":
        args.work = args.work if args.work is not None else resources.matrix_work_dir()


def main(argv=None, prog: str = "python -m compat.matrix") -> int:
    """``prog run|report ...``; ``prog``: how it was started (the console command passes its own)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser(prog).parse_args(argv)
    said = "compat.matrix report" if args.command == "report" else "compat.matrix"
    try:
        _default_folders(args)
        command = _command(prog, argv)
        return _merge(args, command) if args.command == "report" else _run(args, command)
    except (OutputError, FolderBusyError) as exc:  # a read-only or full output folder, another run
        print(f"{said}: {exc}", file=sys.stderr)
        return 2
    except resources.ResourceError as exc:  # neither a checkout nor a complete install
        print(f"{said}: {exc}", file=sys.stderr)
        return 2


def report_main(argv=None, prog: str = "peft-cache-compat report") -> int:
    """``peft-cache-compat report merge DIR...``: the matrix's ``report`` subcommand on its own."""
    argv = list(sys.argv[1:] if argv is None else argv)
    return main(["report", *argv], prog=prog.removesuffix(" report"))


if __name__ == "__main__":
    sys.exit(main())
