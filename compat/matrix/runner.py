"""Run matrix cells in parallel: one isolated uv environment and one pytest process per cell.

Each cell: build (or reuse) its environment with :func:`compat.envs.build_env`,
then run the suite there with the runner the gate and census share (:mod:`compat.suiterun`:
the pytest command, its offline environment, the import probe, JUnit -> classification),
with a per-cell timeout. The result JSON is
written atomically as soon as the cell finishes, so an interrupted run keeps
every finished cell and ``--resume`` skips them.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import datetime as _dt
import hashlib
import json
import os
import platform
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from compat import resources
from compat.envs import Env, EnvSpec, InstallError, build_env
from compat.matrix import incremental
from compat.matrix.cellresult import CellResult, KnownSeen, RawOutcome
from compat.matrix.config import Cell, Matrix
from compat.matrix.store import cell_paths, load_cell_result, write_cell_result
from compat.suiterun.outcomes import Classification, Status, TestResult, classify, counts, judge
from compat.suiterun.run import Processes, SuiteOutcome, SuiteRun, existing_paths, run_suite
from compat.testing import axes, profiles
from compat.toolchain import ToolchainError, TorchSource, torch_source
from compat.tools.outputs import atomic_write_bytes, writing
from compat.tools.runlock import private_dir, sweep

__all__ = ["RunOptions", "rejudge", "run_cell", "run_cells", "suite_digest"]

@dataclasses.dataclass
class RunOptions:
    """How to run: output and work folders, parallelism, limits."""

    out: Path = dataclasses.field(default_factory=resources.reports_dir)
    work: Path = dataclasses.field(default_factory=resources.matrix_work_dir)
    jobs: int = os.cpu_count() or 1
    timeout: float = 1800.0
    resume: bool = False
    reuse_envs: bool = True
    pytest_workers: int = 0  # >0: pytest-xdist inside each cell
    pytest_args: tuple[str, ...] = ()
    profile: str = "matrix"  # suite profile (compat.testing.profiles); recorded in every cell's result
    root: Path = dataclasses.field(default_factory=resources.suite_root)  # suites and pytest config
    quiet: bool = False
    incremental: bool = False  # reuse stored results of unchanged inputs (compat.matrix.incremental)

    def scratch_root(self) -> Path:
        """Where each run makes its private scratch folder (pytest ``--basetemp``, JUnit, probe files)."""
        return self.work / "runs"


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


#: Subpackages a cell's test results cannot depend on (editing them keeps --resume results).
_TOOL_ONLY = ("matrix", "gate", "migrate", "tools", "suiterun")


def suite_digest(root: Path, suite) -> str:
    """Hash of the code a cell's result depends on: the suite paths, ``compat/`` (without the
    tool-only ``compat/matrix``, ``compat/gate``, ``compat/migrate`` and ``compat/tools``) and
    ``tests/conftest.py``.

    ``--resume`` keeps a finished cell only when this is unchanged, so a resumed report never
    mixes results of different test or shim code.
    """
    h = hashlib.sha256()
    roots = [root / p for p in suite] + [resources.PACKAGE_DIR, root / "tests" / "conftest.py"]
    files = set()
    for base in roots:
        if base.is_file():
            files.add(base)
        elif base.is_dir():
            files.update(p for p in base.rglob("*") if p.suffix in (".py", ".toml", ".json", ".txt") and p.is_file()
                         and not any(p.is_relative_to(resources.PACKAGE_DIR / tool) for tool in _TOOL_ONLY))
    for path in sorted(files):
        h.update(str(path.relative_to(root) if path.is_relative_to(root) else path).encode())
        h.update(b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()[:16]


def _finished_result(out: Path, cell: Cell, digest: str, profile: str) -> tuple[CellResult | None, str]:
    """The stored result of ``cell`` if complete and made from the same cell and the same code."""
    path = cell_paths(out, cell.name)["json"]
    if not path.is_file():
        return None, "missing"
    try:
        stored = load_cell_result(path)
    except ValueError:
        return None, "unreadable"
    if stored.run_fingerprint != cell.run_fingerprint():
        return None, "cell changed"
    if stored.suite_digest != digest:
        return None, "suite or compat changed"
    if stored.suite_profile != profile:
        return None, "suite profile changed"
    if stored.cell.get("expect") == "not-applicable" or cell.expect == "not-applicable":
        if stored.cell.get("expect") != cell.expect:
            return None, "declaration changed"
    elif stored.cell_fingerprint != cell.fingerprint():
        rejudge(stored, cell)
        write_cell_result(out, stored)
        return stored, "judged again"
    return stored, "kept"


def _declarations(cell: Cell) -> dict[str, Any]:
    return {"expect": cell.expect, "expect_tests": cell.tests, "known": cell.known}


def _apply_verdict(result: CellResult, cell: Cell, cls: Classification) -> None:
    """Set what a judgement decides: status, why, whether declared, the raw outcome, each known
    issue in the cell's range with how many failing tests it covered here, and which declarations
    explained each failing test (two overlapping issues stay distinguishable)."""
    result.status, result.message, result.expected = cls.status, cls.message, cls.expected
    result.raw = RawOutcome(cls.raw_status, cls.raw_message)
    result.known = [KnownSeen.from_json({**k.to_json(), "failures": cls.known_outcomes.get(k.id, 0)})
                    for k in cell.known]
    result.explained = cls.explained


def rejudge(result: CellResult, cell: Cell) -> CellResult:
    """Apply ``cell``'s current declarations to a stored run (in place; the tests are not rerun)."""
    if result.raw is None:
        raise ValueError(f"cell {result.name}: the stored result has no raw outcome to judge again")
    raw = Classification(result.raw.status, result.raw.message)
    result.cell, result.cell_fingerprint = cell.to_json(), cell.fingerprint()
    _apply_verdict(result, cell, judge(raw, result.tests, **_declarations(cell)))
    return result


class _CellRun:
    """One cell's run in progress: its result, built step by step, and its files."""

    def __init__(self, cell: Cell, matrix: Matrix, source: TorchSource, opts: RunOptions, digest: str):
        self.cell, self.opts = cell, opts
        self.started = time.perf_counter()
        self.paths = cell_paths(opts.out, cell.name)
        self.result = _new_result(cell, matrix, source, opts, digest)

    def start_files(self) -> None:
        """The cell's folders, a fresh log, no stale published JUnit."""
        with writing(self.opts.out):
            for p in self.paths.values():
                p.parent.mkdir(parents=True, exist_ok=True)
            self.paths["log"].write_text(f"# cell {self.cell.name} started {self.result.started}\n",
                                         encoding="utf-8")
            self.paths["junit"].unlink(missing_ok=True)

    def finish(self, cls: Classification, tests: list[TestResult] | None = None,
               probe: dict[str, Any] | None = None) -> CellResult:
        """Record the judgement and the tests, and write the result (atomically)."""
        result = self.result
        _apply_verdict(result, self.cell, cls)
        result.tests, result.counts = list(tests or []), counts(tests or [])
        result.probe, result.finished = probe, _now()
        result.durations["total"] = round(time.perf_counter() - self.started, 3)
        write_cell_result(self.opts.out, result)
        return result

    def error(self, status: str, message: str) -> CellResult:
        """Finish with an error found before the suite ran (install, no suite)."""
        return self.finish(classify(pytest_rc=None, tests=[], error=status, error_message=message,
                                    **_declarations(self.cell)))


def _new_result(cell: Cell, matrix: Matrix, source: TorchSource, opts: RunOptions, digest: str) -> CellResult:
    """A cell's result before anything ran: what was asked, where, with which code."""
    return CellResult(
        cell=cell.to_json(), status=Status.ERROR_CRASH, message="did not finish",
        cell_fingerprint=cell.fingerprint(), run_fingerprint=cell.run_fingerprint(), suite_digest=digest,
        matrix=matrix.path, suite=list(matrix.suite_for(cell)), suite_profile=opts.profile,
        # the suite axes (PCC_DEVICE/PCC_DTYPE/PCC_ATTN/PCC_SIZE, inherited by the cell's pytest)
        suite_axes=axes.active().to_json(),
        suite_profile_description=f"{profiles.describe(opts.profile)}; {axes.active().describe()}",
        torch_spec=source.spec, started=_now(),
        host={"platform": platform.platform(), "python": sys.version.split()[0], "cpus": os.cpu_count()},
        counts=counts([]), files={"junit": None, "log": f"logs/{cell.name}.log"},
    )


def _build_environment(run: _CellRun, source: TorchSource) -> Env | CellResult:
    """Step 1: the cell's environment and what it has installed; the finished result on an install error."""
    cell, opts = run.cell, run.opts
    spec = EnvSpec(cell.name, cell.requirements, extra_pins=cell.extra_pins)
    try:
        env = build_env(spec, opts.work / "envs", log_path=run.paths["log"], reuse=opts.reuse_envs,
                        import_check=False, source=source)
    except InstallError as exc:
        run.result.durations["env"] = round(time.perf_counter() - run.started, 3)
        return run.error("error:install", exc.message)
    run.result.durations["env"] = round(env.build_seconds, 3)
    run.result.env_reused = env.reused
    try:
        run.result.installed = env.installed_versions()
        run.result.freeze = env.freeze()
    except InstallError as exc:
        return run.error("error:install", exc.message)
    return env


def _suite_run(run: _CellRun, env: Env, suite: tuple[str, ...], scratch: Path) -> SuiteRun:
    """Step 2: the cell's suite run (the shared runner's command and environment)."""
    opts = run.opts
    return SuiteRun(
        python=str(env.python), paths=suite, root=opts.root, scratch=scratch, name=run.cell.name,
        log=run.paths["log"], timeout=opts.timeout, environ=env.environ(), profile=opts.profile,
        workers=opts.pytest_workers, pytest_args=opts.pytest_args, extra_env={"PCC_MATRIX_CELL": run.cell.name},
    )


def _record_outcome(run: _CellRun, outcome: SuiteOutcome) -> CellResult:
    """Step 3: publish the JUnit XML (only one that parsed) and judge the outcome against the cell's declarations."""
    run.result.durations["pytest"] = round(outcome.seconds, 3)
    run.result.pytest_exit_code = outcome.exit_code
    if outcome.junit is not None:
        atomic_write_bytes(run.paths["junit"], outcome.junit.read_bytes())
        run.result.files["junit"] = f"cells/{run.cell.name}.junit.xml"
    return run.finish(outcome.judged(**_declarations(run.cell)), outcome.tests, outcome.probe)


def run_cell(
    cell: Cell, matrix: Matrix, source: TorchSource, opts: RunOptions, processes: Processes, digest: str,
    scratch: Path,
) -> CellResult:
    """Run one cell end to end and write its result; never raises for a cell-level problem.

    ``scratch``: this run's private folder (pytest ``--basetemp``, JUnit and probe files), so runs
    that share ``--work`` never touch each other's files. A problem writing the output folder
    raises :class:`~compat.tools.outputs.OutputError`.
    """
    run = _CellRun(cell, matrix, source, opts, digest)
    run.start_files()
    if cell.expect == "not-applicable":
        return run.finish(Classification("not-applicable", cell.reason, expected=True, raw_status="not-applicable",
                                         raw_message="not run: declared not-applicable"))
    env = _build_environment(run, source)
    if isinstance(env, CellResult):
        return env
    suite = existing_paths(opts.root, matrix.suite_for(cell))
    run.result.suite_missing = [p for p in matrix.suite_for(cell) if p not in suite]
    if not suite:
        return run.error("error:no-tests", f"none of the suite paths exist: {list(matrix.suite_for(cell))}")
    suite_run = _suite_run(run, env, suite, scratch)
    run.result.command = suite_run.command()
    if processes.stopping:
        raise KeyboardInterrupt
    outcome = run_suite(suite_run, processes)
    if processes.stopping:  # killed by an interrupt: record nothing, --resume reruns this cell
        raise KeyboardInterrupt
    return _record_outcome(run, outcome)


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
                  say: Callable[[str], None]) -> dict[str, CellResult]:
    """Run ``todo`` on ``opts.jobs`` threads in a private scratch folder; stop every cell on any error."""
    results: dict[str, CellResult] = {}
    processes = Processes()
    previous = {}

    def stop(signum, frame):
        processes.kill_all()
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
            futures = {pool.submit(run_cell, c, matrix, source, opts, processes, digest, scratch): c for c in todo}
            for fut in cf.as_completed(futures):
                cell = futures[fut]
                res = fut.result()
                results[cell.name] = res
                finished += 1
                left = len(todo) - finished
                eta = (time.perf_counter() - t0) / finished * left
                say(f"[{finished:>3}/{len(todo)}] {_progress(res)}; {left} left, ETA {_fmt(eta)})")
        except BaseException as exc:  # an interrupt, or e.g. an unwritable output folder: stop every cell
            processes.kill_all()
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


def _progress(res: CellResult) -> str:
    c = res.counts
    detail = f"{c['passed']} passed, {c['failed'] + c['error']} failed, {c['na']} n/a"
    return f"{res.name:<24} {res.status:<15} {res.durations.get('total', 0):6.1f}s  ({detail}"


def _torch_source(matrix: Matrix) -> TorchSource:
    """The torch every cell gets: the project's, or the matrix file's ``torch`` pin."""
    try:
        source = torch_source()
    except ToolchainError as exc:
        raise SystemExit(f"compat.matrix: {exc}") from None
    if matrix.torch and matrix.torch != source.spec:
        source = dataclasses.replace(source, spec=matrix.torch)
        source.check()
    return source


def _resume(cells: list[Cell], opts: RunOptions, digest: str,
            say: Callable[[str], None]) -> tuple[dict[str, CellResult], list[Cell]]:
    """``--resume``: the finished results kept (judged again where only declarations changed), and
    the cells to run."""
    results: dict[str, CellResult] = {}
    todo = []
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
    if opts.resume:
        stale = "".join(f", {n} rerun because {why}" for why, n in why_rerun.items())
        again = f" ({rejudged} judged again: their declarations changed)" if rejudged else ""
        say(f"resume: {len(results)} finished cells kept{again}, {len(todo)} to run{stale}")
    return results, todo


def run_cells(matrix: Matrix, cells: list[Cell], opts: RunOptions) -> list[CellResult]:
    """Run ``cells`` (``--resume``: reuse finished results); returns every result, in matrix order."""
    source = _torch_source(matrix)
    digest = suite_digest(opts.root, matrix.all_suites())
    say: Callable[[str], None] = (lambda msg: None) if opts.quiet else (lambda msg: print(msg, flush=True))
    results, todo = _resume(cells, opts, digest, say)
    inputs = incremental.matrix_inputs(matrix, todo, torch=source.spec, suite_digest=digest, profile=opts.profile,
                                       pytest_args=opts.pytest_args)
    # --fresh-envs: resolve and run everything anew
    store = incremental.ResultStore(opts.work / incremental.STORE_DIR) if opts.incremental else None
    reused, todo = _reuse(store, todo, inputs, opts, say) if store is not None and opts.reuse_envs else ({}, todo)
    results.update(reused)
    todo = _longest_first(todo, opts.out)
    say(f"matrix {matrix.path}: {len(todo)} cells, {opts.jobs} jobs, timeout {opts.timeout:g} s, out {opts.out}")
    results.update(_run_parallel(todo, matrix, source, opts, digest, say))
    for cell in todo if store is not None else ():
        store.save(inputs[cell.name], results[cell.name])
    return [results[c.name] for c in cells if c.name in results]


def _reuse(store: incremental.ResultStore, cells: list[Cell], inputs: dict[str, incremental.CellInputs],
           opts: RunOptions, say: Callable[[str], None]) -> tuple[dict[str, CellResult], list[Cell]]:
    """``--incremental``: the stored results of unchanged inputs (judged with the current
    declarations, written to the reports folder), and the cells to run."""
    reused: dict[str, CellResult] = {}
    todo = []
    for cell in cells:
        stored = store.load(inputs[cell.name])
        if stored is None:
            todo.append(cell)
            continue
        reused[cell.name] = rejudge(stored, cell)
        write_cell_result(opts.out, stored)
    say(f"incremental: {len(reused)} cells reused from {store.root} (inputs unchanged), {len(todo)} to run")
    for r in reused.values():
        say(f"[reused] {r.name:<24} {r.status:<15} stored run {(r.reused or {}).get('key')}")
    return reused, todo
