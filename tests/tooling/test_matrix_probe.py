"""The in-process import probe must not change what the suite sees."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_probe_leaves_the_lazy_package_as_a_fresh_process_would(tmp_path, monkeypatch):
    """A submodule named like one of its exports must not shadow it after the probe ran."""
    pkg = tmp_path / "lazypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        "import importlib\n__all__ = ['Thing', 'thing']\n"
        "def __getattr__(name):\n"
        "    value = getattr(importlib.import_module('lazypkg.thing'), name)\n"
        "    globals()[name] = value\n    return value\n"
    )
    (pkg / "thing.py").write_text("class Thing: pass\ndef thing(): return 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import lazypkg

    from compat.suiterun.probe import _resolve_without_trace

    _resolve_without_trace(lazypkg)
    from lazypkg import thing

    assert thing() == 42


FAST_EXIT_SUITE = '''
import atexit, os, pytest
atexit.register(lambda: print("late atexit handler ran"))  # registered after the probe's: runs first


class Noisy:
    def __del__(self):
        print("interpreter teardown ran", flush=True)


KEEP = Noisy()  # collected by the interpreter's teardown, which the fast exit skips

def test_outcome():
    assert os.environ["OUTCOME"] == "pass"
'''


@pytest.mark.parametrize(
    "outcome, args, code",
    [
        pytest.param("pass", (), 0, id="passed"),
        pytest.param("fail", (), 1, id="failed"),
        pytest.param("pass", ("-k", "nothing_matches"), 5, id="no-tests"),
        pytest.param("pass", ("--no-such-option",), 4, id="usage-error"),
    ],
)
def test_fast_exit_keeps_pytests_exit_code_and_output(tmp_path, outcome, args, code):
    """The probe's fast exit (compat.suiterun.fastexit) ends the cell's pytest with the exit code
    pytest returns, after the summary and the later atexit handlers, and writes the JUnit file."""
    (tmp_path / "test_fast.py").write_text(FAST_EXIT_SUITE)
    env = {**os.environ, "OUTCOME": outcome, "PCC_PROBE_IMPORTS": "json", "PYTHONPATH": str(PROJECT_ROOT)}
    env.pop("PYTEST_XDIST_WORKER", None)
    env.pop("PCC_NO_FAST_EXIT", None)
    junit = tmp_path / "junit.xml"
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "compat.suiterun.probe", "-p", "no:cacheprovider",
                           f"--junitxml={junit}", "-q", *args, str(tmp_path / "test_fast.py")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == code, done.stdout + done.stderr
    if code in (0, 1):
        assert f"1 {'passed' if code == 0 else 'failed'}" in done.stdout  # the summary line came out
        assert "late atexit handler ran" in done.stdout
        assert "interpreter teardown ran" not in done.stdout  # the fast exit did happen
        assert junit.is_file()


def test_an_error_after_the_session_is_not_hidden_by_the_fast_exit(tmp_path):
    """A hook that raises after the session (here in pytest_unconfigure) reaches the top level:
    the process must exit as Python does then (1, with the traceback), not with the session's 0."""
    (tmp_path / "test_fast.py").write_text(FAST_EXIT_SUITE)
    (tmp_path / "conftest.py").write_text("def pytest_unconfigure(config):\n    raise RuntimeError('late boom')\n")
    env = {**os.environ, "OUTCOME": "pass", "PCC_PROBE_IMPORTS": "json", "PYTHONPATH": str(PROJECT_ROOT)}
    env.pop("PCC_NO_FAST_EXIT", None)
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "compat.suiterun.probe", "-p", "no:cacheprovider",
                           "-q", str(tmp_path / "test_fast.py")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "late boom" in done.stderr


def test_without_fast_exit_the_interpreter_tears_down(tmp_path):
    """The control for the test above: with PCC_NO_FAST_EXIT the teardown runs (and is seen)."""
    (tmp_path / "test_fast.py").write_text(FAST_EXIT_SUITE)
    env = {**os.environ, "OUTCOME": "fail", "PCC_PROBE_IMPORTS": "json", "PYTHONPATH": str(PROJECT_ROOT),
           "PCC_NO_FAST_EXIT": "1"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "compat.suiterun.probe", "-p", "no:cacheprovider",
                           "-q", str(tmp_path / "test_fast.py")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 1
    assert "interpreter teardown ran" in done.stdout
