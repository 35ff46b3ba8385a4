"""Fixtures shared by the shim suites, and what they collect off the default suite axes.

The API-level modules (argument names, layouts, conversions, errors, capabilities, fit, refusals)
check shapes and messages with CPU tensors they make themselves: they do not depend on the device,
dtype or attention kernel, and run in the default CPU session. Off the default suite axes
(:mod:`compat.testing.axes`) only the numerical oracle (test_oracle.py) is collected."""

from __future__ import annotations

import pytest

from compat.testing import axes, zoo

collect_ignore = [] if axes.current().is_default else [
    "test_arguments.py",
    "test_capabilities.py",
    "test_convert.py",
    "test_errors.py",
    "test_fit.py",
    "test_layouts.py",
    "test_prefix.py",
    "test_refusal.py",
    "test_token_noise.py",  # synthetic scores judged in explicit dtypes: a policy test, not a device one
]


@pytest.fixture(scope="module")
def zoo_models():
    """``get("family[:mha]")``: a tiny zoo model, built once per module; a family the installed
    transformers lacks is a ``not-applicable:`` skip. ``:mha`` turns ``multi_query`` off."""
    built = {}

    def get(key):
        if key not in built:
            family_id, _, variant = key.partition(":")
            ok, why = zoo.family_available(family_id)
            overrides = {"multi_query": False} if variant == "mha" else {}
            built[key] = zoo.build(family_id, **overrides) if ok else why
        found = built[key]
        if isinstance(found, str):
            pytest.skip(f"not-applicable: {found}")
        return found

    return get


class _ConfigWithout:
    """A model config without one attribute (as 5.x config classes that never set it)."""

    def __init__(self, config, name):
        self._config, self._name = config, name

    def __getattr__(self, name):
        if name == self._name:
            raise AttributeError(name)
        return getattr(self._config, name)


@pytest.fixture
def config_without(monkeypatch):
    """``config_without(model, name)``: the model's config stands in without ``name`` for this test."""

    def drop(model, name):
        monkeypatch.setattr(model, "config", _ConfigWithout(model.config, name))
        assert not hasattr(model.config, name)

    return drop
