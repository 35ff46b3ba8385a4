"""Which versions of which distributions are installed: in this interpreter, or in another one.

Both read the installed metadata (``importlib.metadata``), never import the packages: reading the
versions of a broken torch is still possible. :func:`installed_in` runs the very same function,
:func:`installed_here`, in the other interpreter (isolated with ``-I`` unless asked otherwise).

>>> installed_here(["no-such-distribution"])
{'no-such-distribution': None}
>>> import sys
>>> installed_in(sys.executable, ["no-such-distribution"])
{'no-such-distribution': None}
"""

from __future__ import annotations

import inspect
import json
import subprocess
from collections.abc import Mapping, Sequence

__all__ = ["VersionsError", "installed_here", "installed_in"]


class VersionsError(RuntimeError):
    """The other interpreter could not be asked; the message says which and why, in one line."""


def installed_here(names: Sequence[str]) -> dict[str, str | None]:
    """``{distribution: version, or None when not installed}`` for this interpreter."""
    from importlib import metadata

    found: dict[str, str | None] = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def _script() -> str:
    """A program that prints :func:`installed_here` of its arguments as JSON (its annotations unevaluated)."""
    source = inspect.getsource(installed_here)
    main = "print(json.dumps(installed_here(sys.argv[1:])))"
    return f"from __future__ import annotations\nimport json, sys\n{source}\n{main}\n"


def installed_in(python: str, names: Sequence[str], *, env: Mapping[str, str] | None = None,
                 timeout: float = 120, isolated: bool = True) -> dict[str, str | None]:
    """:func:`installed_here` run by the interpreter ``python`` (:class:`VersionsError` if it cannot be).

    ``isolated``: ``-I`` (a private environment); False for an interpreter the user gave, whose
    ``PYTHONPATH`` and user site-packages are part of what it has installed.
    """
    flags = ["-I"] if isolated else []
    try:
        proc = subprocess.run([str(python), *flags, "-c", _script(), *names], capture_output=True, text=True,
                              check=False, timeout=timeout, env=None if env is None else dict(env))
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise VersionsError(f"cannot run the interpreter {python!r}: {exc}") from None
    if proc.returncode != 0:
        raise VersionsError(f"the interpreter {python!r} failed: {proc.stderr.strip()[-500:]}")
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    return {str(k): None if v is None else str(v) for k, v in found.items()}
