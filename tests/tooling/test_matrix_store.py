"""Atomic writes: an interrupted write never leaves a half file where a result should be."""

from __future__ import annotations

import json
import os

import pytest

from compat.matrix.store import (
    CELL_SCHEMA,
    SCHEMA_VERSION,
    CellFileError,
    atomic_write_text,
    find_cell_results,
    load_cell_result,
)


def test_interrupted_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "cells" / "c.json"
    atomic_write_text(target, '{"old": true}')

    def boom(src, dst):
        raise KeyboardInterrupt  # killed between writing the temporary file and renaming it

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_text(target, '{"new": true}')
    assert json.loads(target.read_text()) == {"old": True}
    assert sorted(p.name for p in target.parent.iterdir()) == ["c.json"]


@pytest.mark.parametrize(
    ("doc", "match"),
    [
        pytest.param({"schema": "other"}, "schema 'other'", id="foreign-schema"),
        pytest.param({"schema": CELL_SCHEMA, "schema_version": SCHEMA_VERSION + 1}, "schema_version", id="newer"),
    ],
)
def test_load_checks_the_schema(tmp_path, doc, match):
    path = tmp_path / "c.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=match):
        load_cell_result(path)


def test_truncated_file_is_reported(tmp_path):
    path = tmp_path / "c.json"
    path.write_text('{"schema": ')
    with pytest.raises(CellFileError, match=r"c\.json: not valid JSON \(truncated\?\)"):
        load_cell_result(path)


def test_find_skips_hidden_files_only(tmp_path):
    """No file is left out for its name: a cell may be called ``matrix`` (content decides, in report)."""
    (tmp_path / "a" / "cells").mkdir(parents=True)
    for name in ("x.json", "matrix.json", ".x.json.1.tmp", ".hidden.json"):
        (tmp_path / "a" / "cells" / name).write_text("{}")
    assert [p.name for p in find_cell_results([tmp_path])] == ["matrix.json", "x.json"]
    with pytest.raises(CellFileError, match="no such file"):
        find_cell_results([tmp_path / "missing"])
