"""Where results live on disk, written atomically so an interrupted run loses nothing finished.

Layout under the output folder (default ``reports/``)::

    cells/<cell>.json        per-cell result (schema below), written last
    cells/<cell>.junit.xml   pytest's JUnit XML for the cell
    logs/<cell>.log          install + pytest output
    matrix.json / matrix.md / matrix.html   merged reports

Writes go through :func:`compat.tools.outputs.atomic_write_text` (temporary file, ``fsync``,
``os.replace``; a failed write leaves no partial file and raises one ``OutputError`` line).
Reading is strict: a cell file that is empty, truncated, not UTF-8, not JSON, or lacks a field
the reports use is a :class:`CellFileError` naming its path, never skipped.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> (d / "c.json").write_text('{"schema": "peft-cache-compat/matrix-cell", "schema_version": 2}')
64
>>> try:
...     load_cell_result(d / "c.json")
... except CellFileError as exc:
...     print(str(exc).replace(str(d), "D"))
D/c.json: not a usable cell result: no 'cell' (expected an object with name, transformers, peft)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from compat.matrix.cellresult import CELL_SCHEMA, SCHEMA_VERSION, CellResult
from compat.suiterun.outcomes import STATUSES
from compat.tools.jsonfiles import JsonFileError, read_json
from compat.tools.outputs import atomic_write_text

__all__ = [
    "CELL_SCHEMA",
    "SCHEMA_VERSION",
    "CellFileError",
    "CellResult",
    "atomic_write_text",
    "cell_paths",
    "check_cell_result",
    "find_cell_results",
    "load_cell_result",
    "read_json_file",
    "write_cell_result",
]

def cell_paths(out: Path, name: str) -> dict[str, Path]:
    """The files belonging to cell ``name`` under output folder ``out``."""
    return {
        "json": out / "cells" / f"{name}.json",
        "junit": out / "cells" / f"{name}.junit.xml",
        "log": out / "logs" / f"{name}.log",
    }


def write_cell_result(out: Path, result: CellResult) -> Path:
    """Write one cell's result JSON atomically; returns its path."""
    path = cell_paths(out, result.name)["json"]
    atomic_write_text(path, json.dumps(result.to_json(), indent=1, sort_keys=True))
    return path


class CellFileError(ValueError):
    """A file that should hold a cell result cannot be used; the message starts with its path."""


def read_json_file(path: str | Path) -> Any:
    """The JSON in ``path``; :class:`CellFileError` (naming the path) when it is unreadable."""
    try:
        return read_json(path)
    except JsonFileError as exc:
        raise CellFileError(str(exc)) from None


#: Fields the merged reports read, with their types (checked on every load).
_CELL_KEYS = {"name": str, "transformers": str, "peft": str}
_RESULT_KEYS = {"status": str, "tests": list, "counts": dict, "durations": dict, "installed": dict, "freeze": list}
_COUNT_KEYS = ("passed", "failed", "error", "na")
_TEST_KEYS = {"nodeid": str, "outcome": str, "message": str}


def _problem(data: Any) -> str | None:
    """What makes ``data`` unusable as a cell result, or None."""
    if not isinstance(data, dict):
        return f"holds a JSON {type(data).__name__}, expected an object"
    if data.get("schema") != CELL_SCHEMA:
        return f"schema {data.get('schema')!r}, expected {CELL_SCHEMA!r}"
    if data.get("schema_version") != SCHEMA_VERSION:
        return f"schema_version {data.get('schema_version')!r}, this tool reads {SCHEMA_VERSION}"
    cell = data.get("cell")
    if not isinstance(cell, dict):
        return "no 'cell' (expected an object with name, transformers, peft)"
    for key, kind in _CELL_KEYS.items():
        if not isinstance(cell.get(key), kind) or not cell[key]:
            return f"cell.{key} is {cell.get(key)!r}, expected a non-empty {kind.__name__}"
    for key, kind in _RESULT_KEYS.items():
        if not isinstance(data.get(key), kind):
            return f"{key} is {type(data.get(key)).__name__}, expected {kind.__name__}"
    if data["status"] not in STATUSES:
        return f"status {data['status']!r}, expected one of {', '.join(STATUSES)}"
    missing = [k for k in _COUNT_KEYS if not isinstance(data["counts"].get(k), int)]
    if missing:
        return f"counts lacks {', '.join(missing)}"
    for i, test in enumerate(data["tests"]):
        if not isinstance(test, dict) or any(not isinstance(test.get(k), t) for k, t in _TEST_KEYS.items()):
            return f"tests[{i}] is not a test result (expected nodeid, outcome, message)"
    return None


def check_cell_result(data: Any, path: str | Path) -> CellResult:
    """The typed result in ``data`` if it is a complete cell result of this schema; else
    :class:`CellFileError` naming ``path`` and what is wrong, in one line."""
    problem = _problem(data)
    if problem:
        raise CellFileError(f"{path}: not a usable cell result: {problem}")
    try:
        return CellResult.from_json(data)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise CellFileError(f"{path}: not a usable cell result: {type(exc).__name__}: {exc}") from None


def load_cell_result(path: str | Path) -> CellResult:
    """Load and check one per-cell JSON file (readable, schema name and version, the fields reports use)."""
    return check_cell_result(read_json_file(path), path)


def find_cell_results(folders) -> list[Path]:
    """Every ``*.json`` under ``folders`` (searched recursively; hidden files skipped), sorted, deduplicated.

    No file is left out because of its name (a cell may be called ``matrix``): the caller tells
    cell results from other documents by their content (:mod:`compat.matrix.report`).
    """
    found: dict[str, Path] = {}
    for given in folders:
        folder = Path(given)
        if folder.is_file():
            candidates = [folder]
        elif folder.is_dir():
            candidates = sorted(folder.rglob("*.json"))
        else:
            raise CellFileError(f"{folder}: no such file or folder")
        for path in candidates:
            if path.name.startswith("."):
                continue
            found.setdefault(str(path.resolve()), path)
    return sorted(found.values())
