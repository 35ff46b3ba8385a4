"""The in-process import probe must not change what the suite sees."""

from __future__ import annotations


def test_probe_leaves_the_lazy_package_as_a_fresh_process_would(tmp_path, monkeypatch):
    """A submodule named like one of its exports must not shadow it after the probe ran."""
    pkg = tmp_path / "lazypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        "import importlib\n__all__ = ['Thing', 'thing']\n"
        "def __getattr__(name):\n"
        "    value = getattr(importlib.import_module('lazypkg.thing'), name)\n"
        "    globals()[name] = value\n    return value\n"
    )
    (pkg / "thing.py").write_text("class Thing: pass\ndef thing(): return 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import lazypkg

    from compat.suiterun.probe import _resolve_without_trace

    _resolve_without_trace(lazypkg)
    from lazypkg import thing

    assert thing() == 42
