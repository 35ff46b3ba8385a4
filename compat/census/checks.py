"""The checks of one architecture x method, against references that need no per-architecture
code (:mod:`compat.census.oracle`, a cache-free greedy decoder), compared with
:mod:`compat.tolerance`.

Decoder-only, every method (the adapter holds P real tokens, see the oracle):

* ``logits``: PEFT forward == one plain forward over the P tokens + the input;
* ``greedy``: PEFT ``generate`` == a cache-free greedy decode over the P tokens + the input;
* ``use_cache``: PEFT forward with ``use_cache=False`` == with ``True``;
* ``grad``: a backward pass reaches every prompt parameter (finite, not all zero);
* ``shim`` (prefix methods): the base model given the same real-token KV through
  ``compat.prefixed_call`` == the plain forward (a cache the model rejects is a failure
  carrying the model's error).

Encoder-decoders: prompt methods as above with the P tokens in front of the encoder input;
prefix methods against the suites' explicit-prefix reference (``compat.testing.reference``:
PEFT's prefix split by its documented layout, handed to a cache-free decoder through
``compat.to_cache``), since a decoder prefix of real tokens depends on the source.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from compat.census import oracle, shrink
from compat.census.results import CheckResult, Status

__all__ = ["CHECKS", "METHODS", "Inputs", "inputs", "run_checks"]

#: the census methods: one per way the prompt reaches the model (compat.testing.methods ids)
METHODS = ("prefix", "prefix_proj", "prompt", "ptuning_mlp")
CHECKS = ("logits", "greedy", "use_cache", "grad", "shim")
P = 4
GEN_TOKENS = 4


@dataclasses.dataclass(frozen=True)
class Inputs:
    prompt_ids: Any  # [1, P] the real tokens the adapter holds
    ids: Any  # [B, L] input (decoder-only) / source (encoder-decoder)
    dec: Any  # [B, T] decoder ids (encoder-decoder) or None


def inputs(base: Any, *, batch: int = 2, length: int = 5) -> Inputs:
    import torch

    gen = torch.Generator().manual_seed(7)
    lo, hi = shrink.INPUT_TOKENS
    prompt_ids = torch.randint(lo, hi, (1, P), generator=gen)
    ids = torch.randint(lo, hi, (batch, length), generator=gen)
    dec = None
    if _enc_dec(base):
        start = _start_id(base)
        dec = torch.cat([torch.full((batch, 1), start), torch.randint(lo, hi, (batch, 2), generator=gen)], 1)
    return Inputs(prompt_ids, ids, dec)


def _enc_dec(model: Any) -> bool:
    return bool(getattr(model.config, "is_encoder_decoder", False))


def _start_id(base: Any) -> int:
    start = getattr(base.config, "decoder_start_token_id", None)
    if start is None:
        start = getattr(base.generation_config, "decoder_start_token_id", None)
    return 0 if start is None else int(start if not isinstance(start, list) else start[0])


# --------------------------------------------------------------------------- references


def _plain_logits(base: Any, x: Inputs) -> Any:
    """One forward over the P real tokens + the input, no cache: logits of the input positions."""
    import torch

    batch = x.ids.shape[0]
    full = torch.cat([x.prompt_ids.expand(batch, -1), x.ids], 1)
    with torch.no_grad():
        if _enc_dec(base):
            return base(input_ids=full, decoder_input_ids=x.dec, use_cache=False).logits
        return base(input_ids=full, use_cache=False).logits[:, -x.ids.shape[1]:]


def _plain_greedy(base: Any, x: Inputs, n: int) -> Any:
    """Greedy decode recomputing the whole sequence at every step (no cache), after the P tokens."""
    import torch

    batch = x.ids.shape[0]
    src = torch.cat([x.prompt_ids.expand(batch, -1), x.ids], 1)
    seq = torch.full((batch, 1), _start_id(base)) if _enc_dec(base) else src
    start = seq.shape[1]
    with torch.no_grad():
        for _ in range(n):
            kw = {"input_ids": src, "decoder_input_ids": seq} if _enc_dec(base) else {"input_ids": seq}
            nxt = base(**kw, use_cache=False).logits[:, -1].argmax(-1, keepdim=True)
            seq = torch.cat([seq, nxt], 1)
    return seq[:, start:]


# --------------------------------------------------------------------------- PEFT side


def _peft_logits(pm: Any, x: Inputs, **kw: Any) -> Any:
    import torch

    args = {"input_ids": x.ids, "attention_mask": torch.ones_like(x.ids), **kw}
    if x.dec is not None:
        args["decoder_input_ids"] = x.dec
    with torch.no_grad():
        logits = pm(**args).logits
    return logits[:, -(x.dec if x.dec is not None else x.ids).shape[1]:]


def _peft_greedy(pm: Any, x: Inputs, n: int) -> Any:
    import torch

    with torch.no_grad():
        out = pm.generate(input_ids=x.ids, attention_mask=torch.ones_like(x.ids), max_new_tokens=n,
                          do_sample=False, pad_token_id=0)
    return out[:, -n:]


# --------------------------------------------------------------------------- checks


def _compare(check: str, got: Any, expected: Any, what: str) -> CheckResult:
    from compat.tolerance import assert_close, diff_stats

    if tuple(got.shape) != tuple(expected.shape):
        return CheckResult(check, Status.FAIL, f"{what}: shape {tuple(got.shape)} vs {tuple(expected.shape)}")
    diff = diff_stats(got, expected)["max_abs_diff"]
    try:
        assert_close(got, expected, what=what)
    except AssertionError as exc:
        return CheckResult(check, Status.FAIL, str(exc).splitlines()[0], diff)
    return CheckResult(check, Status.PASS, "", diff)


def _same_tokens(check: str, got: Any, expected: Any, what: str) -> CheckResult:
    from compat.tolerance import assert_same_tokens

    try:
        assert_same_tokens(got, expected, what=what)
    except AssertionError as exc:
        return CheckResult(check, Status.FAIL, f"{str(exc).splitlines()[0]}; got {got.tolist()}, "
                                               f"expected {expected.tolist()}")
    return CheckResult(check, Status.PASS)


def _guard(check: str, body: Callable[[], CheckResult]) -> CheckResult:
    """Run one check; an exception is that check's failure (type and first line)."""
    try:
        return body()
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0][:400]
        return CheckResult(check, Status.FAIL, f"{type(exc).__name__}: {first}")


def _grad(pm: Any, x: Inputs) -> CheckResult:
    import torch

    name = pm.active_adapter
    params = [(n, p) for n, p in pm.prompt_encoder[name].named_parameters() if p.requires_grad]
    if not params:
        return CheckResult("grad", Status.FAIL, "the prompt encoder has no trainable parameter")
    pm.zero_grad(set_to_none=True)
    args = {"input_ids": x.ids, "attention_mask": torch.ones_like(x.ids)}
    if x.dec is not None:
        args["decoder_input_ids"] = x.dec
    try:
        logits = pm(**args).logits
        logits.float().pow(2).mean().backward()
    finally:
        pm.eval()
    dead = [n for n, p in params if p.grad is None or not bool(torch.isfinite(p.grad).all())
            or float(p.grad.abs().sum()) == 0.0]
    pm.zero_grad(set_to_none=True)
    if dead:
        return CheckResult("grad", Status.FAIL, f"no finite non-zero gradient reaches {', '.join(dead)}")
    return CheckResult("grad", Status.PASS)


def _shim(base: Any, x: Inputs) -> CheckResult:
    import torch

    from compat import _transformers as transformers_features
    from compat import prefixed_call

    refusal = transformers_features.prefix_refusal(base)
    if refusal is not None:  # the shim refuses such a model clearly (compat.UnsupportedModelError)
        return CheckResult("shim", Status.NOT_APPLICABLE, f"the shim refuses this model: {refusal}")
    layers = oracle.own_kv(base, x.prompt_ids)
    missing = [i for i, kv in enumerate(layers) if kv is None]
    if missing:
        raise oracle.OracleError(f"layers {missing} keep no KV: the shim gets no standard per-layer prefix")
    call = prefixed_call(base, tuple(layers), x.ids, attention_mask=torch.ones_like(x.ids))
    with torch.no_grad():
        got = base(**call.kwargs).logits
    return _compare("shim", got, _plain_logits(base, x), "base + compat.prefixed_call(own KV) vs plain forward")


def _seq2seq_prefix(pm: Any, x: Inputs) -> list[CheckResult]:
    import torch

    from compat.testing import reference

    base = pm.get_base_model()
    ones = torch.ones_like(x.ids)

    def logits() -> CheckResult:
        ref = reference.next_logits(base, x.dec, torch.ones_like(x.dec), source=x.ids, source_mask=ones,
                                    prefix=reference.peft_prefix(pm, x.ids.shape[0]))
        return _compare("logits", _peft_logits(pm, x), ref, "PEFT forward vs explicit-prefix reference")

    def greedy() -> CheckResult:
        ref = reference.decode(base, x.ids, ones, max_new_tokens=GEN_TOKENS,
                               prefix=reference.peft_prefix(pm, x.ids.shape[0]))
        return _same_tokens("greedy", _peft_greedy(pm, x, GEN_TOKENS), ref.sequences,
                            "PEFT greedy generate vs cache-free reference")

    return [_guard("logits", logits), _guard("greedy", greedy)]


def run_checks(pm: Any, method: str, x: Inputs) -> list[CheckResult]:
    """Every check of ``method`` on a PEFT model whose adapter is not yet loaded."""
    base = pm.get_base_model()
    prefix = method.startswith("prefix")
    if _enc_dec(base) and prefix:
        found = _seq2seq_prefix(pm, x)
    else:
        def load_oracle() -> CheckResult:
            oracle.load(pm, method, x.prompt_ids)
            return CheckResult("logits", Status.PASS)

        loaded = _guard("logits", load_oracle)
        if loaded.status is Status.FAIL:
            found = [dataclasses.replace(loaded, message=f"real-token oracle: {loaded.message}{_peft_runs(pm, x)}")]
        else:
            found = [
                _guard("logits", lambda: _compare("logits", _peft_logits(pm, x), _plain_logits(base, x),
                                                  "PEFT forward (real-token prompt) vs plain forward")),
                _guard("greedy", lambda: _same_tokens("greedy", _peft_greedy(pm, x, GEN_TOKENS),
                                                      _plain_greedy(base, x, GEN_TOKENS),
                                                      "PEFT greedy generate vs cache-free greedy decode")),
            ]
    found.append(_guard("use_cache", lambda: _compare("use_cache", _peft_logits(pm, x, use_cache=False),
                                                      _peft_logits(pm, x, use_cache=True),
                                                      "PEFT forward use_cache=False vs True")))
    found.append(_guard("grad", lambda: _grad(pm, x)))
    if prefix and not _enc_dec(base):
        found.append(_guard("shim", lambda: _shim(base, x)))
    return found


def _peft_runs(pm: Any, x: Inputs) -> str:
    """What PEFT's forward does with its own (random) prompt when the oracle cannot be loaded."""
    try:
        _peft_logits(pm, x)
    except Exception as exc:
        return f"; PEFT's forward raises {type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:300]}"
    return "; PEFT's forward runs (its prompt cannot be checked against real tokens)"
