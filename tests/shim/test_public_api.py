"""The lazy public API of ``compat``: ``__all__`` is a literal list (so linters and type checkers see
it); it must name exactly the lazily loaded exports plus ``__version__``, and each must resolve."""

from __future__ import annotations

import importlib

import pytest

import compat


def test_all_names_exactly_the_lazy_exports():
    assert sorted(compat.__all__) == sorted([*compat._EXPORTS, "__version__"])


@pytest.mark.parametrize("name", [pytest.param(n, id=n) for n in sorted(compat._EXPORTS)])
def test_every_export_resolves_from_its_module(name):
    assert getattr(compat, name) is getattr(importlib.import_module(compat._EXPORTS[name]), name)


def test_dir_is_all():
    assert sorted(dir(compat)) == sorted(compat.__all__)
