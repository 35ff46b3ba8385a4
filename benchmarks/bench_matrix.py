"""Matrix overheads, measured (figures, not assertions): see docs/matrix.md.

    python benchmarks/bench_matrix.py env       # per-cell environment build, warm uv cache
    python benchmarks/bench_matrix.py imports   # interpreter start-up: no .pyc vs lazily written .pyc
    python benchmarks/bench_matrix.py run matrices/smoke.toml [--jobs 2] [--fresh-envs]
    python benchmarks/bench_matrix.py incremental matrices/default.toml --template reports/cells/CELL.json
    python benchmarks/bench_matrix.py floor reports [--cores 2] [--baseline 11:31]

Each prints a Markdown table. Timings on a shared machine are noisy: the load
average is printed with every figure.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from compat.envs import EnvSpec, build_env  # noqa: E402
from compat.toolchain import torch_source  # noqa: E402

PAIR = ["transformers==4.46.3", "peft==0.14.0"]


def _load() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def bench_env(repeat: int) -> None:
    source = torch_source()
    work = Path(tempfile.mkdtemp(prefix="bench-env-"))
    build_env(EnvSpec("warmup", PAIR), work, import_check=False, source=source)  # fills the uv cache
    rows = []
    for label, kwargs in [
        ("fresh env (venv + hardlinked install + metadata check)", {}),
        ("fresh env + import check (torch.version.cuda)", {"import_check": True}),
        ("fresh env, --compile-bytecode", {"compile_bytecode": True}),
        ("reused env (same fingerprint)", {"reuse": True}),
    ]:
        times = []
        for i in range(repeat):
            name = "reuse" if kwargs.get("reuse") else f"cell{i}"
            t0 = time.perf_counter()
            build_env(EnvSpec(name, PAIR), work, source=source,
                      **{"import_check": False, **kwargs})
            times.append(time.perf_counter() - t0)
        if kwargs.get("reuse"):
            times = times[1:] or times  # the first call builds it
        rows.append((label, times))
    print(f"| per-cell environment ({' '.join(PAIR)}) | median | runs (s) | load avg |")
    print("|---|---:|---|---|")
    for label, times in rows:
        print(f"| {label} | {statistics.median(times):.2f} s | {', '.join(f'{t:.2f}' for t in times)} | {_load()} |")


def bench_imports(repeat: int) -> None:
    source = torch_source()
    work = Path(tempfile.mkdtemp(prefix="bench-imp-"))
    env = build_env(EnvSpec("imports", PAIR), work, import_check=False, source=source)
    code = "import torch, transformers, peft"
    rows = []
    for label, pyc in [("PYTHONDONTWRITEBYTECODE=1 (this machine's default)", "1"),
                       ("PYTHONDONTWRITEBYTECODE='' (1st run writes .pyc)", ""),
                       ("PYTHONDONTWRITEBYTECODE='' (.pyc present)", "")]:
        times = []
        for _ in range(repeat if label.endswith("present)") or pyc == "1" else 1):
            run_env = env.environ()
            run_env["PYTHONDONTWRITEBYTECODE"] = pyc
            t0 = time.perf_counter()
            subprocess.run([str(env.python), "-c", code], env=run_env, check=True)
            times.append(time.perf_counter() - t0)
        rows.append((label, times))
    print(f"| `{code}` in a uv cell | median | runs (s) | load avg |")
    print("|---|---:|---|---|")
    for label, times in rows:
        print(f"| {label} | {statistics.median(times):.2f} s | {', '.join(f'{t:.2f}' for t in times)} | {_load()} |")


def bench_run(matrix: str, jobs: int, fresh: bool, extra: list[str]) -> None:
    out = Path(tempfile.mkdtemp(prefix="bench-run-"))
    cmd = [sys.executable, "-m", "compat.matrix", "run", "--matrix", matrix, "--jobs", str(jobs),
           "--out", str(out), *(["--fresh-envs"] if fresh else []), *extra]
    load0 = _load()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, check=False)
    wall = time.perf_counter() - t0
    print("| matrix | jobs | envs | wall | exit | load avg before / after |\n|---|---:|---|---:|---:|---|")
    print(f"| {matrix} | {jobs} | {'fresh' if fresh else 'reused'} | {wall:.0f} s | {proc.returncode} "
          f"| {load0} / {_load()} |")
    print(f"\nreports: {out}")


def bench_incremental(matrix_path: str, template: str, repeat: int) -> None:
    """A warm ``--incremental`` rerun of a whole matrix with nothing changed: every cell reused.

    The store is seeded with one stored result per cell, made from ``template`` (a real cell result)
    under the inputs this checkout would compute for that cell, so the run reads, judges and reports
    every cell exactly as a real warm rerun does; the statuses it prints are the template's outcomes
    judged against each cell's declarations, a timing fixture, not a result."""
    from compat.matrix import incremental
    from compat.matrix.cellresult import CellResult
    from compat.matrix.config import load_matrix
    from compat.matrix.runner import suite_digest
    from compat.matrix.store import load_cell_result

    matrix = load_matrix(Path(matrix_path))
    base = load_cell_result(template)
    work = Path(tempfile.mkdtemp(prefix="bench-inc-"))
    store = incremental.ResultStore(work / incremental.STORE_DIR)
    cells = list(matrix.cells)
    inputs = incremental.matrix_inputs(matrix, cells, torch=matrix.torch or torch_source().spec, profile="matrix",
                                       suite_digest=suite_digest(ROOT, matrix.all_suites()), pytest_args=())
    for cell in cells:
        store.save(inputs[cell.name], CellResult.from_json({**base.to_json(), "cell": cell.to_json()}))
    print("| matrix | cells | run | wall | exit | load avg before / after |\n|---|---:|---|---:|---:|---|")
    for i in range(repeat):
        out = Path(tempfile.mkdtemp(prefix="bench-inc-out-"))
        cmd = [sys.executable, "-m", "compat.matrix", "run", "--matrix", matrix_path, "--incremental",
               "--work", str(work), "--out", str(out)]
        load0 = _load()
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, check=False, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        reused = proc.stdout.count("[reused]")
        print(f"| {matrix_path} | {len(matrix.cells)} ({reused} reused) | warm #{i + 1} | {wall:.1f} s | "
              f"{proc.returncode} | {load0} / {_load()} |")


def _check_name(testcase) -> str:
    """``file.py::test_name`` of a JUnit testcase (its parameters dropped)."""
    module = testcase.get("classname", "").rsplit(".", 1)[-1]
    return f"{module}.py::{testcase.get('name', '').split('[', 1)[0]}"


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)} min {seconds % 60:02.0f} s"


def bench_floor(reports: str, cores: int, baseline: str | None, top: int) -> None:
    """How much of a finished matrix run is the checks themselves, and the wall it could not go below.

    Reads every cell of ``reports/cells`` (its result JSON and JUnit XML, as the run wrote them):
    the tests' own time (setup + call + teardown of every test, pytest's JUnit ``time``) against the
    cell's whole pytest process. With no per-process cost (interpreter, imports, collection, session
    end) and perfect packing on ``cores``, the matrix could not finish sooner than the tests' own
    time divided by ``cores``: the floor for any speed-up that keeps every check. A cell that
    cannot be read is an error, not left out."""
    import collections
    import json
    import xml.etree.ElementTree as ET

    folder = Path(reports) / "cells"
    results = sorted(folder.glob("*.json"))
    if not results:
        raise SystemExit(f"{folder}: no cell results (expected <cell>.json and <cell>.junit.xml from a matrix run)")
    tests_s = process_s = 0.0
    count = 0
    per_check: collections.Counter[str] = collections.Counter()
    for result in results:
        junit = result.with_suffix(".junit.xml")
        try:
            process_s += float(json.loads(result.read_text(encoding="utf-8"))["durations"]["pytest"])
            cases = list(ET.parse(junit).getroot().iter("testcase"))
        except (OSError, ValueError, KeyError, ET.ParseError) as exc:
            raise SystemExit(f"{result.name}: cannot read the cell's result or its JUnit XML ({exc})") from exc
        for case in cases:
            seconds = float(case.get("time", 0) or 0)
            per_check[_check_name(case)] += seconds
            tests_s += seconds
            count += 1
    floor = tests_s / cores
    print(f"| cells | tests | tests' own time | cells' pytest processes | rest (start-up, imports, "
          f"session end) | floor on {cores} cores | load avg now |")
    print("|---:|---:|---:|---:|---:|---:|---|")
    print(f"| {len(results)} | {count:,} | {tests_s:.0f} s | {process_s:.0f} s | {process_s - tests_s:.0f} s "
          f"({(process_s - tests_s) / process_s:.0%}) | **{_minutes(floor)}** | {_load()} |")
    if baseline:
        minutes, _, seconds = baseline.partition(":")
        base_s = int(minutes) * 60 + int(seconds or 0)
        print(f"\nAgainst a baseline of {_minutes(base_s)} (one third: {_minutes(base_s / 3)}), a speed-up that "
              f"keeps this run's checks and their work could reach at most {base_s / floor:.2f}x.")
    print(f"\n| check (the {top} costliest over all cells) | tests' own time | share |")
    print("|---|---:|---:|")
    for name, seconds in per_check.most_common(top):
        print(f"| `{name}` | {seconds:.1f} s | {seconds / tests_s:.1%} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    sub.add_parser("env").add_argument("--repeat", type=int, default=3)
    sub.add_parser("imports").add_argument("--repeat", type=int, default=3)
    run = sub.add_parser("run")
    run.add_argument("matrix")
    run.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    run.add_argument("--fresh-envs", action="store_true")
    run.add_argument("extra", nargs="*")
    inc = sub.add_parser("incremental")
    inc.add_argument("matrix")
    inc.add_argument("--template", required=True, help="a real cell result JSON (reports/cells/<cell>.json)")
    inc.add_argument("--repeat", type=int, default=3)
    floor = sub.add_parser("floor")
    floor.add_argument("reports", help="a matrix run's reports folder (its cells/ folder is read)")
    floor.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    floor.add_argument("--baseline", help="a whole run's wall to compare with, MIN:SS")
    floor.add_argument("--top", type=int, default=12)
    args = p.parse_args()
    if args.what == "floor":
        bench_floor(args.reports, args.cores, args.baseline, args.top)
    elif args.what == "env":
        bench_env(args.repeat)
    elif args.what == "imports":
        bench_imports(args.repeat)
    elif args.what == "incremental":
        bench_incremental(args.matrix, args.template, args.repeat)
    else:
        bench_run(args.matrix, args.jobs, args.fresh_envs, args.extra)


if __name__ == "__main__":
    main()
