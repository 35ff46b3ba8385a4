"""A per-process memo of reference results, keyed by the content of everything they are computed from.

The equivalence suites compare many paths against the same reference (the cache-free decode of one
(family, method, input)): greedy generation, the workaround and "the prompt matters" all need the
greedy decode of the same two rows. :class:`Memo` computes each once per process. Its key is a
digest of the *content* of the inputs -- the model's weights and buffers, the prompt, the token
ids, the mask, the options -- so a test that hands other inputs (or a model whose weights changed)
gets a fresh computation, never a stale one. Every value is handed out as a deep copy, so a caller
that mutates what it got cannot change what the next caller gets.

>>> import torch
>>> m = Memo()
>>> calls = []
>>> def compute():
...     calls.append(1)
...     return torch.zeros(2)
>>> a = m.get(("x", digest(torch.ones(3))), compute)
>>> a += 5                                # mutate the copy handed out
>>> m.get(("x", digest(torch.ones(3))), compute)
tensor([0., 0.])
>>> len(calls), m.hits, m.misses
(1, 1, 1)
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import weakref
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

__all__ = ["REFERENCES", "Memo", "digest", "model_digest"]

T = TypeVar("T")


def _feed(h: Any, value: Any) -> None:
    """Add ``value``'s content (type-tagged, so ``1`` and ``"1"`` differ) to the hash ``h``."""
    import torch

    if isinstance(value, torch.Tensor):
        t = value.detach().contiguous().reshape(-1)
        h.update(f"T{t.dtype}{tuple(value.shape)}{value.device.type}".encode())
        h.update(t.cpu().view(torch.uint8).numpy().tobytes())
    elif isinstance(value, (tuple, list)):
        h.update(f"L{type(value).__name__}{len(value)}".encode())
        for item in value:
            _feed(h, item)
    elif isinstance(value, dict):
        h.update(f"D{len(value)}".encode())
        for key in sorted(value, key=repr):
            _feed(h, key)
            _feed(h, value[key])
    elif value is None or isinstance(value, (bool, int, float, str)):
        h.update(f"S{type(value).__name__}:{value!r}".encode())
    else:
        raise TypeError(f"digest: cannot key a memo on a {type(value).__name__}; expected tensors, numbers, "
                        "strings, None, or tuples/lists/dicts of them")


def digest(*values: Any) -> str:
    """A hex digest of the content of ``values`` (tensors by dtype, shape, device type and bytes)."""
    h = hashlib.blake2b(digest_size=16)
    for value in values:
        _feed(h, value)
    return h.hexdigest()


#: model -> (stamp, digest): the content digest is recomputed only when the stamp changes.
_MODEL_DIGESTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _stamp(tensors: dict) -> tuple:
    """Which tensor objects a model holds and their version counters: an in-place change through
    the tensor or any view of it (``copy_``, ``+=``, ``weight[:n] = ...``) bumps the counter, and
    replacing a parameter changes the object. Writes through ``.data`` bypass the counter: the
    suites never write a base model's weights."""
    return tuple((name, id(t), t._version) for name, t in tensors.items())


def model_digest(model: Any) -> str:
    """A digest of a model's class and every parameter and buffer (name and content).

    Hashing the content costs a copy to the host of every weight (gigabytes for the realistic sizes
    on a GPU), so it is computed once per model and reused while the model holds the same tensors
    at the same versions (:func:`_stamp`)."""
    tensors = dict(model.state_dict(keep_vars=True))
    stamp = _stamp(tensors)
    cached = _MODEL_DIGESTS.get(model)
    if cached is None or cached[0] != stamp:
        cached = (stamp, digest(type(model).__qualname__, {k: t.detach() for k, t in tensors.items()}))
        _MODEL_DIGESTS[model] = cached
    return str(cached[1])


@dataclasses.dataclass
class Memo:
    """``get(key, compute)``: ``compute()`` once per key, a deep copy of the result on every call."""

    hits: int = 0
    misses: int = 0
    _values: dict = dataclasses.field(default_factory=dict, repr=False)

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        if key in self._values:
            self.hits += 1
        else:
            self.misses += 1
            self._values[key] = compute()
        return copy.deepcopy(self._values[key])

    def clear(self) -> None:
        self._values.clear()
        self.hits = self.misses = 0


#: The suites' reference memo (one per process; see :meth:`compat.testing.cases.Case.reference_decode`).
REFERENCES = Memo()
