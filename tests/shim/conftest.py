"""Fixtures shared by the shim suites."""

from __future__ import annotations

import pytest

from compat.testing import zoo


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
