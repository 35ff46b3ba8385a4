"""Wall time of one matrix cell's suite (tests/shim, tests/property,
tests/equivalence) with ``-n 2`` and ``-n 0``, plus the largest measured logit
differences per check (read from the JUnit ``max_abs_diff`` properties) for
the tolerance policy in docs/suites.md.

Run with the python of the environment to measure, from the repository root::

    /work/venvs/tf523/bin/python benchmarks/bench_suite.py            # both modes
    /work/venvs/tf523/bin/python benchmarks/bench_suite.py --workers 2

Timings on a shared machine are noisy; the script prints the load average.
"""

from __future__ import annotations

import argparse
import collections
import os
import resource
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from compat.matrix.config import DEFAULT_SUITE as CELL_SUITE


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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, action="append", help="xdist workers (repeatable); default 2 and 0")
    args = ap.parse_args()
    workers = args.workers or [2, 0]
    print(f"python {sys.executable}; load average {os.getloadavg()} on {os.cpu_count()} cpus")
    for n in workers:
        with tempfile.TemporaryDirectory() as tmp:
            junit = os.path.join(tmp, "junit.xml")
            wall, rc = run(n, junit)
            print(f"-n {n}: wall {wall:.1f} s (exit {rc}); load average now {os.getloadavg()}")
            if os.path.exists(junit):
                for check, (value, where) in sorted(max_diffs(junit).items()):
                    print(f"    max_abs_diff {value:.3g}  {check}  ({where})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
