"""Run matrix cells in parallel: one isolated uv environment and one pytest process per cell.

Each cell: build (or reuse) its environment with :func:`compat.envs.build_env`,
then run ``python -m pytest -p compat.matrix.probe <suite> --junitxml ...``
from the repository root, offline, with a per-cell timeout. The result JSON is
written atomically as soon as the cell finishes, so an interrupted run keeps
every finished cell and ``--resume`` skips them.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import datetime as _dt
import hashlib
import json
import os
import platform
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from compat.envs import EnvSpec, InstallError, build_env
from compat.matrix.config import Cell, Matrix
from compat.matrix.results import PROBE_EXIT, Classification, TestResult, classify, counts, judge, parse_junit
from compat.matrix.store import CELL_SCHEMA, SCHEMA_VERSION, cell_paths, load_cell_result, write_cell_result
from compat.testing import axes, profiles
from compat.toolchain import PROJECT_ROOT, ToolchainError, TorchSource, torch_source
from compat.tools.children import OFFLINE_ENV, spawn_options
from compat.tools.outputs import atomic_write_bytes, writing
from compat.tools.runlock import private_dir, sweep

__all__ = ["CELL_ENV", "RunOptions", "rejudge", "run_cells", "suite_digest"]

#: Environment every cell's pytest runs with (on top of the caller's).
CELL_ENV = {
    **OFFLINE_ENV,
    "PYTHONDONTWRITEBYTECODE": "",  # private venvs: keep .pyc (saves ~2 s per process)
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


@dataclasses.dataclass
class RunOptions:
    """How to run: output and work folders, parallelism, limits."""

    out: Path = PROJECT_ROOT / "reports"
    work: Path = PROJECT_ROOT / ".matrix-work"
    jobs: int = os.cpu_count() or 1
    timeout: float = 1800.0
    resume: bool = False
    reuse_envs: bool = True
    pytest_workers: int = 0  # >0: pytest-xdist inside each cell
    pytest_args: tuple[str, ...] = ()
    profile: str = "matrix"  # suite profile (compat.testing.profiles); recorded in every cell's result
    root: Path = PROJECT_ROOT
    quiet: bool = False

    def scratch_root(self) -> Path:
        """Where each run makes its private scratch folder (pytest ``--basetemp``, JUnit, probe files)."""
        return self.work / "runs"


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class _Children:
    """Process groups of running pytest processes, killed on SIGINT/SIGTERM."""

    def __init__(self):
        self._lock = threading.Lock()
        self._pids: set[int] = set()
        self.stopping = False

    def add(self, pid: int) -> None:
        with self._lock:
            self._pids.add(pid)

    def discard(self, pid: int) -> None:
        with self._lock:
            self._pids.discard(pid)

    def kill_all(self) -> None:
        self.stopping = True
        with self._lock:
            for pid in list(self._pids):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)


#: Subpackages a cell's test results cannot depend on (editing them keeps --resume results).
_TOOL_ONLY = ("matrix", "gate", "migrate", "tools")


def suite_digest(root: Path, suite) -> str:
    """Hash of the code a cell's result depends on: the suite paths, ``compat/`` (without the
    tool-only ``compat/matrix``, ``compat/gate``, ``compat/migrate`` and ``compat/tools``) and
    ``tests/conftest.py``.

    ``--resume`` keeps a finished cell only when this is unchanged, so a resumed report never
    mixes results of different test or shim code.
    """
    h = hashlib.sha256()
    roots = [root / p for p in suite] + [root / "compat", root / "tests" / "conftest.py"]
    files = set()
    for base in roots:
        if base.is_file():
            files.add(base)
        elif base.is_dir():
            files.update(p for p in base.rglob("*") if p.suffix in (".py", ".toml", ".json", ".txt") and p.is_file()
                         and not any(p.is_relative_to(root / "compat" / tool) for tool in _TOOL_ONLY))
    for path in sorted(files):
        h.update(str(path.relative_to(root) if path.is_relative_to(root) else path).encode())
        h.update(b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()[:16]


def _finished_result(out: Path, cell: Cell, digest: str, profile: str) -> tuple[dict | None, str]:
    """The stored result of ``cell`` if complete and made from the same cell and the same code."""
    path = cell_paths(out, cell.name)["json"]
    if not path.is_file():
        return None, "missing"
    try:
        data = load_cell_result(path)
    except ValueError:
        return None, "unreadable"
    if data.get("run_fingerprint") != cell.run_fingerprint():
        return None, "cell changed"
    if data.get("suite_digest") != digest:
        return None, "suite or compat changed"
    if data.get("suite_profile") != profile:
        return None, "suite profile changed"
    if data["cell"].get("expect") == "not-applicable" or cell.expect == "not-applicable":
        if data["cell"].get("expect") != cell.expect:
            return None, "declaration changed"
    elif data.get("cell_fingerprint") != cell.fingerprint():
        rejudge(data, cell)
        write_cell_result(out, data)
        return data, "judged again"
    return data, "kept"


def _declarations(cell: Cell) -> dict:
    return {"expect": cell.expect, "expect_tests": cell.tests, "known": cell.known}


def _verdict(cell: Cell, cls: Classification) -> dict:
    """The result fields a judgement sets: status, why, whether declared, the raw outcome, each
    known issue in the cell's range with how many failing tests it covered here, and which
    declarations explained each failing test (two overlapping issues stay distinguishable)."""
    return {
        "status": cls.status, "message": cls.message, "expected": cls.expected, "unexpected": cls.unexpected,
        "raw": {"status": cls.raw_status, "message": cls.raw_message},
        "known": [{**k.to_json(), "failures": cls.known_outcomes.get(k.id, 0)} for k in cell.known],
        "explained": cls.explained,
    }


def rejudge(result: dict, cell: Cell) -> dict:
    """Apply ``cell``'s current declarations to a stored run (in place; the tests are not rerun)."""
    raw = Classification(result["raw"]["status"], result["raw"]["message"])
    tests = [TestResult(**t) for t in result["tests"]]
    result.update(cell=cell.to_json(), cell_fingerprint=cell.fingerprint(),
                  **_verdict(cell, judge(raw, tests, **_declarations(cell))))
    return result


def _run_pytest(cmd, *, env, cwd, log_path: Path, timeout: float, children: _Children):
    """Run ``cmd`` in its own process group; returns (returncode or None on timeout, seconds)."""
    started = time.perf_counter()
    with writing(log_path):
        log = open(log_path, "a", encoding="utf-8")  # noqa: SIM115 - closed below
        log.write(f"\n$ {' '.join(map(str, cmd))}\n")
        log.flush()
    with log:
        # Its own process group (killed whole on timeout/interrupt), and it dies with this process.
        proc = subprocess.Popen(
            cmd, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **spawn_options(env)
        )
        children.add(proc.pid)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            rc = None
        finally:
            children.discard(proc.pid)
    return rc, time.perf_counter() - started


def run_cell(
    cell: Cell, matrix: Matrix, source: TorchSource, opts: RunOptions, children: _Children, digest: str,
    scratch: Path,
) -> dict:
    """Run one cell end to end and write its result; never raises for a cell-level problem.

    ``scratch``: this run's private folder (pytest ``--basetemp``, JUnit and probe files), so runs
    that share ``--work`` never touch each other's files. A problem writing the output folder
    raises :class:`~compat.tools.outputs.OutputError`.
    """
    started_at, t0 = _now(), time.perf_counter()
    paths = cell_paths(opts.out, cell.name)
    with writing(opts.out):
        for p in paths.values():
            p.parent.mkdir(parents=True, exist_ok=True)
        paths["log"].write_text(f"# cell {cell.name} started {started_at}\n", encoding="utf-8")
        paths["junit"].unlink(missing_ok=True)
    result: dict = {
        "schema": CELL_SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "cell": cell.to_json(),
        "cell_fingerprint": cell.fingerprint(),
        "run_fingerprint": cell.run_fingerprint(),
        "suite_digest": digest,
        "matrix": matrix.path,
        "suite": list(matrix.suite),
        "suite_profile": opts.profile,
        # the suite axes (PCC_DEVICE/PCC_DTYPE/PCC_ATTN/PCC_SIZE, inherited by the cell's pytest)
        "suite_axes": axes.active().to_json(),
        "suite_profile_description": f"{profiles.describe(opts.profile)}; {axes.active().describe()}",
        "torch_spec": source.spec,
        "started": started_at,
        "host": {"platform": platform.platform(), "python": sys.version.split()[0], "cpus": os.cpu_count()},
        "installed": {},
        "freeze": [],
        "tests": [],
        "counts": counts([]),
        "durations": {},
        "files": {"junit": None, "log": f"logs/{cell.name}.log"},
    }

    def finish(cls, tests=(), probe=None):
        result.update(
            **_verdict(cell, cls),
            tests=[t.to_json() for t in tests],
            counts=counts(list(tests)),
            probe=probe,
            finished=_now(),
        )
        result["durations"]["total"] = round(time.perf_counter() - t0, 3)
        write_cell_result(opts.out, result)
        return result

    if cell.expect == "not-applicable":
        return finish(Classification("not-applicable", cell.reason, expected=True, raw_status="not-applicable",
                                     raw_message="not run: declared not-applicable"))

    # 1. environment
    spec = EnvSpec(cell.name, cell.requirements, extra_pins=cell.extra_pins)
    try:
        env = build_env(
            spec, opts.work / "envs", log_path=paths["log"], reuse=opts.reuse_envs,
            import_check=False, source=source,
        )
    except InstallError as exc:
        result["durations"]["env"] = round(time.perf_counter() - t0, 3)
        return finish(classify(pytest_rc=None, tests=[], error="error:install", error_message=exc.message,
                               **_declarations(cell)))
    result["durations"]["env"] = round(env.build_seconds, 3)
    result["env_reused"] = env.reused
    try:
        result["installed"] = env.installed_versions()
        result["freeze"] = env.freeze()
    except InstallError as exc:
        return finish(classify(pytest_rc=None, tests=[], error="error:install", error_message=exc.message,
                               **_declarations(cell)))

    # 2. the suite, with the import probe loaded as a plugin
    suite = [p for p in matrix.suite if (opts.root / p).exists()]
    result["suite_missing"] = [p for p in matrix.suite if p not in suite]
    if not suite:
        return finish(classify(pytest_rc=None, tests=[], error="error:no-tests",
                               error_message=f"none of the suite paths exist: {list(matrix.suite)}",
                               **_declarations(cell)))
    probe_path = scratch / "probe" / f"{cell.name}.json"
    junit_tmp = scratch / "junit" / f"{cell.name}.xml"
    basetemp = scratch / "tmp" / cell.name
    for p in (probe_path, junit_tmp, basetemp):  # pytest makes --basetemp itself, not its parent
        p.parent.mkdir(parents=True, exist_ok=True)
    probe_path.unlink(missing_ok=True)
    junit_tmp.unlink(missing_ok=True)
    cmd = [
        str(env.python), "-m", "pytest", "-p", "compat.matrix.probe", "-p", "no:cacheprovider",
        # --tb=native: pytest's own traceback formatting costs ~0.4 s per failure (minutes in
        # a cell with hundreds); the message and the full Python traceback are kept.
        "-q", "-rs", "--tb=native", "-o", "junit_family=xunit1", f"--junitxml={junit_tmp}", f"--basetemp={basetemp}",
    ]
    if opts.pytest_workers > 0:
        cmd += ["-n", str(opts.pytest_workers)]
    cmd += [*opts.pytest_args, *suite]
    result["command"] = cmd
    run_env = env.environ()
    run_env.update(CELL_ENV)
    run_env[profiles.ENV_VAR] = opts.profile
    run_env["HYPOTHESIS_PROFILE"] = "matrix"  # derandomized, no shrinking (tests/property/conftest.py)
    run_env["PCC_PROBE_OUT"] = str(probe_path)
    run_env["PCC_MATRIX_CELL"] = cell.name
    # The suite's root first; this package's root too, so "-p compat.matrix.probe" always imports.
    run_env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([str(opts.root), str(PROJECT_ROOT)]))
    if children.stopping:
        raise KeyboardInterrupt
    rc, seconds = _run_pytest(cmd, env=run_env, cwd=opts.root, log_path=paths["log"],
                              timeout=opts.timeout, children=children)
    if children.stopping:  # killed by an interrupt: record nothing, --resume reruns this cell
        raise KeyboardInterrupt
    result["durations"]["pytest"] = round(seconds, 3)
    result["pytest_exit_code"] = rc
    probe = None
    if probe_path.is_file():
        try:
            probe = json.loads(probe_path.read_text())
        except ValueError:
            probe = None
    if probe is not None and probe.get("torch_cuda") is not None:
        return finish(classify(pytest_rc=rc, tests=[], error="error:install",
                               error_message=f"torch is not CPU-only: torch.version.cuda={probe['torch_cuda']}",
                               **_declarations(cell)), probe=probe)
    if rc == PROBE_EXIT or (probe is not None and not probe.get("ok")):
        err = (probe or {}).get("error") or {}
        msg = f"import of {err.get('stage', '?')} failed: {err.get('message', 'no probe output')}"
        return finish(classify(pytest_rc=rc, tests=[], error="error:import", error_message=msg,
                               **_declarations(cell)), probe=probe)
    tests = []
    junit_missing = not junit_tmp.is_file()
    if not junit_missing:
        try:
            tests = parse_junit(junit_tmp)
        except Exception as exc:
            junit_missing = True
            result["message"] = f"unreadable JUnit XML: {exc}"
        else:  # only a JUnit file that parsed is published (never an empty or truncated one)
            atomic_write_bytes(paths["junit"], junit_tmp.read_bytes())
            result["files"]["junit"] = f"cells/{cell.name}.junit.xml"
    if rc is None:
        return finish(classify(pytest_rc=rc, tests=tests, error="error:timeout",
                               error_message=f"no result within {opts.timeout:g} s", **_declarations(cell)),
                      tests, probe)
    return finish(classify(pytest_rc=rc, tests=tests, **_declarations(cell),
                           junit_missing=junit_missing), tests, probe)


def _longest_first(cells: list[Cell], out: Path) -> list[Cell]:
    """Start the cells that took longest last time first (unknown ones first of all): shorter wall."""

    def last_time(cell: Cell) -> float:
        try:
            data = json.loads(cell_paths(out, cell.name)["json"].read_text(encoding="utf-8"))
            return float(data["durations"]["total"])
        except (OSError, ValueError, KeyError, TypeError):
            return float("inf")

    return sorted(cells, key=last_time, reverse=True)


def _fmt(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def _run_parallel(todo: list[Cell], matrix: Matrix, source: TorchSource, opts: RunOptions, digest: str,
                  say) -> dict[str, dict]:
    """Run ``todo`` on ``opts.jobs`` threads in a private scratch folder; stop every cell on any error."""
    results: dict[str, dict] = {}
    children = _Children()
    previous = {}

    def stop(signum, frame):
        children.kill_all()
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, stop)
    t0, finished = time.perf_counter(), 0
    sweep(opts.scratch_root())  # scratch folders of runs that were killed
    with private_dir(opts.scratch_root(), "matrix-") as scratch:
        pool = cf.ThreadPoolExecutor(max_workers=max(1, opts.jobs))
        futures: dict = {}
        try:
            futures = {pool.submit(run_cell, c, matrix, source, opts, children, digest, scratch): c for c in todo}
            for fut in cf.as_completed(futures):
                cell = futures[fut]
                res = fut.result()
                results[cell.name] = res
                finished += 1
                left = len(todo) - finished
                eta = (time.perf_counter() - t0) / finished * left
                c = res["counts"]
                detail = f"{c['passed']} passed, {c['failed'] + c['error']} failed, {c['na']} n/a"
                say(
                    f"[{finished:>3}/{len(todo)}] {cell.name:<24} {res['status']:<15} "
                    f"{res['durations'].get('total', 0):6.1f}s  ({detail}; {left} left, ETA {_fmt(eta)})"
                )
        except BaseException as exc:  # an interrupt, or e.g. an unwritable output folder: stop every cell
            children.kill_all()
            pool.shutdown(wait=False, cancel_futures=True)
            if isinstance(exc, KeyboardInterrupt):
                saved = sum(1 for f in futures if f.done() and not f.cancelled() and f.exception() is None)
                say(f"interrupted: {saved} cells finished and saved under {opts.out}/cells; rerun with --resume")
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    return results


def run_cells(matrix: Matrix, cells: list[Cell], opts: RunOptions) -> list[dict]:
    """Run ``cells`` (``--resume``: reuse finished results); returns every result, in matrix order."""
    try:
        source = torch_source()
    except ToolchainError as exc:
        raise SystemExit(f"compat.matrix: {exc}") from None
    if matrix.torch and matrix.torch != source.spec:
        source = dataclasses.replace(source, spec=matrix.torch)
        source.check()
    results: dict[str, dict] = {}
    todo = []
    digest = suite_digest(opts.root, matrix.suite)
    why_rerun: dict[str, int] = {}
    rejudged = 0
    for cell in cells:
        done, why = _finished_result(opts.out, cell, digest, opts.profile) if opts.resume else (None, "")
        if done is not None:
            results[cell.name] = done
            rejudged += why == "judged again"
        else:
            todo.append(cell)
            if why and why != "missing":
                why_rerun[why] = why_rerun.get(why, 0) + 1
    todo = _longest_first(todo, opts.out)
    say = (lambda *a: None) if opts.quiet else (lambda msg: print(msg, flush=True))
    if opts.resume:
        stale = "".join(f", {n} rerun because {why}" for why, n in why_rerun.items())
        again = f" ({rejudged} judged again: their declarations changed)" if rejudged else ""
        say(f"resume: {len(results)} finished cells kept{again}, {len(todo)} to run{stale}")
    say(f"matrix {matrix.path}: {len(todo)} cells, {opts.jobs} jobs, timeout {opts.timeout:g} s, out {opts.out}")
    results.update(_run_parallel(todo, matrix, source, opts, digest, say))
    return [results[c.name] for c in cells if c.name in results]
