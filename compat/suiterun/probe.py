"""Import probe run inside the suites' pytest process (``-p compat.suiterun.probe``).

Before any conftest is imported it imports torch, transformers, peft and the
``compat`` shim (:data:`DEFAULT_IMPORTS`), and writes what it found as JSON to ``$PCC_PROBE_OUT``. If an
import fails the process exits with :data:`~compat.suiterun.outcomes.PROBE_EXIT`
so the runner reports ``error:import`` (not a test failure) without paying for
a second interpreter start-up. ``python -m compat.suiterun.probe`` runs it
standalone and prints the JSON.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import traceback
import types
from collections.abc import Sequence
from typing import Any

import pytest

__all__ = ["DEFAULT_IMPORTS", "probe", "pytest_load_initial_conftests"]

_PROBE_EXIT = 13  # == compat.suiterun.outcomes.PROBE_EXIT (kept literal: this runs in the suite's process)


#: What the probe imports, in order; ``$PCC_PROBE_IMPORTS`` (comma-separated) overrides it
#: (the tooling tests use that to exercise the runner without torch).
DEFAULT_IMPORTS = ("torch", "transformers", "peft", "compat")


def _resolve_without_trace(package: types.ModuleType) -> None:
    """Resolve every public name of a lazy package, then restore its namespace.

    Resolving imports submodules, and importing a submodule binds it as an attribute of the
    package; the suite must see the package as a fresh process would, not as the probe left it.
    """
    before = dict(vars(package))
    try:
        for name in package.__all__:
            if name != "__version__":
                getattr(package, name)
    finally:
        namespace = vars(package)
        for key in [k for k in namespace if k not in before]:
            del namespace[key]
        namespace.update(before)


def probe(modules: Sequence[str] | None = None) -> dict[str, Any]:
    """Import ``modules``; return their versions, ``torch.version.cuda`` and the first failure, if any.

    ``compat`` is checked by resolving every public shim name (its API is lazy).
    """
    if modules is None:
        env = os.environ.get("PCC_PROBE_IMPORTS", "")
        modules = [m.strip() for m in env.split(",") if m.strip()] or DEFAULT_IMPORTS
    found: dict[str, Any] = {"ok": False, "python": sys.version.split()[0], "versions": {}, "error": None,
                   "imports": list(modules)}
    stage = ""
    try:
        for stage in modules:
            module = importlib.import_module(stage)
            found["versions"][stage] = getattr(module, "__version__", None)
            if stage == "torch":
                found["torch_cuda"] = module.version.cuda
            if stage == "compat":
                _resolve_without_trace(module)
    except BaseException as exc:
        found["error"] = {
            "stage": stage,
            "type": type(exc).__name__,
            "message": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc()[-4000:],
        }
        return found
    found["ok"] = True
    return found


def _write(found: dict[str, Any]) -> None:
    out = os.environ.get("PCC_PROBE_OUT")
    if out:
        from compat.tools.outputs import atomic_write_text  # after the probe: it imports compat

        atomic_write_text(out, json.dumps(found))


@pytest.hookimpl(tryfirst=True)  # type: ignore[untyped-decorator, misc, unused-ignore]
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    """Probe before the suites' conftests import anything."""
    if os.environ.get("PCC_PARENT_PID"):  # no PR_SET_PDEATHSIG here: end with the runner by ourselves
        from compat.tools.children import watch_parent

        watch_parent()
    from compat.suiterun.fastexit import install

    install(early_config)  # before torch is imported: see compat.suiterun.fastexit
    found = probe()
    _write(found)
    if not found["ok"]:
        sys.stderr.write(f"compat.suiterun.probe: import of {found['error']['stage']} failed:\n")
        sys.stderr.write(found["error"]["traceback"])
        sys.stderr.flush()
        os._exit(_PROBE_EXIT)


if __name__ == "__main__":  # pragma: no cover - manual use
    result = probe()
    _write(result)
    print(json.dumps(result, indent=2))
    sys.exit(0 if result["ok"] else _PROBE_EXIT)
