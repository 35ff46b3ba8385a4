"""Write the tools' output files atomically, and turn a failed write into one line.

Every report file (a cell's JSON and JUnit XML, ``matrix.*``, ``gate.*``) is written to a
temporary file in the same folder, flushed to disk and renamed over the target
(``os.replace``). When anything fails on the way -- a read-only folder (``EROFS``), no
permission (``EACCES``), a full disk (``ENOSPC``, often reported only by ``fsync`` or
``close``) -- the temporary file is removed, the target keeps its old content, and an
:class:`OutputError` says which file could not be written and why, in one line.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> atomic_write_text(d / "x.json", "{}")
>>> sorted(p.name for p in d.iterdir())
['x.json']
>>> import errno
>>> str(OutputError.of(OSError(errno.ENOSPC, "No space left on device"), "reports/x.json"))
'cannot write reports/x.json: no space left on device (ENOSPC); free some space or choose another output folder'
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from compat.errors import CompatError

__all__ = ["OutputError", "atomic_write_bytes", "atomic_write_text", "writing"]

_ADVICE = {
    errno.EROFS: "choose a writable output folder",
    errno.EACCES: "no permission; choose a writable output folder",
    errno.EPERM: "no permission; choose a writable output folder",
    errno.ENOSPC: "free some space or choose another output folder",
    errno.EDQUOT: "the disk quota is exhausted; free some space or choose another output folder",
}


class OutputError(CompatError, OSError):
    """A report or log file could not be written; the message names the file and the cause."""

    @classmethod
    def of(cls, exc: OSError, path: str | os.PathLike) -> OutputError:
        """One line for ``exc`` raised while writing ``path`` (``errno`` is kept)."""
        if isinstance(exc, OutputError):
            return exc
        code = exc.errno
        name = errno.errorcode.get(code, "") if code is not None else ""
        reason = (exc.strerror or str(exc) or type(exc).__name__).rstrip(".")
        reason = reason[:1].lower() + reason[1:]
        text = f"cannot write {path}: {reason}" + (f" ({name})" if name else "")
        if code in _ADVICE:
            text += f"; {_ADVICE[code]}"
        error = cls(text)
        error.errno = code
        error.filename = str(path)
        return error

    def __str__(self) -> str:  # OSError would prefix "[Errno N]"; the message already says it
        return str(self.args[0]) if self.args else ""


@contextlib.contextmanager
def writing(path: str | os.PathLike) -> Iterator[None]:
    """Turn an ``OSError`` raised in the block into an :class:`OutputError` naming ``path``."""
    try:
        yield
    except OutputError:
        raise
    except OSError as exc:
        raise OutputError.of(exc, getattr(exc, "filename", None) or path) from None


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and ``os.replace``.

    On any failure (or interrupt) the temporary file is removed and the old ``path`` is untouched;
    an ``OSError`` becomes an :class:`OutputError` naming ``path``.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise OutputError.of(exc, path) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; reports are meant to be read
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):  # named after the file meant, not the temporary one
            raise OutputError.of(exc, path) from None
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """:func:`atomic_write_bytes` of ``text`` encoded as UTF-8."""
    atomic_write_bytes(path, text.encode("utf-8"))
