"""Where the harness finds its suites, matrices and catalogues, and where its outputs go: one rule.

The equivalence suites (``tests/``), the matrices (``matrices/*.toml``), the known-issue
catalogues (``matrices/known-issues.toml``, ``matrices/census-known.toml``) and the project
configuration (``pyproject.toml``: the torch source, the default pins, pytest's settings) are
read from the **data root**, chosen in this order:

1. ``$PCC_DATA_ROOT`` (or ``peft-cache-compat --data-root DIR ...``), when set: that folder, which
   must hold ``pyproject.toml``, ``tests/`` and ``matrices/``;
2. the **checkout** this package was imported from: the folder above ``compat/`` when it holds
   this project's ``pyproject.toml`` (a clone, or ``pip install -e .``);
3. the **packaged copy**, ``compat/_data/``, that the wheel carries (``pip install
   peft-cache-compat``; ``[tool.hatch.build.targets.wheel.force-include]`` in pyproject.toml).

Anything else is a :class:`ResourceError` naming what was looked for, never a silent empty list.

Outputs: ``reports/`` and the matrix's ``.matrix-work/`` sit in the checkout's root in a checkout
(as before), and under the current folder (``./reports``) and the user cache
(``~/.cache/peft-cache-compat/matrix``) from an install.

>>> root = data_root()
>>> (root / "pyproject.toml").is_file() and default_matrix().name == "default.toml"
True
>>> suite_root() == root
True
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

__all__ = [
    "DATA_ROOT_ENV",
    "PACKAGE_DIR",
    "ResourceError",
    "census_catalogue",
    "checkout_root",
    "data_root",
    "default_matrix",
    "import_root",
    "matrix_work_dir",
    "project_config_file",
    "reports_dir",
    "suite_root",
    "user_cache_dir",
]

#: Environment variable that overrides the data root (rule 1).
DATA_ROOT_ENV = "PCC_DATA_ROOT"

#: This package's folder (``.../compat``).
PACKAGE_DIR = Path(__file__).resolve().parent

#: What a data root must hold.
_REQUIRED = ("pyproject.toml", "tests", "matrices")


class ResourceError(RuntimeError):
    """No usable data root: says which folder was tried and what it lacked."""


def _missing(root: Path) -> list[str]:
    return [name for name in _REQUIRED if not (root / name).exists()]


def checkout_root() -> Path | None:
    """The checkout ``compat`` was imported from, or ``None`` when it is an installed copy."""
    root = PACKAGE_DIR.parent
    try:
        head = (root / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        return None
    return root if 'name = "peft-cache-compat"' in head and not _missing(root) else None


def data_root() -> Path:
    """The folder holding ``pyproject.toml``, ``tests/`` and ``matrices/`` (the rule above)."""
    override = os.environ.get(DATA_ROOT_ENV)
    if override:
        root = Path(override).expanduser().resolve()
        missing = _missing(root)
        if missing:
            raise ResourceError(f"${DATA_ROOT_ENV}={override}: no {', '.join(missing)} there; expected a "
                                "peft-cache-compat checkout or its packaged data (compat/_data)")
        return root
    checkout = checkout_root()
    if checkout is not None:
        return checkout
    packaged = PACKAGE_DIR / "_data"  # rule 3: what the wheel carries
    missing = _missing(packaged)
    if missing:
        raise ResourceError(f"peft-cache-compat at {PACKAGE_DIR} is neither a checkout nor a complete install "
                            f"({packaged} lacks {', '.join(missing)}); reinstall the wheel or set "
                            f"${DATA_ROOT_ENV} to a checkout")
    return packaged


def project_config_file() -> Path:
    """``pyproject.toml`` of the data root: ``[tool.peft-cache-compat]`` and pytest's settings."""
    return data_root() / "pyproject.toml"


def suite_root() -> Path:
    """The folder suite paths (``tests/shim``, ...) are relative to; pytest runs from here."""
    return data_root()


def default_matrix() -> Path:
    """``matrices/default.toml``."""
    return data_root() / "matrices" / "default.toml"


def census_catalogue() -> Path:
    """``matrices/census-known.toml``: the census's known upstream issues."""
    return data_root() / "matrices" / "census-known.toml"


def reports_dir() -> Path:
    """Default report folder: ``<checkout>/reports`` in a checkout, else ``./reports``."""
    root = checkout_root()
    return (root / "reports") if root is not None else Path.cwd() / "reports"


def user_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/peft-cache-compat`` (default ``~/.cache/peft-cache-compat``): an install's work folders."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "peft-cache-compat"


def matrix_work_dir() -> Path:
    """Default matrix work folder: ``<checkout>/.matrix-work``, else ``~/.cache/peft-cache-compat/matrix``."""
    root = checkout_root()
    return (root / ".matrix-work") if root is not None else user_cache_dir() / "matrix"


def import_root(scratch: Path) -> Path:
    """A folder to put on another interpreter's ``PYTHONPATH`` so it imports *this* ``compat`` and
    nothing else from this environment.

    In a checkout that is the checkout's root. An installed ``compat`` sits in a ``site-packages``
    whose torch/transformers would shadow the other environment's own, so a folder under
    ``scratch`` is made holding only a link to this package (a copy where links are refused).
    """
    root = checkout_root()
    if root is not None:
        return root
    target = scratch / "import-root"
    link = target / "compat"
    if link.is_symlink() and link.resolve() == PACKAGE_DIR:
        return target
    target.mkdir(parents=True, exist_ok=True)
    staged = target / f".compat-{os.getpid()}"
    try:
        staged.symlink_to(PACKAGE_DIR, target_is_directory=True)
    except OSError:  # e.g. Windows without the symlink privilege
        shutil.copytree(PACKAGE_DIR, staged, ignore=shutil.ignore_patterns("__pycache__", "_data"))
    if link.is_dir() and not link.is_symlink():
        shutil.rmtree(link)
    os.replace(staged, link)
    return target
