"""Which run owns a folder: one run per output folder, and private per-run scratch folders.

:func:`hold_folder` takes an exclusive lock (``filelock``: ``flock`` on Unix, released by the
kernel when the process dies, even by SIGKILL) on ``<folder>/.pcc-<tool>.lock`` and records the
holder -- pid, host, start time, command -- in ``<folder>/.pcc-<tool>.owner.json``. A second run
that wants the same folder fails at once with :class:`FolderBusyError`, whose one-line message
names the run that holds it. (The owner record is a separate file because the lock file is
truncated by every process that opens it.)

:func:`private_dir` gives a run a scratch folder nobody else uses (pytest ``--basetemp``, JUnit
and probe files), held by a lock of its own; :func:`sweep` removes the scratch folders of runs
that are gone (their lock is free).

>>> import os, tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> with hold_folder(folder, "matrix", "python -m compat.matrix run"):
...     try:
...         with hold_folder(folder, "matrix", "a second run"):
...             pass
...     except FolderBusyError as exc:
...         print(type(exc).__name__, f"pid {os.getpid()} on" in str(exc))
FolderBusyError True
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import os
import shutil
import socket
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from filelock import FileLock, Timeout

from compat.errors import CompatError
from compat.tools.outputs import OutputError, atomic_write_text, writing

__all__ = ["FolderBusyError", "Owner", "hold_folder", "private_dir", "sweep"]


class FolderBusyError(CompatError, RuntimeError):
    """Another run holds the folder; the message names it (pid, host, start time, command)."""


@dataclasses.dataclass(frozen=True)
class Owner:
    """The run that holds a folder."""

    pid: int
    host: str
    started: str
    command: str

    @classmethod
    def me(cls, command: str) -> Owner:
        return cls(os.getpid(), socket.gethostname(), datetime.now(timezone.utc).isoformat(timespec="seconds"),
                   command)

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}, started {self.started}: {self.command}"


def _paths(folder: Path, tool: str) -> tuple[Path, Path]:
    return folder / f".pcc-{tool}.lock", folder / f".pcc-{tool}.owner.json"


def _read_owner(path: Path) -> Owner | None:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return Owner(int(raw["pid"]), str(raw["host"]), str(raw["started"]), str(raw["command"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


@contextlib.contextmanager
def hold_folder(folder: str | os.PathLike, tool: str, command: str) -> Iterator[Owner]:
    """Hold ``folder`` for one ``tool`` run (``matrix`` or ``gate``) for the duration of the block.

    Raises :class:`FolderBusyError` when another run holds it, :class:`OutputError` when the
    folder cannot be created or written.
    """
    folder = Path(folder)
    lock_path, owner_path = _paths(folder, tool)
    with writing(folder):
        folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(lock_path), timeout=0)
    try:
        lock.acquire()
    except Timeout:  # (a TimeoutError, so an OSError: caught first)
        owner = _read_owner(owner_path)
        who = owner.describe() if owner else "its owner record is not written yet"
        raise FolderBusyError(f"another {tool} run is using {folder}: {who}; wait for it to finish "
                              "or choose another output folder") from None
    except OSError as exc:
        raise OutputError.of(exc, lock_path) from None
    try:
        me = Owner.me(command)
        atomic_write_text(owner_path, json.dumps(dataclasses.asdict(me)) + "\n")
        try:
            yield me
        finally:
            with contextlib.suppress(OSError):
                owner_path.unlink()
    finally:
        lock.release()


def _held(lock_path: Path) -> bool:
    lock = FileLock(str(lock_path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        return True
    except OSError:
        return True  # cannot tell: leave it alone
    lock.release()
    return False


def sweep(root: str | os.PathLike, *, keep: Path | None = None) -> list[Path]:
    """Remove every scratch folder under ``root`` made by :func:`private_dir` whose run is gone."""
    root = Path(root)
    removed = []
    for lock_path in sorted(root.glob("*.lock")) if root.is_dir() else []:
        folder = lock_path.with_suffix("")
        if folder == keep or _held(lock_path):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        with contextlib.suppress(OSError):
            lock_path.unlink()
        removed.append(folder)
    return removed


@contextlib.contextmanager
def private_dir(root: str | os.PathLike, prefix: str, *, remove: bool = True) -> Iterator[Path]:
    """A fresh folder ``root/<prefix><time>-<pid>-<n>`` that only this run uses, locked while in use.

    The lock is taken before the folder exists, so :func:`sweep` (run by any other run) never
    removes a folder in use. ``remove``: delete the folder at the end (scratch); otherwise it stays
    (evidence) until a later :func:`sweep` finds its run gone.
    """
    root = Path(root)
    with writing(root):
        root.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    for n in range(1000):
        name = f"{prefix}{stamp}-{os.getpid()}-{n}"
        lock = FileLock(str(root / f"{name}.lock"), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            continue
        except OSError as exc:
            raise OutputError.of(exc, root / f"{name}.lock") from None
        path = root / name
        try:
            with writing(path):
                path.mkdir()
        except OutputError as exc:
            lock.release()
            if exc.errno == errno.EEXIST:  # left by a run that is gone; take the next name
                continue
            raise
        break
    else:  # pragma: no cover - a thousand runs of one process in one second
        raise OutputError(f"cannot make a private folder under {root}: every name is taken")
    try:
        yield path
    finally:
        if remove:
            shutil.rmtree(path, ignore_errors=True)
        lock.release()
        if remove:
            with contextlib.suppress(OSError):
                (root / f"{name}.lock").unlink()
