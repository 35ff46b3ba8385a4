"""peft-cache-compat: move PEFT prompt-learning prefixes between legacy
``past_key_values`` tuples and transformers ``Cache`` objects, on any
transformers from 4.30 to 5.x.

The public API is loaded lazily, so ``import compat`` (and the tooling in
``compat.matrix``, ``compat.gate``, ``compat.migrate``) never imports torch
until a shim function is used.

>>> import compat
>>> sorted(compat.__all__)[:3]
['CacheTypeError', 'Capabilities', 'CompatError']
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> submodule that defines it
_EXPORTS = {
    "cache_argument": "compat.arguments",
    "cache_kwargs": "compat.arguments",
    "output_cache": "compat.arguments",
    "to_cache": "compat.convert",
    "to_legacy": "compat.convert",
    "from_legacy_cache": "compat.legacy_api",
    "layer_keys": "compat.legacy_api",
    "layer_values": "compat.legacy_api",
    "prefixed_call": "compat.prefix",
    "PrefixedCall": "compat.prefix",
    "capabilities": "compat.detect",
    "Capabilities": "compat.detect",
    "CompatError": "compat.errors",
    "MalformedCacheError": "compat.errors",
    "CacheTypeError": "compat.errors",
    "UnsupportedModelError": "compat.errors",
}

# a literal list, so linters and type checkers see the public API; tests/shim/test_public_api.py
# checks that it names exactly the lazy exports and __version__
__all__ = [
    "CacheTypeError",
    "Capabilities",
    "CompatError",
    "MalformedCacheError",
    "PrefixedCall",
    "UnsupportedModelError",
    "__version__",
    "cache_argument",
    "cache_kwargs",
    "capabilities",
    "from_legacy_cache",
    "layer_keys",
    "layer_values",
    "output_cache",
    "prefixed_call",
    "to_cache",
    "to_legacy",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'compat' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # pragma: no cover
    from compat.arguments import cache_argument, cache_kwargs, output_cache
    from compat.convert import to_cache, to_legacy
    from compat.detect import Capabilities, capabilities
    from compat.errors import CacheTypeError, CompatError, MalformedCacheError, UnsupportedModelError
    from compat.legacy_api import from_legacy_cache, layer_keys, layer_values
    from compat.prefix import PrefixedCall, prefixed_call
