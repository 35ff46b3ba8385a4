"""Reading a JSON file with one-line errors that name the path (the one reader the matrix's
cell results, the gate's user input and the watch's gate report share).

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> (folder / "ok.json").write_text('{"a": 1}')
8
>>> read_json(folder / "ok.json")
{'a': 1}
>>> (folder / "empty.json").write_text("")
0
>>> read_json(folder / "empty.json")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
compat.tools.jsonfiles.JsonFileError: ...empty.json: empty file (expected JSON)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["JsonFileError", "read_json", "read_json_object"]


class JsonFileError(ValueError):
    """A JSON file is missing, unreadable, empty, not UTF-8, not JSON, or not the expected kind.

    ``missing`` tells the caller's message apart for a file that does not exist."""

    def __init__(self, message: str, *, missing: bool = False) -> None:
        super().__init__(message)
        self.missing = missing


def read_json(path: str | Path) -> Any:
    """The JSON value in ``path``; :class:`JsonFileError` naming the path and what was wrong."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise JsonFileError(f"{path}: no such file", missing=True) from None
    except OSError as exc:
        raise JsonFileError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    if not raw.strip():
        raise JsonFileError(f"{path}: empty file (expected JSON)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JsonFileError(f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise JsonFileError(f"{path}: not valid JSON (truncated?): {exc}") from None


def read_json_object(path: str | Path) -> dict[str, Any]:
    """:func:`read_json`, and the value must be a JSON object."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise JsonFileError(f"{path}: holds a JSON {type(data).__name__}, expected a JSON object")
    return data
