"""Fault injection for the matrix runner, ``report merge`` and the gate: every fault ends in one
line (or an honest status), never a traceback, a silently dropped result or a partial file.

Faults: an output folder that is read-only (EROFS), not writable (EACCES) or full (ENOSPC),
injected through the openers (``os.open``, ``open``, ``os.fsync``...) for paths under one folder
only -- root ignores permissions, so ``chmod`` could not make one; truncated and foreign cell
files; two runs at once; SIGKILL of the runner; non-UTF-8 TOML; a missing libcst.
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import errno
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from compat.envs import Env
from compat.gate import cli as gate_cli
from compat.matrix import runner as runner_mod
from compat.matrix.__main__ import main as matrix_main
from compat.matrix.config import load_matrix_text
from compat.matrix.runner import RunOptions, run_cells
from compat.matrix.store import CELL_SCHEMA, SCHEMA_VERSION, load_cell_result
from compat.toolchain import PROJECT_ROOT
from compat.tools.outputs import OutputError, atomic_write_text

# ---------------------------------------------------------------------------------------------
# A folder whose writes fail the way the kernel would make them fail.

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


class _FullFile:
    """What ``open(path, "w")`` gives on a full disk: the file exists (empty), every write fails."""

    def __init__(self, path: str, code: int):
        self.path, self.code = path, code

    def write(self, data):
        raise OSError(self.code, os.strerror(self.code), self.path)

    def flush(self):
        pass

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def failing_folder(monkeypatch: pytest.MonkeyPatch, root: Path, code: int) -> None:
    """From now on, writing under ``root`` fails with ``code``.

    EROFS/EACCES: nothing can be created, opened for writing, renamed or removed there.
    ENOSPC: files can be created (and are left empty), but data cannot be written or synced.
    """
    root_s = str(root)

    def under(path) -> bool:
        try:
            return os.path.abspath(os.fspath(path)).startswith(root_s)
        except TypeError:  # an fd
            return False

    def fail(path):
        raise OSError(code, os.strerror(code), os.fspath(path))

    real_open, real_fsync, real_io_open = os.open, os.fsync, io.open
    full = code in (errno.ENOSPC, errno.EDQUOT)

    def os_open(path, flags, *args, **kwargs):
        if under(path) and flags & _WRITE_FLAGS and not full:
            fail(path)
        return real_open(path, flags, *args, **kwargs)

    def refused(real, target_arg: int):
        """``real`` (mkdir, replace, ...) refused when its target is under root and nothing can change."""

        def fake(*args, **kwargs):
            if under(args[target_arg]) and not full:
                fail(args[target_arg])
            return real(*args, **kwargs)

        return fake

    def fsync(fd):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            target = ""
        if full and target.startswith(root_s):
            raise OSError(code, os.strerror(code))
        return real_fsync(fd)

    def open_(file, mode="r", *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and under(file) and set(mode) & set("wax+"):
            if not full:
                fail(file)
            real_io_open(file, mode, *args, **kwargs).close()  # created (or truncated), nothing written
            return _FullFile(os.fspath(file), code)
        return real_io_open(file, mode, *args, **kwargs)

    for name, target_arg in (("mkdir", 0), ("unlink", 0), ("replace", 1), ("rename", 1)):
        monkeypatch.setattr(os, name, refused(getattr(os, name), target_arg))
    monkeypatch.setattr(os, "open", os_open)
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(io, "open", open_)
    monkeypatch.setattr(builtins, "open", open_)


FAULTS = [
    pytest.param(errno.EROFS, "EROFS", id="read-only"),
    pytest.param(errno.EACCES, "EACCES", id="no-permission"),
    pytest.param(errno.ENOSPC, "ENOSPC", id="disk-full"),
]


def _leftovers(folder: Path) -> list[str]:
    """Temporary files and empty files (the lock files are empty by design)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and (
        p.name.endswith(".tmp") or (p.stat().st_size == 0 and p.suffix != ".lock")))


def _one_line(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in text, text
    return lines[0]


# ---------------------------------------------------------------------------------------------
# Atomic writes


@pytest.mark.parametrize(("code", "name"), FAULTS)
def test_a_failed_atomic_write_is_one_line_and_keeps_the_old_file(tmp_path, monkeypatch, code, name):
    target = tmp_path / "out" / "cells" / "c.json"
    atomic_write_text(target, '{"old": true}')
    failing_folder(monkeypatch, tmp_path / "out", code)
    with pytest.raises(OutputError) as info:
        atomic_write_text(target, '{"new": true}')
    monkeypatch.undo()
    assert str(info.value).startswith(f"cannot write {target}: ") and f"({name})" in str(info.value)
    assert info.value.errno == code
    assert json.loads(target.read_text()) == {"old": True}
    assert sorted(p.name for p in target.parent.iterdir()) == ["c.json"]


# ---------------------------------------------------------------------------------------------
# A fake repository whose suite runs in this interpreter (no torch, no uv environment).

FAKE_TEST = '''
import os, pathlib, time

def test_passes(tmp_path):
    (tmp_path / "mine").write_text(os.environ["PCC_MATRIX_CELL"])
    marker = os.environ.get("FAKE_PID_FILE")
    if marker:  # the signal tests: say who we are, then wait to be killed
        pathlib.Path(marker).write_text(str(os.getpid()))
        time.sleep(120)
'''

MATRIX = """
suite = ["tests"]
[[cells]]
name = "c1"
transformers = "4.46.3"
peft = "0.14.0"
"""


@dataclasses.dataclass
class FakeRepo:
    root: Path
    matrix_file: Path
    out: Path
    work: Path

    def opts(self, **changes) -> RunOptions:
        return RunOptions(**{"out": self.out, "work": self.work, "jobs": 1, "timeout": 60, "root": self.root,
                             "quiet": True, **changes})

    def run_cli(self, capsys, *extra: str) -> tuple[int, str, str]:
        rc = matrix_main(["run", "--matrix", str(self.matrix_file), "--out", str(self.out),
                          "--work", str(self.work), "--jobs", "1", *extra])
        captured = capsys.readouterr()
        return rc, captured.out, captured.err


def _fake_env(spec, root_dir, **kwargs):
    return Env(spec=spec, path=Path(sys.prefix))


@pytest.fixture
def fake_repo(tmp_path, monkeypatch) -> FakeRepo:
    root = tmp_path / "repo"
    (root / "tests").mkdir(parents=True)
    (root / "tests" / "test_fake.py").write_text(FAKE_TEST)
    matrix_file = tmp_path / "fake.toml"
    matrix_file.write_text(MATRIX)
    monkeypatch.setenv("PCC_PROBE_IMPORTS", "json")
    monkeypatch.setattr(runner_mod, "build_env", _fake_env)
    init = RunOptions.__init__

    def with_root(self, *args, **kwargs):
        kwargs.setdefault("root", root)
        init(self, *args, **kwargs)

    monkeypatch.setattr(RunOptions, "__init__", with_root)
    return FakeRepo(root, matrix_file, tmp_path / "out", tmp_path / "work")


# ---------------------------------------------------------------------------------------------
# Read-only and full output folders


@pytest.mark.parametrize("where", [pytest.param("", id="whole-folder"), pytest.param("cells", id="cells-only")])
@pytest.mark.parametrize(("code", "name"), FAULTS)
def test_matrix_run_into_an_unwritable_folder_is_one_line(fake_repo, monkeypatch, capsys, code, name, where):
    fake_repo.out.mkdir()
    failing_folder(monkeypatch, fake_repo.out / where, code)
    rc, _, err = fake_repo.run_cli(capsys)
    monkeypatch.undo()
    line = _one_line(err)
    assert rc == 2
    assert line.startswith(f"compat.matrix: cannot write {fake_repo.out / where}") and f"({name})" in line, line
    assert _leftovers(fake_repo.out) == []  # no 0-byte JUnit/JSON, no temporary file
    assert not list((fake_repo.work / "runs").glob("*/")), "the run's scratch folder is removed"


@pytest.mark.parametrize(("code", "name"), FAULTS)
def test_report_merge_into_an_unwritable_folder_is_one_line(tmp_path, monkeypatch, capsys, code, name):
    _cell_file(tmp_path / "art" / "cells" / "c1.json")
    (tmp_path / "out").mkdir()
    failing_folder(monkeypatch, tmp_path / "out", code)
    rc = matrix_main(["report", "merge", str(tmp_path / "art"), "--out", str(tmp_path / "out")])
    monkeypatch.undo()
    line = _one_line(capsys.readouterr().err)
    assert rc == 2 and line.startswith("compat.matrix report: cannot write ") and f"({name})" in line, line
    assert _leftovers(tmp_path / "out") == []


@pytest.mark.parametrize(("code", "name"), FAULTS)
def test_gate_into_an_unwritable_reports_folder_is_one_line(tmp_path, monkeypatch, capsys, code, name):
    reports = tmp_path / "reports"
    reports.mkdir()
    failing_folder(monkeypatch, reports, code)
    rc = gate_cli.main(["--to", "transformers>=5", "--reports", str(reports), "--work", str(tmp_path / "w")])
    monkeypatch.undo()
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert f"cannot write {reports}" in err and f"({name})" in err, err
    assert _leftovers(reports) == []


# ---------------------------------------------------------------------------------------------
# Truncated, empty and foreign cell files in `report merge`


def _cell(name: str = "c1", **changes) -> dict:
    return {"schema": CELL_SCHEMA, "schema_version": SCHEMA_VERSION,
            "cell": {"name": name, "transformers": "5.23.0", "peft": "0.21.2", "tags": [], "extra_pins": [],
                     "expect": None, "reason": "", "tests": []},
            "status": "pass", "message": "", "expected": False, "unexpected": False,
            "tests": [{"nodeid": "t.py::test_a", "outcome": "passed", "message": "", "duration": 0.1,
                       "properties": {}, "family": "", "method": "", "check": ""}],
            "counts": {"passed": 1, "failed": 0, "error": 0, "na": 0, "skipped": 0, "xfailed": 0, "xpassed": 0,
                       "ran": 1, "total": 1},
            "durations": {"total": 1.0}, "installed": {}, "freeze": [], "probe": None,
            "finished": "2026-11-30T00:00:00+00:00", **changes}


def _cell_file(path: Path, data: dict | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data or _cell(path.stem)))
    return path


BAD_CELL_FILES = [
    pytest.param(lambda: json.dumps(_cell("bad")).encode()[:40], "not valid JSON (truncated?)", id="truncated"),
    pytest.param(lambda: b"", "empty file", id="empty"),
    pytest.param(lambda: b"{\"schema\": \"\xff\xfe\"}", "not UTF-8 text (byte 0xff", id="not-utf8"),
    pytest.param(lambda: json.dumps({k: v for k, v in _cell("bad").items() if k != "cell"}).encode(),
                 "no 'cell'", id="no-cell-key"),
    pytest.param(lambda: json.dumps(_cell("bad", schema="someone-else/v1")).encode(), "schema 'someone-else/v1'",
                 id="wrong-schema"),
    pytest.param(lambda: json.dumps(_cell("bad", schema_version=SCHEMA_VERSION + 1)).encode(), "schema_version",
                 id="newer-schema-version"),
    pytest.param(lambda: json.dumps(_cell("bad", status="fine")).encode(), "status 'fine'", id="unknown-status"),
    pytest.param(lambda: json.dumps(_cell("bad", tests=[{"nodeid": 3}])).encode(), "tests[0]", id="malformed-test"),
    pytest.param(lambda: b"[1, 2]", "holds a JSON list", id="json-list"),
]


@pytest.mark.parametrize(("content", "message"), BAD_CELL_FILES)
def test_merge_names_every_unusable_cell_file_and_merges_nothing(tmp_path, capsys, content, message):
    _cell_file(tmp_path / "art-a" / "cells" / "good.json")
    bad = tmp_path / "art-b" / "cells" / "bad.json"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(content())
    out = tmp_path / "out"
    rc = matrix_main(["report", "merge", str(tmp_path / "art-a"), str(tmp_path / "art-b"), "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2
    assert f"compat.matrix report: {bad}: " in err and message in err, err
    assert "Traceback" not in err and "merged 1 cells" not in err
    assert not (out / "matrix.json").exists()


def test_merge_lists_all_unusable_files_one_line_each(tmp_path, capsys):
    art = tmp_path / "art" / "cells"
    _cell_file(art / "good.json")
    for i, param in enumerate(BAD_CELL_FILES):
        (art / f"bad{i}.json").write_bytes(param.values[0]())
    rc = matrix_main(["report", "merge", str(tmp_path / "art"), "--out", str(tmp_path / "out")])
    lines = capsys.readouterr().err.splitlines()
    assert rc == 2
    named = [ln for ln in lines if "/bad" in ln]
    assert len(named) == len(BAD_CELL_FILES), lines
    assert lines[-1] == f"compat.matrix report: {len(BAD_CELL_FILES)} unusable file(s); nothing merged"


# ---------------------------------------------------------------------------------------------
# Two runs at once

HOLDER = """
import sys, time
from compat.tools.runlock import hold_folder
with hold_folder(sys.argv[1], sys.argv[2], "the-first-run --cells x"):
    print("held", flush=True)
    time.sleep(60)
"""


@pytest.fixture
def holder(tmp_path):
    """Start another process that holds a folder for a tool; yields a function (folder, tool) -> Popen."""
    procs = []

    def start(folder: Path, tool: str) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder), tool], stdout=subprocess.PIPE,
                                text=True, cwd=PROJECT_ROOT, env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})
        procs.append(proc)
        assert proc.stdout.readline().strip() == "held"
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()


def _names_the_holder(line: str, proc: subprocess.Popen) -> bool:
    return f"pid {proc.pid} on " in line and "the-first-run --cells x" in line and ", started 20" in line


def test_a_second_matrix_run_into_the_same_folder_is_refused(fake_repo, holder, capsys):
    first = holder(fake_repo.out, "matrix")
    rc, _, err = fake_repo.run_cli(capsys)
    line = _one_line(err)
    assert rc == 2 and line.startswith(f"compat.matrix: another matrix run is using {fake_repo.out}: "), line
    assert _names_the_holder(line, first), line
    assert not (fake_repo.out / "cells").exists(), "the refused run wrote nothing"


def test_a_merge_into_a_folder_a_run_is_writing_is_refused(tmp_path, holder, capsys):
    _cell_file(tmp_path / "art" / "cells" / "c1.json")
    first = holder(tmp_path / "out", "matrix")
    rc = matrix_main(["report", "merge", str(tmp_path / "art"), "--out", str(tmp_path / "out")])
    line = _one_line(capsys.readouterr().err)
    assert rc == 2 and _names_the_holder(line, first), line
    assert not (tmp_path / "out" / "matrix.json").exists()


def test_a_second_gate_into_the_same_reports_folder_is_refused(tmp_path, holder, capsys):
    reports = tmp_path / "reports"
    first = holder(reports, "gate")
    (reports / "gate.json").write_text('{"status": "running"}')  # the first gate's report
    rc = gate_cli.main(["--to", "transformers>=5", "--reports", str(reports), "--work", str(tmp_path / "w")])
    err = capsys.readouterr().err
    assert rc == 2 and "another gate run is using" in err and _names_the_holder(err, first), err
    assert (reports / "gate.json").read_text() == '{"status": "running"}', "the other run's report is untouched"


def test_a_matrix_run_and_a_gate_may_share_a_reports_folder(fake_repo, holder, capsys):
    holder(fake_repo.out, "gate")
    rc, out, err = fake_repo.run_cli(capsys)
    assert rc == 0, out + err


def test_concurrent_runs_in_two_folders_share_no_temporary_path(fake_repo):
    """They share --work (and the environments); the JUnit file and pytest's --basetemp are private."""
    matrix = load_matrix_text(MATRIX, "fake.toml")
    results, errors = {}, []

    def run(name):
        try:
            results[name] = run_cells(matrix, list(matrix.cells), fake_repo.opts(out=fake_repo.out / name))[0]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(name,)) for name in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert {n: r.status for n, r in results.items()} == {"a": "pass", "b": "pass"}

    def private(result, flag):
        return next(arg.split("=", 1)[1] for arg in result.command if arg.startswith(flag))

    for flag in ("--junitxml=", "--basetemp="):
        assert private(results["a"], flag) != private(results["b"], flag), flag
    assert not list((fake_repo.work / "runs").iterdir()), "both scratch folders were removed"


# ---------------------------------------------------------------------------------------------
# Signals: a runner killed with SIGKILL leaves no cell running

RUNNER = """
import json, sys
from pathlib import Path
from compat.envs import Env
from compat.matrix import runner
from compat.matrix.config import load_matrix_text
from compat.tools import children

if sys.argv[2] == "watchdog":
    children._PRCTL = None  # as on a platform without prctl: the cell watches its parent itself
runner.build_env = lambda spec, root, **kw: Env(spec=spec, path=Path(sys.prefix))
base = Path(sys.argv[1])
matrix = load_matrix_text(sys.argv[3], "fake.toml")
runner.run_cells(matrix, list(matrix.cells), runner.RunOptions(out=base / "out", work=base / "work", jobs=1,
                 timeout=300, root=base / "repo", quiet=True))
"""


def _dead(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")  # a zombie nobody reaped is dead too


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads process states from /proc (Linux)")
@pytest.mark.parametrize("mode", [pytest.param("pdeathsig", id="prctl-pdeathsig"),
                                  pytest.param("watchdog", id="portable-watchdog")])
def test_sigkill_of_the_runner_ends_the_cells_pytest(fake_repo, tmp_path, mode):
    pid_file = tmp_path / "cell.pid"
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "FAKE_PID_FILE": str(pid_file), "PCC_PROBE_IMPORTS": "json"}
    runner = subprocess.Popen([sys.executable, "-c", RUNNER, str(tmp_path), mode, MATRIX], cwd=PROJECT_ROOT, env=env)
    try:
        deadline = time.monotonic() + 90
        while not (pid_file.is_file() and pid_file.read_text()) and time.monotonic() < deadline:
            assert runner.poll() is None, "the runner ended before the cell started"
            time.sleep(0.2)
        cell_pid = int(pid_file.read_text())
        assert not _dead(cell_pid)
        os.kill(runner.pid, signal.SIGKILL)
        runner.wait()
        deadline = time.monotonic() + 15
        while not _dead(cell_pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        alive = not _dead(cell_pid)
    finally:
        runner.kill()
        if pid_file.is_file() and pid_file.read_text():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
    assert not alive, f"the cell's pytest (pid {cell_pid}) outlived the runner"


# ---------------------------------------------------------------------------------------------
# Bad bytes and bad numbers on the command line


@pytest.mark.parametrize("which", [pytest.param("matrix", id="matrix-file"),
                                   pytest.param("catalogue", id="known-issues-file")])
def test_a_toml_file_that_is_not_utf8_is_one_line(tmp_path, capsys, which):
    matrix = tmp_path / "m.toml"
    catalogue = tmp_path / "known.toml"
    text = 'known_issues = ["known.toml"]\n[[cells]]\ntransformers = "4.46.3"\npeft = "0.14.0"\n'
    matrix.write_bytes(text.encode() + (b"# caf\xe9\n" if which == "matrix" else b""))
    catalogue.write_bytes(b"# caf\xe9 (latin-1)\n" if which == "catalogue" else b"")
    rc = matrix_main(["run", "--matrix", str(matrix), "--list"])
    line = _one_line(capsys.readouterr().err)
    bad = matrix if which == "matrix" else catalogue
    assert rc == 2 and str(bad) in line and "not UTF-8 text (byte 0xe9" in line, line


@pytest.mark.parametrize("value", [pytest.param(v, id=f"timeout={v}") for v in ("0", "-1", "-0.5", "nan", "inf")])
def test_matrix_timeout_must_be_positive(fake_repo, capsys, value):
    rc, _, err = fake_repo.run_cli(capsys, f"--timeout={value}")
    line = _one_line(err)
    assert rc == 2 and line.startswith("compat.matrix: --timeout must be a positive number of seconds"), line
    assert not fake_repo.out.exists()


NO_LIBCST = "import runpy, sys; sys.modules['libcst'] = None; sys.argv = ['x', '--fix', 'src']; "


@pytest.mark.parametrize("code", [
    pytest.param(NO_LIBCST + "from compat.__main__ import main; sys.argv[1:1] = ['migrate']; sys.exit(main())",
                 id="python-m-compat-migrate"),
    pytest.param(NO_LIBCST + "runpy.run_module('compat.migrate', run_name='__main__')", id="python-m-compat.migrate"),
])
def test_migrate_fix_without_libcst_names_the_extra(code):
    """Linting needs no libcst; ``--fix``/``--diff`` (which re-render import lines with it) say which
    extra to install, in one line, exit 2."""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_ROOT,
                          env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}, check=False)
    line = _one_line(proc.stderr)
    assert proc.returncode == 2, proc.stderr
    assert "need libcst" in line and "pip install 'peft-cache-compat[migrate]'" in line, line


def test_migrate_lint_runs_without_libcst(tmp_path):
    src = tmp_path / "old.py"
    src.write_text("def f(cache):\n    return cache.to_legacy_cache()\n")
    code = ("import sys; sys.modules['libcst'] = None; from compat.__main__ import main; "
            f"sys.argv = ['x', 'migrate', {str(src)!r}]; sys.exit(main())")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_ROOT,
                          env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # findings, no libcst needed
    assert "PCC002" in proc.stdout, proc.stdout


def test_matrix_runs_and_merges_a_cell_whose_output_is_fine(fake_repo, capsys):
    """The control for the faults above: the same run into a healthy folder passes and leaves no debris."""
    rc, out, err = fake_repo.run_cli(capsys)
    assert rc == 0, out + err
    assert load_cell_result(fake_repo.out / "cells" / "c1.json").status == "pass"
    assert (fake_repo.out / "cells" / "c1.junit.xml").stat().st_size > 0
    assert _leftovers(fake_repo.out) == [] and not list((fake_repo.work / "runs").iterdir())
    assert sorted(p.name for p in fake_repo.out.iterdir() if p.name.startswith(".")) == [".pcc-matrix.lock"]

