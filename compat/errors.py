"""Exceptions raised by the shim.

Every error the shim raises on purpose is a :class:`CompatError`, and also a
builtin ``ValueError`` or ``TypeError`` so that callers who already catch those
keep working. Messages name the layer, what was expected and what was found.

>>> try:
...     raise MalformedCacheError("layer 1: expected a 4-D tensor, found shape (2, 3)")
... except ValueError as exc:
...     print(type(exc).__name__, "-", exc)
MalformedCacheError - layer 1: expected a 4-D tensor, found shape (2, 3)
>>> issubclass(CacheTypeError, TypeError) and issubclass(CacheTypeError, CompatError)
True
"""

from __future__ import annotations

__all__ = ["CacheTypeError", "CompatError", "MalformedCacheError", "UnsupportedModelError"]


class CompatError(Exception):
    """Base class of every error raised by ``compat``."""


class MalformedCacheError(CompatError, ValueError):
    """The cache has the right kind of objects but the wrong shapes, arity, dtypes or devices."""


class CacheTypeError(CompatError, TypeError):
    """The cache (or one of its entries) is not of a type the shim understands."""


class UnsupportedModelError(CompatError, ValueError):
    """The model or config cannot be handled (unknown family, missing attribute, ...)."""


def __dir__() -> list[str]:
    return __all__
