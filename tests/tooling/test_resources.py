"""The one rule for the data root (compat/resources.py): $PCC_DATA_ROOT, else the checkout, else
the copy a wheel ships; anything else is one clear error. (From a real install:
test_downstream.py.)"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from compat import resources
from compat.toolchain import PROJECT_ROOT


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """A fake install: ``site-packages/compat`` (no pyproject.toml above it) with ``_data``."""
    package = tmp_path / "site-packages" / "compat"
    for sub in ("_data/tests/shim", "_data/matrices"):
        (package / sub).mkdir(parents=True)
    (package / "_data" / "pyproject.toml").write_text('[project]\nname = "peft-cache-compat"\n')
    (package / "__init__.py").write_text("WHERE = 'the installed copy'\n")
    monkeypatch.setattr(resources, "PACKAGE_DIR", package)
    monkeypatch.delenv(resources.DATA_ROOT_ENV, raising=False)
    return package


def test_a_checkout_reads_its_own_files(monkeypatch):
    monkeypatch.delenv(resources.DATA_ROOT_ENV, raising=False)
    assert resources.checkout_root() == PROJECT_ROOT
    assert resources.data_root() == PROJECT_ROOT
    assert resources.default_matrix() == PROJECT_ROOT / "matrices" / "default.toml"
    assert resources.census_catalogue() == PROJECT_ROOT / "matrices" / "census-known.toml"
    assert resources.reports_dir() == PROJECT_ROOT / "reports"
    assert resources.import_root(PROJECT_ROOT / "unused") == PROJECT_ROOT


def test_an_install_reads_the_packaged_copy(installed, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resources.checkout_root() is None
    assert resources.data_root() == installed / "_data"
    assert resources.suite_root() == installed / "_data"
    assert resources.reports_dir() == tmp_path / "reports"


def test_an_incomplete_install_is_one_clear_error(installed):
    (installed / "_data" / "matrices").rmdir()
    with pytest.raises(resources.ResourceError, match=r"neither a checkout nor a complete install .*lacks matrices"):
        resources.data_root()


@pytest.mark.parametrize("make,error", [
    pytest.param(lambda root: root, "", id="a-checkout"),
    pytest.param(lambda root: root / "tests", r"no pyproject\.toml, tests, matrices there", id="not-a-data-root"),
])
def test_the_override_wins_and_is_checked(installed, monkeypatch, make, error):
    monkeypatch.setenv(resources.DATA_ROOT_ENV, str(make(PROJECT_ROOT)))
    if error:
        with pytest.raises(resources.ResourceError, match=error):
            resources.data_root()
    else:
        assert resources.data_root() == PROJECT_ROOT


def test_import_root_exposes_only_this_compat(installed, tmp_path):
    """The folder a side's PYTHONPATH gets holds this package and nothing else of site-packages."""
    (installed.parent / "torch").mkdir()  # what must not leak into the other environment
    root = resources.import_root(tmp_path / "work")
    assert root == resources.import_root(tmp_path / "work")  # reused
    assert sorted(p.name for p in root.iterdir()) == ["compat"]
    out = subprocess.run([sys.executable, "-I", "-c", "import sys; sys.path.insert(0, sys.argv[1]); import compat; "
                          "print(compat.WHERE)", str(root)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "the installed copy"


def test_the_console_command_takes_data_root(monkeypatch, tmp_path, capsys):
    from compat.__main__ import main

    monkeypatch.setenv(resources.DATA_ROOT_ENV, "")  # restored (unset) after the test
    code = main(["--data-root", str(tmp_path), "matrix", "run", "--list"])
    assert code == 2
    assert f"${resources.DATA_ROOT_ENV}={tmp_path}: no pyproject.toml, tests, matrices there" in capsys.readouterr().err
    assert os.environ[resources.DATA_ROOT_ENV] == str(tmp_path)


def test_the_gate_says_which_data_root_it_could_not_use(monkeypatch, tmp_path, capsys):
    import json

    from compat.gate.cli import main

    monkeypatch.setenv(resources.DATA_ROOT_ENV, str(tmp_path / "nothing"))
    code = main(["--from-python", sys.executable, "--to-python", sys.executable, "--no-suites",
                 "--reports", str(tmp_path / "r"), "--work", str(tmp_path / "w")])
    report = json.loads((tmp_path / "r" / "gate.json").read_text())
    assert (code, report["status"]) == (2, "error")
    assert report["error"].startswith(f"${resources.DATA_ROOT_ENV}={tmp_path / 'nothing'}: no pyproject.toml")
    assert "internal error" not in capsys.readouterr().err
