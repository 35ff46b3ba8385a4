"""Import probe run inside a matrix cell's pytest process (``-p compat.matrix.probe``).

Before any conftest is imported it imports torch, transformers, peft and the
``compat`` shim, and writes what it found as JSON to ``$PCC_PROBE_OUT``. If an
import fails the process exits with :data:`~compat.matrix.results.PROBE_EXIT`
so the runner reports ``error:import`` (not a test failure) without paying for
a second interpreter start-up. ``python -m compat.matrix.probe`` runs it
standalone and prints the JSON.
"""

from __future__ import annotations

import json
import os
import sys
import traceback

import pytest

__all__ = ["probe", "pytest_load_initial_conftests"]

_PROBE_EXIT = 13  # == compat.matrix.results.PROBE_EXIT (kept literal: this runs in the cell)


def probe() -> dict:
    """Import the stack; return versions, ``torch.version.cuda`` and the first failure, if any."""
    found: dict = {"ok": False, "python": sys.version.split()[0], "versions": {}, "error": None}
    stage = "torch"
    try:
        import torch

        found["versions"]["torch"] = torch.__version__
        found["torch_cuda"] = torch.version.cuda
        stage = "transformers"
        import transformers

        found["versions"]["transformers"] = transformers.__version__
        stage = "peft"
        import peft

        found["versions"]["peft"] = peft.__version__
        stage = "compat"
        import compat

        for name in compat.__all__:
            if name != "__version__":
                getattr(compat, name)
    except BaseException as exc:  # noqa: BLE001 - every import failure is reported, never hidden
        found["error"] = {
            "stage": stage,
            "type": type(exc).__name__,
            "message": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc()[-4000:],
        }
        return found
    found["ok"] = True
    return found


def _write(found: dict) -> None:
    out = os.environ.get("PCC_PROBE_OUT")
    if out:
        tmp = f"{out}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(found, fh)
        os.replace(tmp, out)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args):
    """Probe before the suites' conftests import anything."""
    found = probe()
    _write(found)
    if not found["ok"]:
        sys.stderr.write(f"compat.matrix.probe: import of {found['error']['stage']} failed:\n")
        sys.stderr.write(found["error"]["traceback"])
        sys.stderr.flush()
        os._exit(_PROBE_EXIT)


if __name__ == "__main__":  # pragma: no cover - manual use
    result = probe()
    _write(result)
    print(json.dumps(result, indent=2))
    sys.exit(0 if result["ok"] else _PROBE_EXIT)
