"""compat.bytecode: a new environment takes the bytecode its siblings compiled for identical files."""

from __future__ import annotations

import os
import py_compile
import subprocess
import sys
from pathlib import Path

import pytest

from compat.bytecode import share_bytecode

pytestmark = pytest.mark.tooling

SOURCE = "VALUE = 41 + 1\n"


def _env(root: Path, name: str, files: dict[str, str], record: dict[str, str] | None = None) -> Path:
    """A fake environment: ``lib/python3.X/site-packages`` with ``files`` and one distribution whose
    RECORD lists them (``record`` overrides a file's RECORD line)."""
    env = root / name
    site = env / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    for rel, text in files.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_text(text)
        os.utime(site / rel, ns=(1_700_000_000_000_000_000,) * 2)  # the same mtime everywhere, as uv's hardlinks
    lines = {rel: f"{rel},sha256=same-{len(text)},{len(text)}" for rel, text in files.items()}
    lines.update(record or {})
    (site / "pkg-1.0.dist-info").mkdir(parents=True)
    (site / "pkg-1.0.dist-info" / "RECORD").write_text("\n".join(lines.values()) + "\n")
    return env


def _site(env: Path) -> Path:
    return next(env.glob("lib/python3*/site-packages"))


def _pyc(env: Path, rel: str) -> Path:
    source = _site(env) / rel
    return source.parent / "__pycache__" / f"{source.stem}.{sys.implementation.cache_tag}.pyc"


def _compile(env: Path, rel: str) -> Path:
    return Path(py_compile.compile(str(_site(env) / rel), cfile=str(_pyc(env, rel)), doraise=True,
                                   invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP))


def test_identical_files_get_the_siblings_bytecode_and_python_uses_it(tmp_path):
    donor = _env(tmp_path, "donor", {"pkg/__init__.py": "", "pkg/mod.py": SOURCE})
    compiled = _compile(donor, "pkg/mod.py")
    env = _env(tmp_path, "new", {"pkg/__init__.py": "", "pkg/mod.py": SOURCE})
    assert share_bytecode(env, [donor]) == 1
    linked = _pyc(env, "pkg/mod.py")
    assert linked.stat().st_ino == compiled.stat().st_ino
    # Python accepts it as valid (an invalid .pyc would be rewritten: a new file, another inode)
    out = subprocess.run([sys.executable, "-c", "import pkg.mod; print(pkg.mod.VALUE)"], cwd=tmp_path, check=True,
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(_site(env)),
                                                              "PYTHONDONTWRITEBYTECODE": ""})
    assert out.stdout.strip() == "42" and linked.stat().st_ino == compiled.stat().st_ino
    assert share_bytecode(env, [donor]) == 0  # nothing left to share


@pytest.mark.parametrize("record", [
    pytest.param({"pkg/mod.py": "pkg/mod.py,sha256=other,15"}, id="another-hash"),
    pytest.param({"pkg/mod.py": "pkg/other.py,sha256=same-15,15"}, id="not-in-this-record"),
])
def test_files_that_differ_compile_as_usual(tmp_path, record):
    donor = _env(tmp_path, "donor", {"pkg/mod.py": SOURCE})
    _compile(donor, "pkg/mod.py")
    env = _env(tmp_path, "new", {"pkg/mod.py": SOURCE}, record)
    assert share_bytecode(env, [donor]) == 0 and not _pyc(env, "pkg/mod.py").exists()


def test_own_bytecode_is_kept_and_missing_or_unreadable_donors_share_nothing(tmp_path):
    donor = _env(tmp_path, "donor", {"pkg/mod.py": SOURCE})
    _compile(donor, "pkg/mod.py")
    env = _env(tmp_path, "new", {"pkg/mod.py": SOURCE})
    own = _compile(env, "pkg/mod.py")
    inode = own.stat().st_ino
    broken = _env(tmp_path, "broken", {"pkg/mod.py": SOURCE})
    (_site(broken) / "pkg-1.0.dist-info" / "RECORD").write_bytes(b"\xff\xfe")  # not UTF-8
    assert share_bytecode(env, [tmp_path / "absent", broken, env, donor]) == 0
    assert own.stat().st_ino == inode
    assert share_bytecode(tmp_path / "absent", [donor]) == 0
