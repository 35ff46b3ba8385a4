"""Run corpus snippets in THIS interpreter and save what each ``run()`` gave.

``python tests/migrate/runner.py CORPUS_DIR OUT_FILE MODULE...`` writes, with
``torch.save``, ``{module: {"ok", "value", "error", "file", "line", "warnings"}}``:
the value of ``run()`` or the exception with the snippet line that raised it, and
the text of every warning raised while it ran. Used by
tests/tooling/test_migrate_corpus.py to run the same snippets before and after
``--fix`` under other transformers versions.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
import warnings


def _where(exc: BaseException, root: str) -> tuple[str | None, int | None]:
    """The innermost traceback frame inside the corpus: (relative file, line)."""
    found = (None, None)
    for frame in traceback.extract_tb(exc.__traceback__):
        path = os.path.abspath(frame.filename)
        if path.startswith(root + os.sep):
            found = (os.path.relpath(path, root), frame.lineno)
    return found


def run_one(module: str, root: str) -> dict:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = importlib.import_module(module).run()
        except Exception as exc:  # the snippet's own failure is the result being recorded
            file, line = _where(exc, root)
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300], "file": file, "line": line,
                    "warnings": [str(w.message) for w in caught]}
    return {"ok": True, "value": value, "warnings": [str(w.message) for w in caught]}


def main(argv: list[str]) -> int:
    root, out, modules = os.path.abspath(argv[0]), argv[1], argv[2:]
    sys.path.insert(0, root)
    import torch

    torch.save({module: run_one(module, root) for module in modules}, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
