"""Build one isolated uv environment for a (transformers, peft, extra pins) spec.

Used by the matrix runner (one environment per cell) and the upgrade gate
(baseline and candidate). Import-light: no torch, no transformers.

Every environment gets the torch of :func:`compat.toolchain.torch_source`
(fail-closed: the ``+cpu`` pin plus a constraint file, so no dependency can
swap in a CUDA build), the requested requirements, and the test tools
(:data:`TEST_PACKAGES`). Files are hardlinked from uv's cache, so a cell costs
about a second and ~10 MB with a warm cache. A new environment also takes the
compiled bytecode that sibling environments already wrote for the same files
(:mod:`compat.bytecode`), so its first imports need not compile them again.

>>> spec = EnvSpec("tf446", ["transformers==4.46.3", "peft==0.13.2"], extra_pins=["numpy<2"])
>>> spec.all_requirements()
['transformers==4.46.3', 'peft==0.13.2', 'numpy<2']
>>> try:
...     EnvSpec("bad", ["transformers=4.46"])
... except InstallError as exc:
...     print(exc.message.split(" (")[0])
malformed requirement 'transformers=4.46'
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from filelock import FileLock
from packaging.requirements import InvalidRequirement, Requirement

from compat.bytecode import share_bytecode
from compat.toolchain import ToolchainError, TorchSource, torch_source

__all__ = [
    "TEST_PACKAGES",
    "VERSION_NAMES",
    "Env",
    "EnvSpec",
    "InstallError",
    "build_env",
    "find_uv",
]

#: Installed into every environment: what the suites need besides torch/transformers/peft.
TEST_PACKAGES = ("pytest", "hypothesis", "pytest-xdist", "safetensors", "packaging")

#: Distributions :meth:`Env.installed_versions` reports by default.
VERSION_NAMES = (
    "transformers", "peft", "torch", "tokenizers", "huggingface-hub", "accelerate",
    "numpy", "safetensors", "pytest", "hypothesis",
)

_MARKER = ".pcc-env.json"  # written last: an environment without it is incomplete


class InstallError(RuntimeError):
    """An environment could not be built; ``message`` is the resolver's own explanation."""

    def __init__(self, env_name: str, message: str, log_path: Path | None = None):
        self.env_name = env_name
        self.message = message.strip()
        self.log_path = log_path
        where = f" (log: {log_path})" if log_path else ""
        super().__init__(f"env {env_name!r}: {self.message}{where}")


@dataclasses.dataclass(frozen=True)
class EnvSpec:
    """What to install: ``requirements`` (e.g. ``transformers==4.46.3``) plus ``extra_pins``.

    ``extra_pins`` are ordinary requirements too (``numpy<2``), kept apart only
    so reports can show which pins were added by hand.
    """

    name: str
    requirements: tuple[str, ...]
    extra_pins: tuple[str, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "requirements", tuple(self.requirements))
        object.__setattr__(self, "extra_pins", tuple(self.extra_pins))
        for req in self.all_requirements():
            try:
                Requirement(req)
            except InvalidRequirement as exc:
                raise InstallError(
                    self.name,
                    f"malformed requirement {req!r} (expected e.g. 'transformers==4.46.3'): {exc}",
                ) from None

    def all_requirements(self) -> list[str]:
        """Requirements then extra pins, as passed to the installer."""
        return [*self.requirements, *self.extra_pins]

    def fingerprint(self, torch_spec: str) -> str:
        """A short hash of everything that decides the environment's contents (versions, extra pins,
        test tools, torch spec, Python)."""
        blob = json.dumps(
            [self.all_requirements(), list(TEST_PACKAGES), torch_spec, sys.version],
            sort_keys=True,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def dirname(self, torch_spec: str) -> str:
        """The environment's folder name: the spec's name and its :meth:`fingerprint`, so two specs
        with one name (e.g. another torch pin) never share, or delete, each other's environment.

        >>> EnvSpec("t5", ["transformers==5.23.0"]).dirname("torch==2.13.0+cpu")[:3]
        't5-'
        """
        return f"{self.name}-{self.fingerprint(torch_spec)[:12]}"


def find_uv() -> list[str]:
    """The command that runs uv: ``$PCC_UV``, then ``uv`` on PATH, next to this interpreter, then the
    PyPI ``uv`` package (the one place that decides; the gate asks it too)."""
    explicit = os.environ.get("PCC_UV")
    if explicit:
        return [explicit]
    for candidate in (shutil.which("uv"), os.path.join(os.path.dirname(sys.executable), "uv")):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return [candidate]
    try:
        import uv  # the PyPI "uv" package ships the binary

        return [uv.find_uv_bin()]
    except (ImportError, FileNotFoundError, AttributeError):
        pass
    raise InstallError("-", "uv not found: install it (pip install uv) or set PCC_UV=/path/to/uv")


@dataclasses.dataclass
class Env:
    """A built environment."""

    spec: EnvSpec
    path: Path
    build_seconds: float = 0.0
    reused: bool = False

    @property
    def python(self) -> Path:
        """The environment's interpreter."""
        return self.path / "bin" / "python"

    def environ(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """``base`` (default ``os.environ``) with this venv activated and bytecode caching on.

        The venv is private, so Python may write ``.pyc`` files into it; without
        them every process recompiles torch/transformers (~2 s here).
        """
        env = dict(os.environ if base is None else base)
        env["VIRTUAL_ENV"] = str(self.path)
        env["PATH"] = f"{self.path / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env.pop("PYTHONHOME", None)
        env["PYTHONDONTWRITEBYTECODE"] = ""
        return env

    def installed_versions(self, names=VERSION_NAMES) -> dict[str, str | None]:
        """``{distribution: version or None}`` as installed (read from metadata, no imports)."""
        from compat.tools.versions import VersionsError, installed_in

        try:
            return installed_in(str(self.python), names, env=self.environ(), timeout=600)
        except VersionsError as exc:
            raise InstallError(self.spec.name, f"cannot read installed versions: {exc}") from None

    def freeze(self) -> list[str]:
        """``pip freeze``-style lines (``name==version``), from ``uv pip freeze``."""
        proc = subprocess.run(
            [*find_uv(), "pip", "freeze", "--python", str(self.python)],
            capture_output=True, text=True, check=False,
        )
        if proc.returncode != 0:
            raise InstallError(self.spec.name, f"uv pip freeze failed: {proc.stderr}")
        return [line for line in proc.stdout.splitlines() if line.strip()]

    def verify_torch(self, source: TorchSource, *, import_check: bool = True) -> None:
        """Fail unless torch is exactly the pinned build of the kind the source asked for: the CPU
        build with no CUDA wheel alongside (the default), or a CUDA build (a ``+cuNNN`` pin).

        ``import_check`` also imports torch and checks ``torch.version.cuda`` (about a second);
        without it only the installed metadata is checked.
        """
        frozen = self.freeze()
        cuda = [line for line in frozen if re.match(r"(nvidia-|triton|cuda-)", line, re.I)]
        if cuda and source.device == "cpu":
            raise InstallError(self.spec.name, f"CUDA packages were installed: {cuda}")
        got = self.installed_versions(["torch"])["torch"]
        if got != source.pinned_version:
            raise InstallError(
                self.spec.name, f"torch {got} installed, expected the pinned {source.pinned_version}"
            )
        if import_check:
            proc = subprocess.run(
                [str(self.python), "-c", "import torch; print(torch.version.cuda)"],
                capture_output=True, text=True, check=False, env=self.environ(),
            )
            problem = source.installed_problem(got, proc.stdout.strip()) if proc.returncode == 0 else ""
            if proc.returncode != 0 or problem:
                raise InstallError(self.spec.name, f"{problem or 'torch does not import'}: {proc.stderr[-2000:]}")


def _uv_environ(source: TorchSource, constraint: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(source.uv_env())
    env["UV_CONSTRAINT"] = str(constraint)
    env["UV_LINK_MODE"] = "hardlink"
    env["UV_NO_PROGRESS"] = "1"
    env["UV_PYTHON_DOWNLOADS"] = "never"
    for leak in ("VIRTUAL_ENV", "CONDA_PREFIX", "UV_SYSTEM_PYTHON", "PIP_CONSTRAINT"):
        env.pop(leak, None)
    return env


def _resolver_message(stderr: str) -> str:
    """The informative lines of uv's error output (``error:``, ``cause:``, ``hint:``...)."""
    lines = [ln for ln in stderr.splitlines() if ln.strip() and not ln.startswith("Using Python")]
    return "\n".join(lines[-40:]) or "uv failed without a message"


def _is_built(marker: Path, fingerprint: str) -> bool:
    try:
        return json.loads(marker.read_text()).get("fingerprint") == fingerprint
    except (OSError, ValueError):
        return False


#: How many sibling environments a new one takes compiled bytecode from (the most recently built first).
BYTECODE_DONORS = 4


def _donors(root: Path, path: Path) -> list[Path]:
    """Built environments beside ``path`` (their marker written), the most recently built first."""
    built = []
    for marker in root.glob(f"*/{_MARKER}"):
        try:
            built.append((marker.stat().st_mtime, marker.parent))
        except OSError:  # removed meanwhile (another run's --fresh-envs)
            continue
    return [p for _, p in sorted(built, key=lambda t: t[0], reverse=True) if p != path][:BYTECODE_DONORS]


def build_env(
    spec: EnvSpec,
    root: Path,
    *,
    log_path: Path | None = None,
    reuse: bool = False,
    compile_bytecode: bool = False,
    import_check: bool = True,
    source: TorchSource | None = None,
) -> Env:
    """Create ``root/<spec.dirname(torch spec)>`` and install the pinned torch, ``spec`` and the test tools.

    The folder name carries a hash of the whole spec, so an environment is only ever replaced by
    one of the same spec. ``reuse``: keep an existing complete environment (same fingerprint)
    instead of rebuilding it. Two runs that want the same environment at once take turns (a lock
    per environment; the second then reuses it). Raises :class:`InstallError` with uv's message
    when the spec cannot be resolved (e.g. a version that does not exist), torch is not the
    pinned CPU build, or ``root`` cannot be written.
    """
    started = time.perf_counter()
    try:
        source = source or torch_source()
    except ToolchainError as exc:
        raise InstallError(spec.name, str(exc), log_path) from None
    name = spec.dirname(source.spec)
    path = Path(root) / name
    fingerprint = spec.fingerprint(source.spec)
    env = Env(spec=spec, path=path)
    lock = FileLock(str(Path(root) / f".{name}.lock"), timeout=-1)
    try:
        Path(root).mkdir(parents=True, exist_ok=True)
        with lock:
            if reuse and _is_built(path / _MARKER, fingerprint):
                env.reused = True
            else:
                _install(spec, path, source, log_path=log_path, compile_bytecode=compile_bytecode)
                env.verify_torch(source, import_check=import_check)
                if not compile_bytecode:  # a cache: what cannot be shared compiles on first import
                    share_bytecode(path, _donors(Path(root), path))
                (path / _MARKER).write_text(json.dumps({"fingerprint": fingerprint,
                                                        "spec": dataclasses.asdict(spec)}))
    except OSError as exc:
        raise InstallError(spec.name, f"cannot write {exc.filename or root}: {exc.strerror or exc}",
                           log_path) from None
    env.build_seconds = time.perf_counter() - started
    return env


def _install(spec: EnvSpec, path: Path, source: TorchSource, *, log_path: Path | None,
             compile_bytecode: bool) -> None:
    """A fresh venv at ``path`` with the pinned torch, ``spec`` and :data:`TEST_PACKAGES` (uv)."""
    uv = find_uv()
    if path.exists():
        shutil.rmtree(path)
    constraint = path.parent / f".{path.name}.torch-constraint.txt"
    constraint.write_text(source.constraint_line())
    uv_env = _uv_environ(source, constraint)
    install = [*uv, "pip", "install", "--python", str(path / "bin" / "python")]
    if compile_bytecode:
        install.append("--compile-bytecode")
    commands = [
        [*uv, "venv", "-q", "--python", sys.executable, str(path)],
        [*install, source.spec, *spec.all_requirements(), *TEST_PACKAGES],
    ]
    log = open(log_path, "a", encoding="utf-8") if log_path else None  # noqa: SIM115
    try:
        for cmd in commands:
            if log:
                log.write(f"$ {' '.join(cmd)}\n")
                log.flush()
            proc = subprocess.run(cmd, capture_output=True, text=True, env=uv_env, check=False)
            if log:
                log.write(proc.stdout + proc.stderr)
                log.flush()
            if proc.returncode != 0:
                raise InstallError(spec.name, _resolver_message(proc.stderr), log_path)
    finally:
        if log:
            log.close()
