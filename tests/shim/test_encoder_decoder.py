"""prefixed_call on encoder-decoders: the numbers for what test_oracle.py leaves at their defaults.

The oracle there always passes ``decoder_input_ids`` and no masks. The mutation run
(docs/mutation.md) showed that a shim which dropped the encoder's attention mask, the
decoder's mask, or started ``generate`` from the wrong token when ``decoder_input_ids``
is omitted still passed. Each case here compares the shim's prefixed run with one plain
run of the model over the whole decoder sequence (the model's own KV of the first P
decoder tokens is the prefix).
"""

from __future__ import annotations

import pytest
import torch

from compat import output_cache, prefixed_call, to_legacy
from compat.testing import zoo
from compat.tolerance import assert_close

P, L, B, SRC, NEW = 3, 3, 2, 5, 3

ENC_DEC = [pytest.param("t5", id="t5"), pytest.param("bart", id="bart")]


def _ids(seed: int, length: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(3, zoo.VOCAB, (B, length), generator=g)


def _encoder_mask() -> torch.Tensor:
    """Row 1 pads its last two source tokens: a mask that changes every decoder logit of that row."""
    mask = torch.ones(B, SRC, dtype=torch.long)
    mask[1, -2:] = 0
    return mask


def _decoder(model, length: int) -> torch.Tensor:
    dec = _ids(2, length)
    dec[:, 0] = model.config.decoder_start_token_id
    return dec


def _own_prefix(model, enc, enc_mask, dec):
    with torch.no_grad():
        own = output_cache(model(input_ids=enc, attention_mask=enc_mask, decoder_input_ids=dec[:, :P], use_cache=True))
    return to_legacy(own, model=model)


@pytest.mark.parametrize("family_id", ENC_DEC)
def test_encoder_attention_mask_reaches_the_model(zoo_models, family_id):
    model = zoo_models(family_id)
    enc, enc_mask, dec = _ids(1, SRC), _encoder_mask(), _decoder(model, P + L)
    with torch.no_grad():
        expected = model(input_ids=enc, attention_mask=enc_mask, decoder_input_ids=dec).logits[:, P:]
        unmasked = model(input_ids=enc, decoder_input_ids=dec).logits[:, P:]
        call = prefixed_call(model, _own_prefix(model, enc, enc_mask, dec), enc, attention_mask=enc_mask,
                             decoder_input_ids=dec[:, P:])
        got = model(**call.kwargs).logits
    assert torch.equal(call.kwargs["attention_mask"], enc_mask)
    assert (expected[1] - unmasked[1]).abs().max() > 1e-3, "the encoder mask must matter for this check"
    assert_close(got, expected, what=f"{family_id} logits after a prefix, with a padded encoder input")


@pytest.mark.parametrize("family_id", ENC_DEC)
def test_decoder_attention_mask_reaches_the_model(zoo_models, family_id):
    model = zoo_models(family_id)
    enc, dec = _ids(1, SRC), _decoder(model, P + L)
    dec_mask = torch.ones(B, L, dtype=torch.long)
    dec_mask[1, 0] = 0  # row 1 hides its first new decoder token from the ones after it
    full_mask = torch.cat([torch.ones(B, P, dtype=torch.long), dec_mask], dim=1)
    with torch.no_grad():
        expected = model(input_ids=enc, decoder_input_ids=dec, decoder_attention_mask=full_mask).logits[:, P:]
        unmasked = model(input_ids=enc, decoder_input_ids=dec).logits[:, P:]
        call = prefixed_call(model, _own_prefix(model, enc, None, dec), enc, decoder_input_ids=dec[:, P:],
                             decoder_attention_mask=dec_mask)
        got = model(**call.kwargs).logits
    assert call.kwargs["decoder_attention_mask"].tolist() == full_mask.tolist()
    assert (expected[1, 1:] - unmasked[1, 1:]).abs().max() > 1e-3, "the decoder mask must matter for this check"
    # row 1's masked position itself sees nothing new to compare; the positions after it are what the mask changes
    assert_close(got[:, 1:], expected[:, 1:], what=f"{family_id} logits after a prefix, with a decoder mask")


@pytest.mark.parametrize("with_mask", [pytest.param(False, id="no-encoder-mask"),
                                       pytest.param(True, id="padded-encoder-mask")])
@pytest.mark.parametrize("family_id", ENC_DEC)
def test_generate_without_decoder_input_ids_starts_after_the_prefix(zoo_models, family_id, with_mask):
    """``generate`` without ``decoder_input_ids``: the decoder continues the prefix from
    ``decoder_start_token_id``, as a plain generate over prefix tokens + that token does."""
    model = zoo_models(family_id)
    enc, dec = _ids(1, SRC), _decoder(model, P)
    enc_mask = _encoder_mask() if with_mask else None
    start = model.config.decoder_start_token_id
    full = torch.cat([dec, torch.full((B, 1), start, dtype=torch.long)], dim=1)
    opts = {"max_new_tokens": NEW, "do_sample": False, "output_scores": True, "return_dict_in_generate": True}
    mask_kw = {} if enc_mask is None else {"attention_mask": enc_mask}
    with torch.no_grad():
        whole = model.generate(input_ids=enc, decoder_input_ids=full, **mask_kw, **opts)
        call = prefixed_call(model, _own_prefix(model, enc, enc_mask, full), enc, attention_mask=enc_mask,
                             for_generate=True)
        out = model.generate(**call.kwargs, **opts)
    assert call.kwargs["decoder_input_ids"][:, P:].tolist() == [[start]] * B
    assert call.strip(out.sequences).tolist() == whole.sequences[:, P:].tolist()
    # the scores too: a padded encoder input changes them, where greedy tokens may not
    for step, (got, want) in enumerate(zip(out.scores, whole.scores)):
        assert_close(got, want, what=f"{family_id} generate scores at step {step}")


def _without_a_start_token(model) -> None:
    """Neither config names a start token or a bos token (4.30 re-derives its generation config
    from the model config, so both are cleared)."""
    for config in (model.config, model.generation_config):
        config.decoder_start_token_id = None
        config.bos_token_id = None


def test_generate_without_decoder_input_ids_needs_a_start_token():
    from compat import UnsupportedModelError

    model = zoo.build("bart")
    prefix = _own_prefix(model, _ids(1, SRC), None, _decoder(model, P))
    _without_a_start_token(model)
    with pytest.raises(UnsupportedModelError) as info:
        prefixed_call(model, prefix, _ids(1, SRC), for_generate=True)
    assert str(info.value) == ("generation_config.decoder_start_token_id and bos_token_id are None: "
                               "pass decoder_input_ids")


def test_a_start_token_per_row_is_refused(zoo_models, monkeypatch):
    """A generation config may name one start token per row (4.38+); the shim's placeholders are one
    token, so that is refused in one line rather than started from the wrong token."""
    from compat import UnsupportedModelError
    from compat import _transformers as features

    model = zoo_models("t5")
    prefix = _own_prefix(model, _ids(1, SRC), None, _decoder(model, P))
    monkeypatch.setattr(features, "generation_start_token", lambda model: [5, 6])
    for decoder_ids in (None, _ids(3, 2)):  # decoder_input_ids do not help: the placeholders come first
        with pytest.raises(UnsupportedModelError) as info:
            prefixed_call(model, prefix, _ids(1, SRC), decoder_input_ids=decoder_ids, for_generate=True)
        assert str(info.value) == ("generation_config.decoder_start_token_id is [5, 6], expected one token id "
                                   "(the placeholders in front of the prefix are one token): set one on "
                                   "model.generation_config")


START_CASES = [
    pytest.param("t5", {"decoder_start_token_id": 7}, False, id="t5-generation-config-start"),
    pytest.param("bart", {"decoder_start_token_id": 7}, False, id="bart-generation-config-start"),
    pytest.param("t5", {"decoder_start_token_id": 7}, True, id="t5-generation-config-start-with-decoder-ids"),
    pytest.param("bart", {"decoder_start_token_id": None, "bos_token_id": 7}, False, id="bart-bos-fallback"),
]


@pytest.mark.parametrize(("family_id", "settings", "with_decoder_ids"), START_CASES)
def test_generate_continues_from_the_token_plain_generate_starts_from(family_id, settings, with_decoder_ids):
    """A generation config whose start token is not the model config's (a target-language token, say),
    or that has none and falls back to bos: the prefixed ``generate`` gives the tokens and scores of one
    plain ``generate`` over the prefix tokens and the rest, whose first token is the one a plain
    ``generate`` starts from on this version (read from its output, not from either config). With
    ``decoder_input_ids`` that do not begin with that token, nothing is prepended to them either."""
    model = zoo.build(family_id)
    for name, value in settings.items():
        setattr(model.generation_config, name, value)
    enc = _ids(1, SRC)
    with torch.no_grad():
        start = int(model.generate(input_ids=enc, max_new_tokens=1)[0, 0])
    dec = _ids(2, P)
    dec[:, 0] = start
    rest = _ids(4, 2) if with_decoder_ids else torch.full((B, 1), start, dtype=torch.long)
    full = torch.cat([dec, rest], dim=1)
    opts = {"max_new_tokens": NEW, "do_sample": False, "output_scores": True, "return_dict_in_generate": True}
    with torch.no_grad():
        whole = model.generate(input_ids=enc, decoder_input_ids=full, **opts)
        call = prefixed_call(model, _own_prefix(model, enc, None, full), enc, for_generate=True,
                             decoder_input_ids=rest if with_decoder_ids else None)
        out = model.generate(**call.kwargs, **opts)
    assert call.kwargs["decoder_input_ids"][:, :P].tolist() == [[start] * P] * B
    assert call.kwargs["decoder_start_token_id"] == start
    assert call.strip(out.sequences).tolist() == whole.sequences[:, P:].tolist()
    for step, (got, want) in enumerate(zip(out.scores, whole.scores)):
        assert_close(got, want, what=f"{family_id} generate scores at step {step}, started from {start}")


def test_forward_without_decoder_input_ids_is_refused(zoo_models):
    from compat import MalformedCacheError

    model = zoo_models("t5")
    prefix = _own_prefix(model, _ids(1, SRC), None, _decoder(model, P))
    with pytest.raises(MalformedCacheError) as info:
        prefixed_call(model, prefix, _ids(1, SRC))
    assert str(info.value) == "decoder_input_ids: an encoder-decoder forward needs them, found None"


def _t5_prefix_with_ignored_cross_slots(model, enc, enc_mask, full):
    """The model's own self-attention KV of ``full[:, :P]`` with random cross slots of P (not SRC)
    positions; a not-applicable skip where T5 takes an EncoderDecoderCache (which reads them)."""
    from compat import _transformers as features

    if features.family_takes_cache("t5", model=model):
        pytest.skip("not-applicable: this T5 takes an EncoderDecoderCache and reads a prefix's cross slots as given")
    g = torch.Generator().manual_seed(3)
    own = _own_prefix(model, enc, enc_mask, full)
    prefix = tuple((k, v, torch.randn(k.shape, generator=g), torch.randn(v.shape, generator=g)) for k, v, *_ in own)
    assert prefix[0][2].shape[-2] != SRC
    return prefix


@pytest.mark.parametrize("tuples", [
    pytest.param(False, id="plain"),
    pytest.param(True, id="return_dict-false-config-with-attentions"),
])
def test_t5_prefix_whose_cross_slots_it_ignores_generate(zoo_models, monkeypatch, tuples):
    """T5 before it takes an EncoderDecoderCache recomputes the cross-attention keys/values from the
    encoder outputs whenever a prefix's cross slots are not as long as the source (as a PEFT prefix
    of another length): ``generate`` must then see the encoder run with its mask, and give the
    tokens and scores of one generate over the whole decoder sequence. ``generate`` reads the
    encoder outputs by name (``output_attentions``), also for a config with ``return_dict=False``."""
    model = zoo_models("t5")
    enc, enc_mask, dec = _ids(1, SRC), _encoder_mask(), _decoder(model, P)
    full = torch.cat([dec, torch.full((B, 1), model.config.decoder_start_token_id, dtype=torch.long)], dim=1)
    prefix = _t5_prefix_with_ignored_cross_slots(model, enc, enc_mask, full)
    if tuples:  # as a model built with return_dict=False (its stacks keep copies of the config)
        for config in {id(c): c for c in (model.config, model.get_encoder().config)}.values():
            monkeypatch.setattr(config, "return_dict", False)
    opts = {"max_new_tokens": NEW, "do_sample": False, "output_scores": True, "return_dict_in_generate": True,
            "output_attentions": tuples}
    with torch.no_grad():
        whole = model.generate(input_ids=enc, attention_mask=enc_mask, decoder_input_ids=full, **opts)
        call = prefixed_call(model, prefix, enc, attention_mask=enc_mask, for_generate=True)
        out = model.generate(**call.kwargs, **opts)
    assert call.strip(out.sequences).tolist() == whole.sequences[:, P:].tolist()
    for step, (got, want) in enumerate(zip(out.scores, whole.scores)):
        assert_close(got, want, what=f"t5 generate scores at step {step}, prefix cross slots ignored")


def test_t5_prefix_whose_cross_slots_it_ignores_forward_trains_the_encoder(zoo_models):
    """The same prefix in a forward call: the logits of one forward over the whole decoder
    sequence, and (the shim runs the encoder itself only for ``generate``) a loss that reaches the
    encoder's weights."""
    model = zoo_models("t5")
    enc, enc_mask, dec = _ids(1, SRC), _encoder_mask(), _decoder(model, P + L)
    prefix = _t5_prefix_with_ignored_cross_slots(model, enc, enc_mask, dec)
    with torch.no_grad():
        expected = model(input_ids=enc, attention_mask=enc_mask, decoder_input_ids=dec).logits[:, P:]
    call = prefixed_call(model, prefix, enc, attention_mask=enc_mask, decoder_input_ids=dec[:, P:])
    model.zero_grad(set_to_none=True)
    try:
        got = model(**call.kwargs).logits
        got.sum().backward()
        grads = [p.grad for p in model.get_encoder().block.parameters()]
        assert grads and all(g is not None for g in grads), "the encoder's blocks got no gradient"
    finally:
        model.zero_grad(set_to_none=True)
    assert_close(got.detach(), expected, what="t5 logits after a prefix whose cross slots it ignores")


@pytest.mark.parametrize(("family_id", "bare_class"), [pytest.param("t5", "T5Model", id="t5-T5Model"),
                                                       pytest.param("bart", "BartModel", id="bart-BartModel")])
def test_generate_arguments_for_a_model_that_cannot_generate(family_id, bare_class):
    """A bare encoder-decoder (no LM head) has ``generation_config`` None (4.x) or none at all (5.x):
    ``for_generate`` then starts from its config's start token instead of failing with an
    AttributeError from inside the shim."""
    import transformers

    model = getattr(transformers, bare_class)(zoo.config_for(family_id)).eval()
    enc = _ids(1, SRC)
    with torch.no_grad():
        own = to_legacy(output_cache(model(input_ids=enc, decoder_input_ids=_ids(2, P), use_cache=True)), model=model)
    call = prefixed_call(model, own, enc, for_generate=True)
    start = model.config.decoder_start_token_id
    assert call.kwargs["decoder_start_token_id"] == start
    assert call.kwargs["decoder_input_ids"].tolist() == [[start] * (P + 1)] * B
