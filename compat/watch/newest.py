"""Ask the package index for the newest release of a distribution, through uv (torch-free).

``uv pip compile - --no-deps`` resolves one bare requirement (``transformers``)
to the newest release the index offers for this Python (pre-releases excluded,
uv's default), with the same wheel source / index environment the project's
environments are built with (:func:`compat.toolchain.torch_source`, as in
:mod:`compat.envs`). A :data:`Resolver` is any callable ``name -> version``, so
tests and other callers can inject their own.

>>> parse_compile_output("transformers==5.24.0\\n    # via -r -\\n", "transformers")
'5.24.0'
>>> resolver = UvResolver(uv=("uv",), env={}, python_version="3.11")
>>> resolver.command()
['uv', 'pip', 'compile', '-', '--no-deps', '--no-header', '--no-annotate', '--quiet', '--python-version', '3.11']
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from collections.abc import Callable, Mapping

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from compat.watch.errors import WatchError

__all__ = ["Resolver", "UvResolver", "parse_compile_output", "uv_resolver"]

#: Distribution name -> the newest version on the index.
Resolver = Callable[[str], str]

#: Variables that would make uv answer with local constraints instead of the index's newest.
_LOCAL_PINS = ("UV_CONSTRAINT", "UV_OVERRIDE", "PIP_CONSTRAINT", "VIRTUAL_ENV")


def parse_compile_output(text: str, name: str) -> str:
    """The version ``uv pip compile`` pinned ``name`` to; :class:`WatchError` if there is none.

    >>> parse_compile_output("# comment only\\n", "peft")
    Traceback (most recent call last):
    ...
    compat.watch.errors.WatchError: peft: uv's output pins no peft==VERSION (got '# comment only')
    """
    want = canonicalize_name(name)
    found: list[str] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            req = Requirement(line)
        except InvalidRequirement:
            raise WatchError(f"{name}: unexpected line in uv's output {line!r}; expected NAME==VERSION") from None
        if canonicalize_name(req.name) != want:
            continue
        specs = list(req.specifier)
        if len(specs) != 1 or specs[0].operator != "==":
            raise WatchError(f"{name}: uv's output has {line!r}; expected an exact {name}==VERSION")
        found.append(specs[0].version)
    if len(found) != 1:
        what = "pins no" if not found else f"pins {len(found)} versions of"
        raise WatchError(f"{name}: uv's output {what} {name}==VERSION (got {text.strip()[:300]!r})")
    try:
        Version(found[0])
    except InvalidVersion:
        raise WatchError(f"{name}: uv's output has {found[0]!r}, which is not a valid version") from None
    return found[0]


@dataclasses.dataclass(frozen=True)
class UvResolver:
    """A :data:`Resolver` that asks ``uv pip compile``; ``run`` is injectable (default ``subprocess.run``)."""

    uv: tuple[str, ...]
    env: Mapping[str, str]
    python_version: str
    timeout: float = 180.0
    run: Callable[..., subprocess.CompletedProcess] = subprocess.run

    def command(self) -> list[str]:
        """The uv command; the requirement goes to its stdin."""
        return [*self.uv, "pip", "compile", "-", "--no-deps", "--no-header", "--no-annotate", "--quiet",
                "--python-version", self.python_version]

    def __call__(self, name: str) -> str:
        try:
            proc = self.run(self.command(), input=f"{name}\n", capture_output=True, text=True,
                            env=dict(self.env), timeout=self.timeout, check=False)
        except subprocess.TimeoutExpired:
            raise WatchError(
                f"{name}: the package index did not answer within {self.timeout:.0f} s (offline?)"
            ) from None
        except OSError as exc:
            raise WatchError(f"{name}: cannot run uv ({' '.join(self.uv)}): {exc}") from None
        if proc.returncode != 0:
            detail = " ".join((proc.stderr or "").split())[-600:] or "no message"
            raise WatchError(f"{name}: uv could not resolve the newest release (exit {proc.returncode}): {detail}")
        return parse_compile_output(proc.stdout or "", name)


def uv_resolver(python_version: str | None = None) -> UvResolver:
    """The resolver with the index environment :func:`compat.envs.build_env` uses, for this Python."""
    from compat.envs import InstallError, find_uv
    from compat.toolchain import ToolchainError, torch_source

    try:
        source = torch_source()
        uv = find_uv()
    except ToolchainError as exc:
        raise WatchError(f"the package index environment is not usable: {exc}") from None
    except InstallError as exc:
        raise WatchError(exc.message) from None
    env = {key: value for key, value in os.environ.items() if key not in _LOCAL_PINS}
    env.update(source.uv_env())
    env.update(UV_NO_PROGRESS="1", UV_PYTHON_DOWNLOADS="never")
    version = python_version or f"{sys.version_info.major}.{sys.version_info.minor}"
    return UvResolver(uv=tuple(uv), env=env, python_version=version)
