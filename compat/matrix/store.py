"""Where results live on disk, written atomically so an interrupted run loses nothing finished.

Layout under the output folder (default ``reports/``)::

    cells/<cell>.json        per-cell result (schema below), written last
    cells/<cell>.junit.xml   pytest's JUnit XML for the cell
    logs/<cell>.log          install + pytest output
    matrix.json / matrix.md / matrix.html   merged reports

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> atomic_write_text(d / "x.json", "{}")
>>> sorted(p.name for p in d.iterdir())
['x.json']
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

__all__ = [
    "CELL_SCHEMA",
    "SCHEMA_VERSION",
    "atomic_write_text",
    "cell_paths",
    "find_cell_results",
    "load_cell_result",
    "write_cell_result",
]

CELL_SCHEMA = "peft-cache-compat/matrix-cell"
SCHEMA_VERSION = 2  # 2: raw outcome, run_fingerprint and known issues stored (--resume judges again)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same folder and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; reports are meant to be read
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cell_paths(out: Path, name: str) -> dict[str, Path]:
    """The files belonging to cell ``name`` under output folder ``out``."""
    return {
        "json": out / "cells" / f"{name}.json",
        "junit": out / "cells" / f"{name}.junit.xml",
        "log": out / "logs" / f"{name}.log",
    }


def write_cell_result(out: Path, result: dict) -> Path:
    """Write one cell's result JSON atomically; returns its path."""
    path = cell_paths(out, result["cell"]["name"])["json"]
    atomic_write_text(path, json.dumps(result, indent=1, sort_keys=True))
    return path


def load_cell_result(path: str | Path) -> dict:
    """Load and check one per-cell JSON file (schema name and version)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable cell result: {exc}") from None
    if data.get("schema") != CELL_SCHEMA:
        raise ValueError(f"{path}: schema {data.get('schema')!r}, expected {CELL_SCHEMA!r}")
    if data.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(
            f"{path}: schema_version {data.get('schema_version')!r}, this tool reads {SCHEMA_VERSION}"
        )
    return data


def find_cell_results(folders) -> list[Path]:
    """Every ``*.json`` cell result under ``folders`` (searched recursively), sorted, deduplicated."""
    found: dict[str, Path] = {}
    for folder in folders:
        folder = Path(folder)
        if folder.is_file():
            candidates = [folder]
        elif folder.is_dir():
            candidates = sorted(folder.rglob("*.json"))
        else:
            raise ValueError(f"{folder}: no such file or folder")
        for path in candidates:
            if path.name == "matrix.json" or path.name.startswith("."):
                continue
            found.setdefault(str(path.resolve()), path)
    return sorted(found.values())
