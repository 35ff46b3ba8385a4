"""One matrix cell's suite (tests/shim, tests/property, tests/equivalence), measured.

Run from the repository root with the python of the environment to measure (figures, not
assertions; docs/suites.md and docs/matrix.md "Speed")::

    PY=/work/main/.nox/tests/bin/python
    $PY benchmarks/bench_suite.py                  # wall -n 2 and -n 0 + largest max_abs_diff per check
    $PY benchmarks/bench_suite.py --workers 2
    $PY benchmarks/bench_suite.py profile          # where one cell's time goes (matrix profile, as a cell runs)
    $PY benchmarks/bench_suite.py profile --python ENV/bin/python --json out.json
    $PY benchmarks/bench_suite.py compare --before /tmp/main-checkout --rounds 3   # before/after, interleaved

``profile`` runs the suite exactly as a matrix cell does (the shared runner's command and
environment, ``compat.suiterun.run.SuiteRun``: the probe plugin, one thread,
``PCC_SUITE_PROFILE=matrix``, ``HYPOTHESIS_PROFILE=matrix``) with the timing plugin
``benchmarks/suite_timing.py`` and prints: the process split (start-up and imports, collection,
fixtures, test bodies, the rest), the cost of each check, and the time per family and per method
(how the total grows with families x methods). ``compare`` runs the same suite from two checkouts
alternately (before, after, before, after, ...) in one session, so both see the same machine load.
Timings on a shared machine are noisy; every figure is printed with the load average.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from compat.matrix.config import DEFAULT_SUITE as CELL_SUITE  # noqa: E402
from compat.testing.methods import METHODS  # noqa: E402  (no torch import)


def _load() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


# --------------------------------------------------------------------------- -n 2 vs -n 0 (the original figure)


def run(workers: int, junit: str) -> tuple[float, int]:
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}",
           "-n", str(workers), *CELL_SUITE]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(f"    CPU seconds of all pytest processes: {cpu:.1f} (a load-independent proxy: on 2 idle cores "
          f"-n 2 takes about max(cpu/2, cpu of the slowest worker) + start-up)")
    print(proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-500:])
    return wall, proc.returncode


def max_diffs(junit: str) -> dict:
    """check name -> (max of max_abs_diff, test id where it occurred)."""
    out: dict = collections.defaultdict(lambda: (0.0, ""))
    for case in ET.parse(junit).iter("testcase"):
        name = case.get("name", "")
        check = name.split("[")[0]
        for prop in case.iter("property"):
            if prop.get("name") == "max_abs_diff":
                value = float(prop.get("value"))
                if value >= out[check][0]:
                    out[check] = (value, name)
    return dict(out)


def workers_mode(workers: list[int]) -> None:
    print(f"python {sys.executable}; load average {os.getloadavg()} on {os.cpu_count()} cpus")
    for n in workers:
        with tempfile.TemporaryDirectory() as tmp:
            junit = os.path.join(tmp, "junit.xml")
            wall, rc = run(n, junit)
            print(f"-n {n}: wall {wall:.1f} s (exit {rc}); load average now {os.getloadavg()}")
            if os.path.exists(junit):
                for check, (value, where) in sorted(max_diffs(junit).items()):
                    print(f"    max_abs_diff {value:.3g}  {check}  ({where})")


# --------------------------------------------------------------------------- one cell, as the matrix runs it


def cell_run(python: str, root: Path, timing: Path | None, *, workers: int = 0, profile: str = "matrix",
             extra: tuple[str, ...] = ()) -> tuple[float, float, str]:
    """Run the cell suite from ``root`` with ``python`` exactly as a matrix cell does (the shared
    runner's command and environment, :class:`compat.suiterun.run.SuiteRun`): (wall s, CPU s of
    the pytest processes, summary line)."""
    from compat.suiterun.run import SuiteRun, existing_paths

    plugin = ("-p", "benchmarks.suite_timing") if timing is not None else ()
    environ = {k: v for k, v in os.environ.items() if k not in ("PCC_BENCH_TIMING", "PCC_BENCH_T0")}
    if timing is not None:
        environ["PCC_BENCH_TIMING"] = str(timing)
    with tempfile.TemporaryDirectory(prefix="bench-cell-") as tmp:
        run = SuiteRun(python=python, paths=existing_paths(root, CELL_SUITE), root=root, scratch=Path(tmp),
                       name="bench", log=Path(tmp) / "log", timeout=1800.0, environ=environ, profile=profile,
                       workers=workers, pytest_args=(*plugin, *extra))
        run.prepare()
        env = run.environment()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        env["PCC_BENCH_T0"] = repr(time.time())
        start = time.perf_counter()
        proc = subprocess.run(run.command(), cwd=root, env=env, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    lines = proc.stdout.strip().splitlines()
    summary = lines[-1] if lines else proc.stderr.strip()[-300:]
    if proc.returncode not in (0, 1):
        raise SystemExit(f"bench_suite: pytest exited {proc.returncode} in {root}: {summary}")
    return wall, cpu, summary


def _split_id(nodeid: str) -> tuple[str, str, str]:
    """(check = file::function, family, method) of a test id; family/method '' where it has none."""
    check, _, params = nodeid.partition("[")
    parts = params.rstrip("]").split("-")
    for i in range(1, len(parts)):
        if parts[i] in METHODS:
            return check, parts[i - 1], parts[i]
    return check, "", ""


def _table(title: str, header: str, rows: list[str]) -> None:
    print(f"\n{title}\n\n{header}\n|{'---|' * header.count('|', 1)}")
    print("\n".join(rows))


def _family_method(nodeid: str) -> tuple[str, str]:
    """(family, method) of a suite test id, ('', '') for the shim/property tests without one."""
    from compat.testing.zoo import FAMILY_IDS

    _, family, method = _split_id(nodeid)
    return (family, method) if family in FAMILY_IDS else ("", "")


def report(data: dict, wall: float, cpu_total: float, top: int) -> None:
    """Print the process split, per-check cost and per-family/method time of one profiled run.

    Wall seconds depend on the machine's load; CPU seconds (the pytest process's own) much less, so
    the per-check and growth tables are in CPU seconds of each test's whole protocol."""
    m, c, tests = data["marks"], data["cpu"], data["tests"]
    t0 = m.get("process_start", m["plugin"])
    in_tests = m["session_end"] - m["collect_end"]
    phases = sum(t["setup"] + t["call"] + t["teardown"] for t in tests.values())
    test_cpu = sum(t["cpu"] for t in tests.values())
    outcomes = collections.Counter(t["outcome"] for t in tests.values())
    split = [
        ("interpreter + pytest start-up, plugins", m["plugin"] - t0, c["plugin"]),
        ("probe imports (torch, transformers, peft, compat) + conftests", m["configure"] - m["plugin"],
         c["configure"] - c["plugin"]),
        (f"collection ({int(m.get('collected', 0))} tests)", m["collect_end"] - m["collect_start"],
         c["collect_end"] - c["collect_start"]),
        ("setup (fixtures: building each (family, method) case on first use)",
         sum(t["setup"] for t in tests.values()), None),
        ("test bodies (call)", sum(t["call"] for t in tests.values()), None),
        ("teardown", sum(t["teardown"] for t in tests.values()), None),
        ("pytest's own per-test work (hooks, reporting)", in_tests - phases, None),
        ("all tests together (CPU: the tests' whole protocols)", in_tests, test_cpu),
        ("session end -> exit (JUnit, summary, interpreter shutdown)", t0 + wall - m["session_end"],
         cpu_total - c["session_end"]),
    ]
    rows = [f"| {name} | {s:.1f} | {100 * s / wall:.0f} % | {'' if u is None else f'{u:.1f}'} |"
            for name, s, u in split]
    _table(f"Process split (wall {wall:.1f} s, CPU {cpu_total:.1f} s; {dict(outcomes)}; load now {_load()})",
           "| part | wall s | share of wall | CPU s |", rows)
    by_check: dict = collections.defaultdict(lambda: [0, 0.0])
    by_family: dict = collections.defaultdict(float)
    by_method: dict = collections.defaultdict(float)
    pairs = set()
    for nodeid, t in tests.items():
        check = nodeid.partition("[")[0]
        by_check[check][0] += 1
        by_check[check][1] += t["cpu"]
        family, method = _family_method(nodeid)
        if family:
            by_family[family] += t["cpu"]
            by_method[method] += t["cpu"]
            pairs.add((family, method))
    ranked = sorted(by_check.items(), key=lambda kv: -kv[1][1])
    _table(f"Per check (the {top} costliest; CPU s of all tests: {test_cpu:.1f})",
           "| check | tests | CPU s | mean ms | share |",
           [f"| `{name.split('/')[-1]}` | {n} | {s:.2f} | {1000 * s / n:.0f} | {100 * s / test_cpu:.1f} % |"
            for name, (n, s) in ranked[:top]])
    fm = sum(by_family.values())
    per_process = cpu_total - test_cpu
    _table(f"Growth: {len(by_family)} families x {len(by_method)} methods = {len(pairs)} (family, method) pairs "
           f"carry {fm:.1f} CPU s, {fm / max(len(pairs), 1):.3f} s a pair; shim/property tests without one "
           f"{test_cpu - fm:.1f} s; per process {per_process:.1f} s. A cell costs about "
           f"{per_process:.1f} + {test_cpu - fm:.1f} + pairs x {fm / max(len(pairs), 1):.3f} CPU s",
           "| family | CPU s |", [f"| {f} | {s:.2f} |" for f, s in sorted(by_family.items(), key=lambda kv: -kv[1])])
    _table("Per method", "| method | CPU s |",
           [f"| {k} | {s:.2f} |" for k, s in sorted(by_method.items(), key=lambda kv: -kv[1])])


def profile_mode(pythons: list[str], root: Path, out_json: str | None, top: int, profile: str) -> None:
    for python in pythons:
        with tempfile.TemporaryDirectory(prefix="bench-prof-") as tmp:
            timing = Path(tmp) / "timing.json"
            load0 = _load()
            wall, cpu, summary = cell_run(python, root, timing, profile=profile)
            data = json.loads(timing.read_text(encoding="utf-8"))
        print(f"\n## {python} ({profile} profile) from {root}\n\n{summary}; wall {wall:.1f} s, CPU {cpu:.1f} s; "
              f"load before / after: {load0} / {_load()} on {os.cpu_count()} cpus")
        report(data, wall, cpu, top)
        if out_json:
            Path(out_json).write_text(json.dumps({"python": python, "wall": wall, "cpu": cpu, **data}),
                                      encoding="utf-8")


def compare_mode(python: str, before: Path, after: Path, rounds: int, workers: int, profile: str) -> None:
    """Alternate the two checkouts' cell suite ``rounds`` times; print every run and the medians."""
    walls: dict = {"before": [], "after": []}
    cpus: dict = {"before": [], "after": []}
    print("| round | checkout | wall s | CPU s | result | load avg before |\n|---:|---|---:|---:|---|---|")
    for i in range(rounds):
        for label, root in (("before", before), ("after", after)):
            load0 = _load()
            wall, cpu, summary = cell_run(python, root, None, workers=workers, profile=profile)
            walls[label].append(wall)
            cpus[label].append(cpu)
            print(f"| {i + 1} | {label} ({root}) | {wall:.1f} | {cpu:.1f} | {summary} | {load0} |", flush=True)
    b, a = statistics.median(walls["before"]), statistics.median(walls["after"])
    bc, ac = statistics.median(cpus["before"]), statistics.median(cpus["after"])
    print(f"\nmedian wall: before {b:.1f} s, after {a:.1f} s (x{b / a:.2f}); "
          f"median CPU: before {bc:.1f} s, after {ac:.1f} s (x{bc / ac:.2f}); python {python}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0].startswith("-"):
        ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        ap.add_argument("--workers", type=int, action="append", help="xdist workers (repeatable); default 2 and 0")
        args = ap.parse_args(argv)
        workers_mode(args.workers or [2, 0])
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    prof = sub.add_parser("profile", help="where one cell's time goes")
    prof.add_argument("--python", action="append", help="environment python (repeatable; default: this one)")
    prof.add_argument("--root", type=Path, default=ROOT, help="checkout whose suite runs (default: this one)")
    prof.add_argument("--json", help="also write the raw timings here")
    prof.add_argument("--top", type=int, default=25, help="checks listed (default 25)")
    prof.add_argument("--profile", default="matrix", help="suite profile (default matrix, as a cell)")
    cmp_ = sub.add_parser("compare", help="two checkouts' cell suite, interleaved")
    cmp_.add_argument("--before", type=Path, required=True, help="the checkout to compare against (e.g. main)")
    cmp_.add_argument("--after", type=Path, default=ROOT, help="default: this checkout")
    cmp_.add_argument("--python", default=sys.executable)
    cmp_.add_argument("--rounds", type=int, default=3)
    cmp_.add_argument("--workers", type=int, default=0, help="pytest-xdist workers (default 0)")
    cmp_.add_argument("--profile", default="matrix")
    args = ap.parse_args(argv)
    if args.what == "profile":
        profile_mode(args.python or [sys.executable], args.root.resolve(), args.json, args.top, args.profile)
    else:
        compare_mode(args.python, args.before.resolve(), args.after.resolve(), args.rounds, args.workers,
                     args.profile)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
