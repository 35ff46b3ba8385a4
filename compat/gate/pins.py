"""Parse ``--from`` / ``--to`` pins and find their defaults (torch-free).

A side is a list of exact pins that must name ``transformers`` and ``peft``;
other exact pins (e.g. ``tokenizers==0.20.3``) are passed through to the env.

>>> parse_pins(["transformers==4.57.6", "peft==0.18.1"], "--from")
Pins(transformers='4.57.6', peft='0.18.1', extra=())
>>> parse_pins(["transformers>=4"], "--to")  # doctest: +NORMALIZE_WHITESPACE
Traceback (most recent call last):
...
compat.gate.errors.GateError: --to: 'transformers>=4' is not an exact pin; expected NAME==VERSION,
e.g. transformers==4.57.6
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from compat.gate.errors import GateError

__all__ = [
    "Pins",
    "check_exist",
    "installed_pins",
    "newest_pins",
    "parse_pins",
    "uv_executable",
]

REQUIRED = ("transformers", "peft")
_PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s=<>!~;,]+)\s*$")


@dataclasses.dataclass(frozen=True)
class Pins:
    """The exact versions one side of the gate runs with."""

    transformers: str
    peft: str
    extra: tuple[str, ...] = ()

    def requirements(self) -> list[str]:
        """Requirement strings for an installer.

        >>> Pins("5.23.0", "0.21.2").requirements()
        ['transformers==5.23.0', 'peft==0.21.2']
        """
        return [f"transformers=={self.transformers}", f"peft=={self.peft}", *self.extra]

    def label(self) -> str:
        """A short, path-safe name: ``transformers-5.23.0_peft-0.21.2``.

        >>> Pins("5.23.0", "0.21.2").label()
        'transformers-5.23.0_peft-0.21.2'
        """
        return f"transformers-{self.transformers}_peft-{self.peft}"

    def __str__(self) -> str:
        return " ".join(self.requirements())


def parse_pins(items: list[str], option: str) -> Pins:
    """Turn ``["transformers==A", "peft==B", ...]`` into :class:`Pins` or raise :class:`GateError`."""
    found: dict[str, str] = {}
    extra: list[str] = []
    for item in items:
        match = _PIN.match(item)
        if not match:
            raise GateError(
                f"{option}: {item!r} is not an exact pin; expected NAME==VERSION, "
                "e.g. transformers==4.57.6"
            )
        name, version = canonicalize_name(match.group(1)), match.group(2)
        try:
            Version(version)
        except InvalidVersion:
            raise GateError(f"{option}: {item!r}: {version!r} is not a valid version") from None
        if name in found or any(canonicalize_name(e.split("==")[0]) == name for e in extra):
            raise GateError(f"{option}: {name} is pinned twice")
        if name == "torch":
            raise GateError(
                f"{option}: torch is not a gate axis; it comes from [tool.peft-cache-compat.torch] "
                "(or PCC_TORCH_SPEC) so both sides run the same CPU torch"
            )
        if name in REQUIRED:
            found[name] = version
        else:
            extra.append(f"{name}=={version}")
    missing = [name for name in REQUIRED if name not in found]
    if missing:
        raise GateError(
            f"{option}: missing {' and '.join(missing)}; expected "
            f"{option} transformers==A peft==B (got {' '.join(items) or 'nothing'})"
        )
    return Pins(found["transformers"], found["peft"], tuple(extra))


def installed_versions(python: str) -> dict[str, str | None]:
    """transformers/peft/torch versions installed for ``python`` (no import of them)."""
    from compat.tools.versions import VersionsError, installed_in

    try:
        return installed_in(python, ("transformers", "peft", "torch"), isolated=False)
    except VersionsError as exc:
        raise GateError(str(exc)) from None


def installed_pins(python: str | None = None) -> Pins:
    """The default ``--from``: what the interpreter nox was started from has installed.

    ``python`` defaults to ``$PCC_INVOKING_PYTHON`` (set by ``nox -s gate``), else this one.
    """
    python = python or os.environ.get("PCC_INVOKING_PYTHON") or sys.executable
    found = installed_versions(python)
    missing = [name for name in REQUIRED if not found.get(name)]
    if missing:
        raise GateError(
            f"--from was not given and {python} has no {' and '.join(missing)} installed, so there "
            "is no baseline to default to; pass --from transformers==A peft==B"
        )
    return Pins(found["transformers"], found["peft"])


def uv_executable() -> str:
    """The ``uv`` to ask: :func:`compat.envs.find_uv` (``$PCC_UV``, PATH, next to this interpreter,
    the ``uv`` package), the same uv that builds the environments."""
    from compat.envs import InstallError, find_uv

    try:
        return find_uv()[0]
    except InstallError as exc:
        raise GateError(f"the gate needs uv to resolve versions: {exc.message}") from None


def _resolve(lines: list[str], what: str) -> dict[str, str]:
    """Ask the package index (via ``uv pip compile --no-deps``) to resolve ``lines``."""
    from compat.toolchain import torch_source  # import-light: only reads pyproject

    env = {**os.environ, **torch_source().uv_env()}
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    try:
        uv = uv_executable()
    except GateError as exc:
        raise GateError(f"{what}: cannot ask the package index about {' '.join(lines)}: {exc}") from None
    try:
        out = subprocess.run(
            [uv, "pip", "compile", "-", "--no-deps", "--no-header", "-q",
             "--python-version", py],
            input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=180,
            env=env, check=False,
        )
    except subprocess.TimeoutExpired:
        raise GateError(f"{what}: the package index did not answer within 180 s (offline?)") from None
    if out.returncode != 0:
        detail = " ".join(out.stderr.split())
        raise GateError(f"{what}: the package index cannot provide {' '.join(lines)}: {detail}")
    resolved = {}
    for line in out.stdout.splitlines():
        match = _PIN.match(line.split("#")[0])
        if match:
            resolved[canonicalize_name(match.group(1))] = match.group(2)
    return resolved


def newest_pins() -> Pins:
    """The default ``--to``: the newest transformers and peft releases on the index."""
    found = _resolve(list(REQUIRED), "--to (default: newest releases)")
    if not all(found.get(name) for name in REQUIRED):
        raise GateError(f"--to: could not read the newest releases from the index (got {found})")
    return Pins(found["transformers"], found["peft"])


def check_exist(pins: Pins, option: str) -> None:
    """Fail fast, before building anything, when a pinned version does not exist."""
    _resolve(pins.requirements(), option)
