"""Compiled bytecode shared between environments installed from the same wheels.

Every matrix cell has its own environment, and the first import of torch, transformers and peft
in a new one compiles each imported module again: about 4.5 CPU s of a fresh cell's start
(``import torch, transformers, peft``: 7.0 s cold, 2.7 s with bytecode, 2026-12-01), paid 60
times by a fresh-clone matrix for the same torch. :func:`share_bytecode` hardlinks into a new
environment the ``__pycache__/*.pyc`` files that sibling environments already wrote for the same
files of the same distribution: a module file counts as the same when both environments'
``RECORD`` give it the same hash and size (the wheel's own record of its files).

Python still checks each ``.pyc`` against its source's size and modification time before using
it and compiles afresh where they differ, so a shared file can be useless but never wrong; and it
replaces a ``.pyc`` by writing a new file and renaming it over the old one, so one environment's
recompilation never changes a file another one links to.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path

__all__ = ["share_bytecode", "site_packages"]


def site_packages(env: Path) -> Path | None:
    """``env``'s ``lib/python3.X/site-packages`` (``None`` when it has none)."""
    found = sorted(Path(env).glob("lib/python3*/site-packages"))
    return found[0] if found else None


def _modules(record: Path) -> dict[str, str]:
    """{module file: its RECORD line} for the ``.py`` files of one distribution (``{}`` if unreadable:
    its modules then compile as usual)."""
    try:
        lines = record.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return {}
    return {line.split(",", 1)[0]: line for line in lines if line.split(",", 1)[0].endswith(".py")}


def _all_modules(site: Path) -> dict[str, str]:
    """{module file: its RECORD line} over every distribution installed in ``site``."""
    out: dict[str, str] = {}
    for record in sorted(site.glob("*.dist-info/RECORD")):
        out.update(_modules(record))
    return out


def _compiled(site: Path) -> dict[str, Path]:
    """{module file: its ``.pyc``} for every module ``site`` holds bytecode of (this interpreter's tag)."""
    suffix = f".{sys.implementation.cache_tag}.pyc"
    out: dict[str, Path] = {}
    for folder, _, files in os.walk(site):
        if os.path.basename(folder) != "__pycache__":
            continue
        package = Path(folder).parent.relative_to(site)
        for name in files:
            if name.endswith(suffix):
                out[(package / (name[: -len(suffix)] + ".py")).as_posix()] = Path(folder) / name
    return out


def _link(donor_pyc: Path, pyc: Path) -> bool:
    try:
        pyc.parent.mkdir(exist_ok=True)
        os.link(donor_pyc, pyc)
    except OSError:  # this one has one already, another file system, ...
        return False
    return True


def share_bytecode(env: Path, donors: Iterable[Path]) -> int:
    """Hardlink into ``env`` the bytecode ``donors`` (in the order given) hold for module files
    ``env`` has identically (same RECORD line: same path, hash and size); the number linked."""
    site = site_packages(env)
    if site is None:
        return 0
    mine = _all_modules(site)
    have = _compiled(site)
    linked = 0
    for donor in donors:
        donor_site = site_packages(donor)
        if donor_site is None or donor_site.resolve() == site.resolve():
            continue
        theirs = _all_modules(donor_site)
        for module, pyc in _compiled(donor_site).items():
            if module in have or module not in mine or theirs.get(module) != mine[module]:
                continue
            target = site / Path(module).parent / "__pycache__" / pyc.name
            if _link(pyc, target):
                have[module] = target
                linked += 1
    return linked
