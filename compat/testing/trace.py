"""What PEFT's ``generate`` handed the base model, call by call, and what that says about why a
generation went wrong (the mechanism's signature a known issue can match, see
:mod:`compat.matrix.known`).

A forward pre-hook on the base model records, for each forward ``generate`` makes, how many new
positions it was given and how many tokens the cache it uses already held. A correct
prompt-learning ``generate`` has a recognisable trace: prefix tuning starts from a cache of P
tokens; prompt/p-tuning puts the P virtual tokens in front of the input once, in the first call,
and then feeds one position per row and step.

>>> calls = (ForwardCall(9, 0, embeds=True), ForwardCall(5, 9, embeds=True))  # 4 virtual + 5 input, then P+1 again
>>> diagnose(calls, virtual_tokens=4, prefix=False)
'virtual tokens injected again at decode step 1 (5 new positions over a cache of 9)'
>>> diagnose((ForwardCall(5, 0, ignored="past_key_values"),), virtual_tokens=4, prefix=True)
'prefix never reached the model: its first forward used an empty cache (past_key_values was also passed, and ignored)'
>>> diagnose((ForwardCall(5, 0), ForwardCall(1, 5)), virtual_tokens=4, prefix=False)
"virtual tokens never reached the model: its first forward got token ids, not the prompt's embeddings"
>>> diagnose((ForwardCall(5, 4), ForwardCall(1, 9)), virtual_tokens=4, prefix=True)
''
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

__all__ = ["ForwardCall", "add_note", "diagnose", "format_calls", "record_forwards"]


@dataclasses.dataclass(frozen=True)
class ForwardCall:
    """One forward of the base model: new positions (per row) and tokens already in its cache."""

    new_positions: int
    cached: int
    ignored: str = ""  # a second cache argument the model was given and ignores (5.24+: past_key_values)
    embeds: bool = False  # the new positions came as embeddings (inputs_embeds), not token ids


def _length(cache: Any) -> int:
    """Tokens in a cache of any version and layout; -1 where it cannot be read (the trace is a
    diagnosis: reading it must never make a generate fail)."""
    if cache is None:
        return 0
    try:
        if isinstance(cache, (tuple, list)):
            return int(cache[0][0].shape[-2]) if len(cache) and len(cache[0]) else 0
        return int(cache.get_seq_length())
    except Exception:
        return -1


def _new_positions(kwargs: dict) -> tuple[int, bool]:
    for name in ("decoder_inputs_embeds", "decoder_input_ids", "inputs_embeds", "input_ids"):
        value = kwargs.get(name)
        if value is not None:
            return int(value.shape[1]), name.endswith("embeds")
    return 0, False


def _call(base: Any, kwargs: dict) -> ForwardCall:
    from compat import cache_argument

    used = cache_argument(base)
    other = "past_key_values" if used == "cache" else "cache"
    ignored = other if kwargs.get(other) is not None and kwargs.get(used) is not None else ""
    enc_dec = bool(getattr(base.config, "is_encoder_decoder", False))
    positions, embeds = _new_positions({k: v for k, v in kwargs.items() if not enc_dec or k.startswith("decoder_")})
    return ForwardCall(positions, _length(kwargs.get(used, kwargs.get(other))), ignored, embeds)


@contextlib.contextmanager
def record_forwards(base: Any) -> Iterator[list[ForwardCall]]:
    """Record every forward of ``base`` (a transformers model) inside the block."""
    calls: list[ForwardCall] = []

    def hook(module, args, kwargs):
        if args:  # positional input_ids
            kwargs = {"input_ids": args[0], **kwargs}
        calls.append(_call(module, kwargs))

    handle = base.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        yield calls
    finally:
        handle.remove()


def diagnose(calls: tuple[ForwardCall, ...] | list[ForwardCall], *, virtual_tokens: int, prefix: bool,
             encoder_decoder: bool = False) -> str:
    """A one-line mechanism when the trace is not that of a correct prompt-learning generate, else ''.

    For an encoder-decoder only the prefix is checked: its virtual tokens are an encoder input."""
    if not calls:
        return ""
    first = calls[0]
    if prefix and first.cached == 0:
        also = f" ({first.ignored} was also passed, and ignored)" if first.ignored else ""
        return f"prefix never reached the model: its first forward used an empty cache{also}"
    if prefix is False and encoder_decoder:
        return ""
    if not prefix and not first.embeds and not first.cached:
        return "virtual tokens never reached the model: its first forward got token ids, not the prompt's embeddings"
    if not prefix:
        for step, call in enumerate(calls[1:], start=1):
            if call.cached and call.new_positions > virtual_tokens:
                return (f"virtual tokens injected again at decode step {step} "
                        f"({call.new_positions} new positions over a cache of {call.cached})")
    return ""


def format_calls(calls: tuple[ForwardCall, ...] | list[ForwardCall], most: int = 4) -> str:
    """``(new positions, cached)`` of the first calls, for a failure message."""
    shown = ", ".join(f"({c.new_positions}, {c.cached})" for c in calls[:most])
    return f"forwards (new positions, cached): {shown}{', ...' if len(calls) > most else ''}"


def add_note(exc: BaseException, note: str) -> None:
    """``exc.add_note(note)`` where Python has it (3.11+); the suites' conftest records an
    exception's notes as the JUnit property ``notes``, where a known issue's ``match`` looks too."""
    if hasattr(exc, "add_note"):
        exc.add_note(note)
