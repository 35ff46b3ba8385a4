"""Where every environment's torch comes from, and how it is kept CPU-only.

This module imports neither torch nor transformers: the noxfile, the matrix
runner and the gate use it to build environments.

The policy is *fail closed*: torch is requested with a ``+cpu`` local version
(PyPI's CUDA wheels can never satisfy it) from an explicit wheel source, and
every install is constrained to that exact torch, so a package that depends on
plain ``torch`` cannot pull a multi-GB CUDA build.

A GPU runner asks for a CUDA build explicitly, by its local version label
(``PCC_TORCH_SPEC=torch==2.11.0+cu130`` with ``PCC_TORCH_INDEX_URL`` its
index): :attr:`TorchSource.device` is then ``cuda``, and the environment check
requires the opposite of the CPU one (``torch.version.cuda`` set). Either way
the installed torch must be the kind the spec asked for.

>>> spec = TorchSource(spec="torch==2.13.0+cpu", find_links="/opt/wheels", index_url="")
>>> spec.uv_env()["UV_FIND_LINKS"]
'/opt/wheels'
>>> spec.pinned_version, spec.device
('2.13.0+cpu', 'cpu')
>>> TorchSource(spec="torch==2.11.0+cu130", find_links="", index_url="https://download.pytorch.org/whl/cu130").device
'cuda'
>>> TorchSource(spec="torch==2.11.0+cu130", find_links="", index_url="").check()  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
compat.toolchain.ToolchainError: torch spec 'torch==2.11.0+cu130' asks for a CUDA build: set PCC_TORCH_INDEX_URL ...
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

from compat import resources

if sys.version_info >= (3, 11):  # pragma: no cover - version-gated backport
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "PROJECT_ROOT",
    "ToolchainError",
    "TorchSource",
    "default_pins",
    "load_project_config",
    "torch_source",
]

#: The folder above ``compat/``: the checkout's root in a clone (what nox and the repository's own
#: tests use). Code that must also work from an install asks :mod:`compat.resources` instead.
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ToolchainError(RuntimeError):
    """The torch source is missing or would not be CPU-only."""


def load_project_config(root: Path | None = None) -> dict:
    """Return ``[tool.peft-cache-compat]`` from ``pyproject.toml`` (default: the data root's,
    :func:`compat.resources.project_config_file`: the checkout's, or the copy a wheel ships)."""
    try:
        path = (root / "pyproject.toml") if root is not None else resources.project_config_file()
    except resources.ResourceError as exc:
        raise ToolchainError(str(exc)) from None
    with open(path, "rb") as fh:
        return tomllib.load(fh).get("tool", {}).get("peft-cache-compat", {})


def default_pins(root: Path | None = None) -> list[str]:
    """Requirement strings for the newest pair; ``PCC_PINS`` (space-separated) overrides.

    >>> import os; os.environ["PCC_PINS"] = "transformers==4.36.2 peft==0.7.1"
    >>> default_pins()
    ['transformers==4.36.2', 'peft==0.7.1']
    >>> del os.environ["PCC_PINS"]
    """
    override = os.environ.get("PCC_PINS", "").split()
    if override:
        return override
    pins = load_project_config(root).get("default-pins", {})
    return [f"{name}=={version}" for name, version in pins.items()]


def _pip_find_links() -> str:
    """The find-links folder pip is configured with (uv does not read pip's config)."""
    # uv-made venvs carry no pip, so also ask the pip on PATH (the machine's own config).
    candidates = [[sys.executable, "-m", "pip"]]
    if shutil.which("pip"):
        candidates.append([shutil.which("pip")])
    for pip in candidates:
        try:
            out = subprocess.run(
                [*pip, "config", "get", "global.find-links"],
                capture_output=True, text=True, timeout=30, check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    return ""


@dataclasses.dataclass(frozen=True)
class TorchSource:
    """An exact torch requirement and the wheel source it must come from."""

    spec: str
    find_links: str
    index_url: str

    @property
    def device(self) -> str:
        """``cuda`` for a CUDA build (local label ``+cuNNN``), else ``cpu`` (``+cpu``, or no label
        from an explicit CPU index)."""
        _, _, label = self.pinned_version.partition("+")
        return "cuda" if label.startswith("cu") else "cpu"

    def installed_problem(self, version: str | None, cuda: str | None) -> str:
        """``""`` when an installed torch (its version and ``torch.version.cuda``) is what this
        source asked for, else what is wrong (a CUDA build where CPU was asked, or the reverse).

        >>> TorchSource("torch==2.13.0+cpu", "/w", "").installed_problem("2.13.0+cpu", "12.8")
        "torch is not CPU-only (torch.version.cuda='12.8')"
        """
        if version != self.pinned_version:
            return f"torch {version} installed, expected the pinned {self.pinned_version}"
        if self.device == "cpu" and cuda not in (None, "None", ""):
            return f"torch is not CPU-only (torch.version.cuda={cuda!r})"
        if self.device == "cuda" and cuda in (None, "None", ""):
            return f"torch {version} has no CUDA (torch.version.cuda=None) but {self.spec!r} asked for a CUDA build"
        return ""

    @property
    def pinned_version(self) -> str:
        """The exact version in ``spec`` (``==`` pins only)."""
        name, sep, version = self.spec.partition("==")
        if not sep or name.strip() != "torch" or not version.strip():
            raise ToolchainError(
                f"torch spec must be an exact pin like 'torch==2.13.0+cpu', got {self.spec!r}"
            )
        return version.strip()

    def check(self) -> None:
        """Refuse a configuration that could silently resolve a CUDA build."""
        version = self.pinned_version
        if self.device == "cuda" and not (self.index_url or self.find_links):
            raise ToolchainError(
                f"torch spec {self.spec!r} asks for a CUDA build: set PCC_TORCH_INDEX_URL (or "
                "PCC_TORCH_FIND_LINKS) to where that exact build lives"
            )
        if "+" not in version and not self.index_url:
            raise ToolchainError(
                f"torch spec {self.spec!r} has no local version label (e.g. '+cpu') and no "
                "index-url: PyPI would serve a multi-GB CUDA build. Pin '+cpu' or set "
                "PCC_TORCH_INDEX_URL to a CPU index."
            )
        if not self.find_links and not self.index_url:
            raise ToolchainError(
                f"no wheel source for {self.spec!r}: pip has no global.find-links and neither "
                "PCC_TORCH_FIND_LINKS nor PCC_TORCH_INDEX_URL is set (see "
                "[tool.peft-cache-compat.torch] in pyproject.toml)."
            )

    def uv_env(self) -> dict[str, str]:
        """Environment variables that point ``uv pip install`` at the wheel source."""
        env = {}
        if self.find_links:
            env["UV_FIND_LINKS"] = self.find_links
        if self.index_url:
            env["UV_INDEX"] = self.index_url
            # torch from the CPU index only, everything else from PyPI.
            env["UV_INDEX_STRATEGY"] = "unsafe-best-match"
        return env

    def constraint_line(self) -> str:
        """A constraint that keeps any dependency from replacing this torch."""
        return f"torch=={self.pinned_version}\n"


def torch_source(root: Path | None = None) -> TorchSource:
    """The configured torch source, with ``PCC_TORCH_*`` overrides applied, checked."""
    cfg = load_project_config(root).get("torch", {})
    source = TorchSource(
        spec=os.environ.get("PCC_TORCH_SPEC") or cfg.get("spec", ""),
        find_links=os.environ.get("PCC_TORCH_FIND_LINKS") or cfg.get("find-links") or _pip_find_links(),
        index_url=os.environ.get("PCC_TORCH_INDEX_URL") or cfg.get("index-url", ""),
    )
    source.check()
    return source
