"""to_legacy(to_cache(x)) == x: same tensors, same layout, same storage where zero-copy applies."""

from __future__ import annotations

import dataclasses

import torch
from hypothesis import given

from compat import capabilities, to_cache, to_legacy
from tests.property.strategies import cache_shapes, legacy_forms, make_legacy, peft_stacked

ZERO_COPY = capabilities().zero_copy


def _as_form(legacy: tuple, form: str):
    if form == "list":
        return [list(layer) for layer in legacy]
    if form == "peft-stacked":
        return peft_stacked(legacy)
    return legacy


def _expected(legacy: tuple, given_form):
    """The tensors the shim must hand back: the input's own (views of the stacked ones)."""
    if isinstance(given_form[0], torch.Tensor):
        return tuple(tuple(t.unbind(0)) for t in given_form)
    return legacy


@given(shape=cache_shapes(), form=legacy_forms)
def test_round_trip_is_identity(shape, form):
    if form == "peft-stacked" and shape.encoder_decoder:
        shape = dataclasses.replace(shape, cross_len=shape.prefix_len)  # one [4,B,H,P,D] tensor
    legacy = make_legacy(shape)
    given_form = _as_form(legacy, form)
    back = to_legacy(to_cache(given_form))

    assert isinstance(back, tuple) and all(isinstance(layer, tuple) for layer in back)
    assert len(back) == shape.layers
    for i, (got, want) in enumerate(zip(back, _expected(legacy, given_form))):
        assert len(got) == len(want), f"layer {i}: arity {len(got)} != {len(want)}"
        for j, (a, b) in enumerate(zip(got, want)):
            assert a.shape == b.shape and a.dtype == b.dtype, f"layer {i}[{j}]: {a.shape} {a.dtype}"
            assert torch.equal(a, b), f"layer {i}[{j}]: values differ"
            if ZERO_COPY:
                assert a.data_ptr() == b.data_ptr(), f"layer {i}[{j}]: copied, expected the same storage"


@given(shape=cache_shapes())
def test_to_legacy_of_legacy_is_identity(shape):
    legacy = make_legacy(shape)
    back = to_legacy(legacy)
    assert all(a is b for got, want in zip(back, legacy) for a, b in zip(got, want))
