"""The cheap first look: can any rule fire in this text at all?

Every rule needs one of these identifiers in the file (PCC005 needs a known cache,
so a ``*Cache`` name, ``to_cache``/``from_legacy_cache`` or ``past_key_values``; a
cache subclass defined elsewhere in the tree is added by name). Files without any
are only syntax-checked (with ``ast``, in C), never given to libcst.

>>> may_match("import os\\nprint(os.getcwd())\\n")
False
>>> may_match("out = model(ids, past_key_values=pkv)\\n")
True
>>> may_match("s = Store()\\ns[0]\\n", extra=("Store",))
True
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

__all__ = ["CANDIDATE_WORDS", "may_match"]

CANDIDATE_WORDS = (
    "from_legacy_cache", "to_legacy_cache", "key_cache", "value_cache", "get_max_length",
    "get_max_cache_shape", "seen_tokens", "get_usable_length", "cache_position", "past_key_values",
    "crop", "to_cache", "output_cache",
)


@functools.lru_cache(maxsize=64)
def _pattern(extra: tuple[str, ...]) -> re.Pattern[str]:
    words = "|".join(re.escape(w) for w in (*CANDIDATE_WORDS, *extra))
    # ``Cache\b`` finds every word ending in Cache (``\w*Cache`` would try each word's start)
    return re.compile(rf"Cache\b|\b(?:{words})\b")


def may_match(source: str, extra: Iterable[str] = ()) -> bool:
    """True when ``source`` holds a word some rule needs (``extra``: more class names)."""
    return _pattern(tuple(sorted(set(extra)))).search(source) is not None
