"""``cache_kwargs`` / ``output_cache`` / ``cache_argument``: the cache keyword of the installed
transformers (``past_key_values`` up to 5.23, ``cache`` from 5.24), with no deprecation warning.

Each case hands a model its own cache of the first P tokens through ``cache_kwargs`` and compares
the logits of the next tokens with one full forward (numbers, not "it ran")."""

from __future__ import annotations

import inspect

import pytest
import torch

from compat import cache_argument, cache_kwargs, capabilities, output_cache, prefixed_call, to_legacy
from compat.testing import zoo
from compat.tolerance import assert_close

P, L = 3, 2

FAMILY_PARAMS = [
    pytest.param("llama", id="llama"),
    pytest.param("qwen3", id="qwen3-head_dim"),
    pytest.param("gpt2", id="gpt2"),
    pytest.param("bloom", id="bloom"),
    pytest.param("gpt_bigcode", id="gpt_bigcode-mqa"),
]


def _model(family_id):
    ok, why = zoo.family_available(family_id)
    if not ok:
        pytest.skip(f"not-applicable: {why}")
    return zoo.build(family_id)


@pytest.mark.parametrize("family_id", FAMILY_PARAMS)
def test_cache_kwargs_continue_the_models_own_cache(family_id, deprecations, record_property):
    model = _model(family_id)
    ids = torch.randint(3, zoo.VOCAB, (1, P + L), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = model(ids).logits[:, P:]
        out = model(ids[:, :P], use_cache=True)  # the model's own run may warn (4.42-4.46 do): not ours
        own, said_out = deprecations(lambda: output_cache(out))
        kwargs = cache_kwargs(model, own)
        got, said_in = deprecations(lambda: model(ids[:, P:], use_cache=True, **kwargs).logits)
    assert list(kwargs) == [cache_argument(model)]
    assert_close(got, expected, what=f"{family_id}: forward with cache_kwargs vs full forward", record=record_property)
    assert said_out + said_in == [], "reading or passing the cache drew a deprecation warning"


@pytest.mark.parametrize("family_id", FAMILY_PARAMS)
def test_the_chosen_keyword_is_the_forwards_and_the_other_is_deprecated_or_absent(family_id, deprecations):
    """The name is not cosmetic: where the shim chooses ``cache`` (5.24+), ``past_key_values=``
    draws a deprecation; where it chooses ``past_key_values``, the forward has no ``cache``."""
    model = _model(family_id)
    chosen = cache_argument(model)
    params = inspect.signature(model.forward).parameters
    assert chosen in params
    if chosen == "past_key_values":
        assert "cache" not in params
        return
    ids = torch.tensor([[5, 6, 7]])
    with torch.no_grad():
        own = output_cache(model(ids, use_cache=True))
        _, said = deprecations(lambda: model(torch.tensor([[8]]), use_cache=True, past_key_values=own))
    assert said, "past_key_values= drew no deprecation where the shim chose cache="


def test_capabilities_name_the_keyword():
    assert capabilities().cache_argument in {"past_key_values", "cache"}
    assert capabilities().cache_argument == cache_argument(zoo.build("llama"))


def test_output_cache_of_an_output_without_cache_is_none():
    model = zoo.build("llama")
    with torch.no_grad():
        out = model(torch.tensor([[5, 6]]), use_cache=False)
    assert output_cache(out) is None


@pytest.mark.parametrize("say", [
    pytest.param(lambda: __import__("warnings").warn("x is deprecated", FutureWarning), id="warned"),
    pytest.param(lambda: __import__("transformers").utils.logging.get_logger("transformers.models.llama")
                 .warning("x is deprecated and will be removed"), id="logged-by-transformers"),
])
def test_the_deprecation_probe_hears_warnings_and_transformers_logs(deprecations, say):
    """The probe the keyword checks rely on: a deprecation said either way is heard (and one the
    baseline also says is not the shim's)."""
    result, said = deprecations(say)
    assert result is None and len(said) == 1 and "x is deprecated" in said[0]
    assert deprecations(say, baseline=say) == (None, [])


def _renamed(model, name):
    """``model`` as an instance of a subclass whose ``forward`` takes its cache as ``name`` (as a
    user's or a remote-code model may), handing it on under the name its base class takes."""
    base_name = cache_argument(model)
    base_forward = type(model).forward

    def forward(self, input_ids=None, **kwargs):
        kwargs[base_name] = kwargs.pop(name, None)
        return base_forward(self, input_ids, **kwargs)

    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
              inspect.Parameter("input_ids", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None),
              inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None),
              inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD)]
    forward.__signature__ = inspect.Signature(params)
    model.__class__ = type(f"Takes_{name}", (type(model),), {"forward": forward})
    return model


@pytest.mark.parametrize("name", [pytest.param("cache", id="cache"),
                                  pytest.param("past_key_values", id="past_key_values")])
def test_the_keyword_is_the_models_own_not_the_installs(name):
    """The keyword comes from the model's forward, not from the installed transformers alone: a model
    whose forward names its cache otherwise than the install's generate (one of the two cases on every
    version) gets its own name, and continuing its cache through it gives the full forward's logits."""
    model = _renamed(zoo.build("llama"), name)
    ids = torch.randint(3, zoo.VOCAB, (1, P + L), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = model(ids).logits[:, P:]
        own = output_cache(model(ids[:, :P], use_cache=True))
        kwargs = cache_kwargs(model, own)
        got = model(ids[:, P:], use_cache=True, **kwargs).logits
    assert cache_argument(model) == name and list(kwargs) == [name]
    assert_close(got, expected, what=f"forward taking {name}=: cache_kwargs vs full forward")


@pytest.mark.parametrize("name", [pytest.param("cache", id="cache"),
                                  pytest.param("past_key_values", id="past_key_values")])
def test_prefixed_call_hands_the_prefix_under_the_models_own_keyword(name):
    """prefixed_call too: the prefix goes under the keyword the model's forward takes (on every version one
    of the two names differs from the install's), and the logits equal one full forward's."""
    model = _renamed(zoo.build("llama"), name)
    ids = torch.randint(3, zoo.VOCAB, (1, P + L), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = model(ids).logits[:, P:]
        own = output_cache(model(ids[:, :P], use_cache=True))
        call = prefixed_call(model, to_legacy(own, model=model), ids[:, P:])
        got = model(**call.kwargs).logits
    assert name in call.kwargs and not ({"cache", "past_key_values"} - {name}) & set(call.kwargs)
    assert_close(got, expected, what=f"forward taking {name}=: prefixed_call vs full forward")


class _UnhashableForward:  # noqa: PLW1641 - unhashable on purpose
    """A callable forward that cannot be a dictionary key (``__eq__`` without ``__hash__``)."""

    def __eq__(self, other):
        return self is other

    def __call__(self, input_ids=None, cache=None):
        return None


def test_the_keyword_follows_a_forward_replaced_on_the_instance():
    """The keyword is read from the forward the model will run: one replaced on the instance after an
    earlier answer (as accelerate's hooks do) is read again, and an unhashable callable is read too."""
    model = zoo.build("llama")
    class_keyword = cache_argument(model)
    other = "cache" if class_keyword == "past_key_values" else "past_key_values"
    own = type(model).forward

    def forward(self, input_ids=None, **kwargs):
        return own(self, input_ids, **kwargs)

    forward.__signature__ = inspect.Signature([
        inspect.Parameter("input_ids", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None),
        inspect.Parameter(other, inspect.Parameter.KEYWORD_ONLY, default=None)])
    model.forward = forward.__get__(model)
    assert cache_argument(model) == other
    model.forward = _UnhashableForward()
    assert cache_argument(model) == "cache"
    del model.forward
    assert cache_argument(model) == class_keyword
