"""Incremental matrix runs (``--incremental``): a cell is rerun only when an input it was computed from
changed since a stored run.

A cell's *inputs* (:class:`CellInputs`) are everything its test outcomes can depend on: the cell's
versions and pins, the torch spec, the Python version, the content hash of the suite and the shim
(:func:`compat.matrix.runner.suite_digest`: the suite paths, ``compat/`` without the tool-only
packages, ``tests/conftest.py``), the suite profile, the extra pytest arguments and every ``PCC_*``
environment variable (the suite axes, the torch source). Their hash is the key of a content-addressed
store, ``<work>/store/<cell>-<key>.json``, which every incremental run fills with the results it
computed. A cell whose key is in the store is not run: its stored outcomes are judged again
against the current declarations (known issues, ``expect``), exactly as ``--resume`` does, and the
result says so (``reused``: the key, the stored file and when that run finished), in the progress
line and in ``matrix.md``.

Unlike ``--resume`` (same output folder, same versions, suite and profile), the store outlives the
reports folder, is shared by every matrix file using the same ``--work``, and also keys on the torch
spec, Python, pytest arguments and the environment. Only results whose tests ran are stored
(raw outcome ``pass`` or ``fail``): an install, import, timeout or crash error is always retried.
What uv resolved beyond the pins (numpy, tokenizers, pytest, ...) is that of the stored run's
environment (its ``freeze`` list is in the result), as with the runner's default reuse of cell
environments; ``--fresh-envs`` reuses nothing (every cell is resolved and run anew, then stored).

>>> a = CellInputs("t5.23.0-p0.21.2", "5.23.0", "0.21.2", (), "torch==2.13.0+cpu", "3.11.7",
...                ("tests/shim",), "0123abcd", "matrix", (), (("PCC_DTYPE", "fp32"),))
>>> a.key() == dataclasses.replace(a).key(), a.key() == dataclasses.replace(a, suite_digest="0123abce").key()
(True, False)
>>> a.to_json()["environment"]
[['PCC_DTYPE', 'fp32']]
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from compat.matrix.cellresult import CellResult
from compat.matrix.config import Cell, Matrix
from compat.matrix.store import load_cell_result
from compat.suiterun.outcomes import Status
from compat.tools.outputs import atomic_write_text

__all__ = ["STORE_DIR", "CellInputs", "ResultStore", "cell_inputs", "matrix_inputs"]

#: The store's folder under ``--work``.
STORE_DIR = "store"
#: Raw outcomes worth keeping: the tests ran (errors are retried on the next run).
_STORABLE = (Status.PASS, Status.FAIL)
#: Where a stored result keeps the inputs it was computed from.
_RECORD = "incremental"


@dataclasses.dataclass(frozen=True)
class CellInputs:
    """What one cell's test outcomes are computed from."""

    cell: str
    transformers: str
    peft: str
    extra_pins: tuple[str, ...]
    torch: str
    python: str
    suite: tuple[str, ...]
    suite_digest: str
    profile: str
    pytest_args: tuple[str, ...]
    environment: tuple[tuple[str, str], ...]

    def to_json(self) -> dict[str, Any]:
        """The inputs as stored (JSON types: tuples become lists)."""
        loaded: dict[str, Any] = json.loads(json.dumps(dataclasses.asdict(self)))
        return loaded

    def key(self) -> str:
        """16 hex digits of the SHA-256 of the inputs (canonical JSON)."""
        return hashlib.sha256(json.dumps(self.to_json(), sort_keys=True).encode()).hexdigest()[:16]


def cell_inputs(cell: Cell, *, torch: str, suite: tuple[str, ...], suite_digest: str, profile: str,
                pytest_args: tuple[str, ...], environ: Mapping[str, str] | None = None) -> CellInputs:
    """The inputs of ``cell`` in this run (``environ``: the runner's environment, which cells inherit)."""
    environ = os.environ if environ is None else environ
    env = tuple(sorted((k, v) for k, v in environ.items() if k.startswith("PCC_")))
    return CellInputs(cell.name, cell.transformers, cell.peft, tuple(sorted(cell.extra_pins)), torch,
                      platform.python_version(), tuple(suite), suite_digest, profile, tuple(pytest_args), env)


def matrix_inputs(matrix: Matrix, cells: list[Cell], *, torch: str, suite_digest: str, profile: str,
                  pytest_args: tuple[str, ...]) -> dict[str, CellInputs]:
    """The inputs of each of ``cells`` of ``matrix`` (each with its own suite), by cell name."""
    return {c.name: cell_inputs(c, torch=torch, suite=tuple(matrix.suite_for(c)), suite_digest=suite_digest,
                                profile=profile, pytest_args=pytest_args) for c in cells}


@dataclasses.dataclass(frozen=True)
class ResultStore:
    """Cell results by the hash of their inputs, under ``root`` (``<work>/store``)."""

    root: Path

    def path(self, inputs: CellInputs) -> Path:
        return self.root / f"{inputs.cell}-{inputs.key()}.json"

    def load(self, inputs: CellInputs) -> CellResult | None:
        """The stored result for exactly these inputs, marked ``reused``; None when there is none.

        A stored file that is unreadable or was made from other inputs (a hash collision, an edited
        file) is not used: the cell is rerun and the file replaced."""
        path = self.path(inputs)
        if not path.is_file():
            return None
        try:
            stored = load_cell_result(path)
        except ValueError:  # CellFileError, or JSON that is not a cell result
            return None
        record = stored.extra.get(_RECORD)
        if not isinstance(record, dict) or record.get("inputs") != inputs.to_json():
            return None
        if stored.raw is None or stored.raw.status not in _STORABLE:
            return None
        stored.reused = {"key": inputs.key(), "from": str(path), "finished": stored.finished}
        return stored

    def save(self, inputs: CellInputs, result: CellResult) -> bool:
        """Store a result whose tests ran (raw outcome pass or fail); returns whether it was stored."""
        if result.raw is None or result.raw.status not in _STORABLE or result.reused is not None:
            return False
        self.root.mkdir(parents=True, exist_ok=True)
        record = {**result.to_json(), _RECORD: {"key": inputs.key(), "inputs": inputs.to_json()}}
        atomic_write_text(self.path(inputs), json.dumps(record, indent=1, sort_keys=True))
        return True
