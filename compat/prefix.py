"""``prefixed_call``: the keyword arguments that run a model *with a prefix* correctly.

A prefix of P cached tokens in front of L new tokens needs, on every
transformers from 4.30 to 5.x (see docs/shim.md):

* a **fresh** cache per call (forwards mutate a Cache in place), passed under the
  keyword the model takes (``past_key_values``; ``cache`` from 5.24);
* an attention mask of length **P + L** (a mask of L is silently wrong from 4.53);
* **no** ``cache_position`` (positions then start at P), and ``use_cache=True``
  (``use_cache=False`` with a prefix is silently wrong in Llama <= 4.40);
* for ``generate``: P placeholder ids in front of ``input_ids`` (sliced off before
  embedding), stripped again from the output by :meth:`PrefixedCall.strip`.

>>> import torch
>>> from compat.testing.zoo import build
>>> from compat import output_cache
>>> model = build("llama")
>>> prefix = output_cache(model(torch.tensor([[5, 6, 7]]), use_cache=True))
>>> call = prefixed_call(model, prefix, torch.tensor([[8, 9]]))
>>> call.prefix_length, tuple(call.kwargs["attention_mask"].shape)
(3, (1, 5))
>>> logits = model(**call.kwargs).logits            # logits of tokens 8, 9 after 5, 6, 7
>>> gen = prefixed_call(model, prefix, torch.tensor([[8, 9]]), for_generate=True)
>>> out = model.generate(**gen.kwargs, max_new_tokens=2, do_sample=False)
>>> tuple(gen.strip(out).shape)                   # the 2 input ids + 2 new ones
(1, 4)
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from compat import _transformers as features
from compat.convert import to_cache, to_legacy
from compat.errors import MalformedCacheError, UnsupportedModelError
from compat.hints import CacheInput, LegacyCache, ModelLike
from compat.validate import describe

__all__ = ["PrefixedCall", "prefixed_call"]

if TYPE_CHECKING:  # pragma: no cover
    import torch


@dataclasses.dataclass
class PrefixedCall:
    """Keyword arguments for ``model(**kwargs)`` or ``model.generate(**kwargs)``.

    Attributes:
        kwargs: the arguments (``input_ids``, ``attention_mask``, the cache
            under the name the model takes (``past_key_values``, or ``cache`` from
            transformers 5.24: :func:`compat.cache_argument`), ``use_cache`` and, for encoder-decoders,
            ``decoder_input_ids`` / ``decoder_attention_mask``).
        prefix_length: P, the number of cached prefix tokens.
        placeholders: how many leading columns :meth:`strip` removes from a
            ``generate`` output (0 for a forward call).
    """

    kwargs: dict[str, Any]
    prefix_length: int
    placeholders: int = 0

    def strip(self, sequences: Any) -> Any:
        """``generate``'s ``sequences`` without the placeholder columns."""
        return sequences[:, self.placeholders :]


def prefixed_call(
    model: ModelLike,
    prefix: CacheInput,
    input_ids: torch.Tensor,
    *,
    attention_mask: Any = None,
    decoder_input_ids: Any = None,
    decoder_attention_mask: Any = None,
    for_generate: bool = False,
) -> PrefixedCall:
    """Arguments to run ``model`` on ``input_ids`` after a cached ``prefix``.

    Args:
        model: a transformers or PEFT model (PEFT models are unwrapped). Call the
            *base* model with the result: a PEFT prompt-learning model's own
            forward replaces ``past_key_values`` with its prefix (or, in peft
            <= 0.12, fails with "multiple values").
        prefix: anything :func:`compat.to_cache` accepts (legacy tuples, PEFT's
            stacked tensors, a Cache). A batch-1 prefix is broadcast (as a view)
            to the batch of ``input_ids``.
        input_ids: ``[B, L]`` new token ids (the encoder input for
            encoder-decoders, whose prefix belongs to the decoder).
        attention_mask: ``[B, L]`` mask of the new tokens (the encoder mask for
            encoder-decoders); ones if omitted. The prefix's P ones are prepended.
        decoder_input_ids / decoder_attention_mask: encoder-decoders only; the
            decoder's new tokens (required for a forward call; ``generate``
            starts from the token a plain ``generate`` starts from if omitted,
            and the returned arguments pin ``decoder_start_token_id`` to it).
        for_generate: build arguments for ``generate`` instead of ``forward``.
    """
    base = features.unwrap_model(model)
    req = _request(base, prefix, input_ids, attention_mask, for_generate)
    new_ids, new_mask = _decoder_tokens(req, decoder_input_ids, decoder_attention_mask)
    full_mask = _prefixed_mask(new_mask, req.prefix_length)
    legacy, placeholders = req.legacy, 0
    if for_generate:
        legacy, new_ids = _prepare_generate(req, new_ids, full_mask)
        placeholders = req.prefix_length
    kwargs = _cache_arguments(req, legacy)
    if not for_generate and features.forward_takes(base, "cache_position"):
        # Positions of the new tokens after the prefix: what most models derive from the
        # cache, but Gemma-2 on 4.42-4.44 counts from 0 whatever the cache holds.
        kwargs["cache_position"] = _positions_after_prefix(req.prefix_length, new_ids)
    kwargs.update(_token_arguments(req, new_ids, full_mask))
    return PrefixedCall(kwargs=kwargs, prefix_length=req.prefix_length, placeholders=placeholders)


@dataclasses.dataclass(frozen=True)
class _Request:
    """What one :func:`prefixed_call` works from (validated)."""

    base: Any
    config: Any
    enc_dec: bool
    legacy: LegacyCache  # the prefix, standard layout, broadcast to the batch
    input_ids: Any  # decoder-only: the new tokens; encoder-decoder: the encoder input
    attention_mask: Any
    for_generate: bool
    start: int | None = None  # encoder-decoder generate: the token its decoder starts from

    @property
    def batch(self) -> int:
        return int(self.input_ids.shape[0])

    @property
    def prefix_length(self) -> int:
        return int(self.legacy[0][0].shape[-2])


def _request(base: Any, prefix: Any, input_ids: Any, attention_mask: Any, for_generate: bool) -> _Request:
    import torch

    cfg = features.config_of(base)
    legacy = to_legacy(prefix, model=base)
    if not legacy:
        raise MalformedCacheError("prefix is empty: expected at least one filled layer")
    if not isinstance(input_ids, torch.Tensor) or input_ids.dim() != 2:
        raise MalformedCacheError(f"input_ids: expected a [B, L] tensor, found {describe(input_ids)}")
    enc_dec = bool(cfg.is_encoder_decoder)  # every PretrainedConfig sets it
    return _Request(base, cfg, enc_dec, _broadcast(legacy, int(input_ids.shape[0])), input_ids, attention_mask,
                    for_generate, _start_token(base) if enc_dec and for_generate else None)


def _decoder_tokens(req: _Request, decoder_input_ids: Any, decoder_attention_mask: Any) -> tuple[Any, Any]:
    """The tokens the prefix is followed by (the decoder's, for encoder-decoders) and their mask."""
    if not req.enc_dec:
        new_ids, new_mask = req.input_ids, req.attention_mask
    else:
        new_ids, new_mask = decoder_input_ids, decoder_attention_mask
        if new_ids is None:
            if not req.for_generate:
                raise MalformedCacheError("decoder_input_ids: an encoder-decoder forward needs them, found None")
            if req.start is None:
                raise UnsupportedModelError("generation_config.decoder_start_token_id and bos_token_id are None: "
                                            "pass decoder_input_ids")
            new_ids = req.input_ids.new_full((req.batch, 1), req.start)
    if new_mask is None:
        new_mask = new_ids.new_ones(new_ids.shape)  # the ids' integer dtype and device, as a tokenizer's mask
    return new_ids, new_mask


def _prefixed_mask(new_mask: Any, plen: int) -> Any:
    """P ones for the prefix, then the new tokens' mask."""
    import torch

    return torch.cat([new_mask.new_ones((new_mask.shape[0], plen)), new_mask], dim=1)


def _positions_after_prefix(plen: int, new_ids: Any) -> Any:
    import torch

    return torch.arange(plen, plen + new_ids.shape[1], device=new_ids.device)


def _positions_from_mask(mask: Any) -> Any:
    """Each column's position, counting only the unmasked columns before it.

    A masked column repeats its left neighbour's position (never read: no query attends
    to it); none after the prefix's columns, which are all ones, is negative."""
    return mask.long().cumsum(1) - 1


def _prepare_generate(req: _Request, new_ids: Any, full_mask: Any) -> tuple[LegacyCache, Any]:
    """The prefix and ids for ``generate``: P placeholder ids in front (never embedded)."""
    import torch

    legacy = req.legacy
    if features.cache_utils() is None and new_ids.shape[1] > 1:
        # Before 4.36 (no cache_utils) prepare_inputs_for_generation may keep only
        # the LAST input id once a past is given (4.30 does; 4.35 slices off the
        # cached length instead, where this is redundant but harmless): run the
        # others through the model first, so the cache covers all but the last token
        # (the ids stay full length: the cached ones are never embedded again).
        legacy = _prefill(req, new_ids, full_mask)
    pad = req.start if req.start is not None else _pad_id(req.config)
    return legacy, torch.cat([new_ids.new_full((req.batch, req.prefix_length), pad), new_ids], dim=1)


def _cache_arguments(req: _Request, legacy: LegacyCache) -> dict[str, Any]:
    """A fresh cache under the keyword the model takes, and ``use_cache=True``."""
    past = to_cache(legacy, model=req.base)
    if req.for_generate and not req.enc_dec and features.is_cache(past) and features.generate_resets_cache_position():
        # This generate starts cache_position at 0, so a Cache's prefix would be taken as
        # empty; every model of that era also takes legacy tuples, whose length it reads.
        past = legacy
    kwargs: dict[str, Any] = {features.cache_argument(req.base): past, "use_cache": True}
    # a model that cannot generate has generation_config None (4.x) or no such attribute (5.x)
    if req.for_generate and getattr(getattr(req.base, "generation_config", None), "cache_implementation", None):
        # A model whose generation config names a cache implementation (Gemma-2's "hybrid",
        # 4.42-4.5x, or one a user set) makes generate refuse a cache passed in, a Cache or a
        # legacy tuple alike ("Passing both `cache_implementation` ... and `past_key_values`
        # ... is unsupported"; 4.39's static check), or build its own: the prefix's cache replaces it.
        kwargs["cache_implementation"] = None
    return kwargs


def _token_arguments(req: _Request, new_ids: Any, full_mask: Any) -> dict[str, Any]:
    """``input_ids``/``attention_mask`` (and the decoder's, for encoder-decoders)."""
    if not req.enc_dec:
        return {"input_ids": new_ids, "attention_mask": full_mask}
    kwargs: dict[str, Any] = {"input_ids": req.input_ids, "decoder_input_ids": new_ids,
                              "decoder_attention_mask": full_mask}
    if req.for_generate and req.start is not None:
        # The placeholders are this token: pin it, so a generation_config handed to generate with
        # another start token cannot make generate prepend its own and shift every id by one.
        kwargs["decoder_start_token_id"] = req.start
    if req.attention_mask is not None:
        kwargs["attention_mask"] = req.attention_mask
    if req.for_generate and _encoder_takes_past(req.base):
        # generate hands every non-decoder kwarg, past_key_values included, to
        # the encoder; an encoder that accepts it (T5 <= 4.45) then fails. Run
        # the encoder here so generate skips it.
        kwargs["encoder_outputs"] = _encode(req.base, req.input_ids, req.attention_mask)
    return kwargs


def _broadcast(legacy: Any, batch: int) -> Any:
    pbatch = legacy[0][0].shape[0]
    if pbatch == batch:
        return legacy
    if pbatch != 1:
        raise MalformedCacheError(
            f"layer 0: prefix batch size must be 1 or equal input_ids' batch {batch}, found {pbatch}"
        )
    return tuple(tuple(t.expand(batch, *t.shape[1:]) for t in layer) for layer in legacy)


def _start_token(base: Any) -> int | None:
    """The token an encoder-decoder's ``generate`` starts the decoder from on this install (see
    :func:`compat._transformers.generation_start_token`); ``None`` if there is none."""
    start = features.generation_start_token(base)
    if start is None:
        return None
    if isinstance(start, bool) or not isinstance(start, int):
        # even with decoder_input_ids: the P placeholders in front of the prefix are this one token
        raise UnsupportedModelError(f"generation_config.decoder_start_token_id is {start!r}, expected one token "
                                    "id (the placeholders in front of the prefix are one token): set one on "
                                    "model.generation_config")
    return start


def _pad_id(cfg: Any) -> int:
    """Decoder-only placeholders: never embedded, but logits processors that read ``input_ids``
    (repetition penalty, n-gram blocking) see them, so the pad token (0 without one), the id a model
    is least likely to be meant to generate. (Encoder-decoder placeholders are the start token:
    ``generate`` prepends its start token to decoder ids that do not begin with it.)"""
    pad = getattr(cfg, "pad_token_id", None)
    return int(pad) if pad is not None else 0


def _encoder_takes_past(base: Any) -> bool:
    # Only asked of encoder-decoders, which all have get_encoder (generate calls it).
    return features.forward_takes(base.get_encoder(), features.cache_argument(base))


def _encode(base: Any, input_ids: Any, attention_mask: Any) -> Any:
    import torch

    with torch.no_grad():
        return base.get_encoder()(input_ids=input_ids, attention_mask=attention_mask, return_dict=True)


def _prefill(req: _Request, new_ids: Any, full_mask: Any) -> LegacyCache:
    """Run all but the last new token through the model after the prefix; the extended prefix."""
    import torch

    forward = dataclasses.replace(req, for_generate=False)
    kwargs = _cache_arguments(forward, req.legacy)
    kwargs.update(_token_arguments(forward, new_ids[:, :-1], full_mask[:, :-1]))
    if features.forward_takes(req.base, "position_ids"):
        # generate counts positions over the mask (a padded token takes no position); the
        # forward alone would count every column, so a padded row's prefill would disagree.
        kwargs["position_ids"] = _positions_from_mask(full_mask)[:, req.prefix_length : -1]
    with torch.no_grad():
        out = req.base(**kwargs)
    extended = to_legacy(features.output_cache(out), model=req.base)
    if extended is None:
        raise UnsupportedModelError(f"{type(req.base).__name__} returned no cache after the prefix")
    return extended


def __dir__() -> list[str]:
    return __all__
