"""The transformers x peft version matrix: ``python -m compat.matrix {run,report} ...``.

Import-light (no torch): :mod:`.config` loads ``matrices/*.toml``, :mod:`.runner`
builds one uv environment per cell (:mod:`compat.envs`) and runs the cell suite,
:mod:`compat.suiterun` runs the suite and turns JUnit XML into honest statuses, :mod:`.store` writes
per-cell results atomically and :mod:`.report` merges them.

>>> from compat.matrix import load_matrix_text
>>> len(load_matrix_text('[axes]\\ntransformers = ["4.46.3", "5.23.0"]\\npeft = ["0.21.2"]').cells)
2
"""

from __future__ import annotations

from compat.matrix.config import DEFAULT_SUITE, Cell, Matrix, MatrixError, load_matrix, load_matrix_text

__all__ = ["DEFAULT_SUITE", "Cell", "Matrix", "MatrixError", "load_matrix", "load_matrix_text"]
