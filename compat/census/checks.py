"""The checks of one architecture x method, against references that need no per-architecture
code (:mod:`compat.census.oracle`, a cache-free greedy decoder), compared with
:mod:`compat.tolerance`.

Decoder-only, every method (the adapter holds P real tokens, see the oracle):

* ``logits``: PEFT forward == one plain forward over the P tokens + the input;
* ``greedy``: PEFT ``generate`` == a cache-free greedy decode over the P tokens + the input: the same
  tokens, and at every step the same logits (``output_logits``) within tolerance, or those of the plain
  model's own ``generate`` over the P tokens + the input (its cache path: an SSM's recurrent decode
  differs from its chunked scan by ~1e-4);
* ``use_cache``: PEFT forward with ``use_cache=False`` == with ``True``;
* ``grad`` (the training path): PEFT's loss with labels == the plain forward's loss over the P
  tokens + the input; the gradient at PEFT's prompt encoder output == the plain model's gradient
  at the same prompt (given as ``inputs_embeds``, or for prefix methods as per-layer KV through
  ``compat.prefixed_call``); a finite non-zero gradient reaches every prompt parameter;
* ``shim`` (prefix methods): the base model given the same real-token KV through
  ``compat.prefixed_call`` == the plain forward (a cache the model rejects is a failure
  carrying the model's error);
* ``tuple`` (prefix methods, where the installed transformers still takes legacy tuples, i.e.
  < 5): the same KV as a legacy tuple instead of the shim's Cache == the plain forward;
* ``sdpa``: ``logits`` and ``greedy`` again on the model's sdpa twin (same weights); the other
  checks run with eager attention. Not applicable where the model offers only eager.

Encoder-decoders: prompt methods as above with the P tokens in front of the encoder input;
prefix methods against the suites' explicit-prefix reference (``compat.testing.reference``:
PEFT's prefix split by its documented layout, handed to a cache-free decoder through
``compat.to_cache``), since a decoder prefix of real tokens depends on the source.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

from compat.census import oracle, shrink
from compat.census.results import CheckResult, Status

__all__ = ["CHECKS", "METHODS", "Inputs", "Sdpa", "inputs", "logits_check", "run_checks"]

#: the census methods: one per way the prompt reaches the model (compat.testing.methods ids)
METHODS = ("prefix", "prefix_proj", "prompt", "ptuning_mlp")
CHECKS = ("logits", "greedy", "use_cache", "grad", "shim", "tuple", "sdpa")
P = 4
GEN_TOKENS = 4


class Greedy(NamedTuple):
    """A greedy decode: its tokens ``[B, n]`` and the raw logits of each step ``[B, n, V]``."""

    tokens: Any
    logits: Any


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


def _plain_logits_embeds(base: Any, x: Inputs, prompt: Any) -> Any:
    """As :func:`_plain_logits`, with the P prompt positions given as embeddings ``[1, P, D]``."""
    import torch

    batch = x.ids.shape[0]
    with torch.no_grad():
        embeds = base.get_input_embeddings()(x.ids)
        full = torch.cat([prompt.expand(batch, -1, -1).to(embeds.dtype), embeds], 1)
        mask = torch.ones(full.shape[:2], dtype=torch.long)
        if _enc_dec(base):
            return base(inputs_embeds=full, attention_mask=mask, decoder_input_ids=x.dec, use_cache=False).logits
        return base(inputs_embeds=full, attention_mask=mask, use_cache=False).logits[:, -x.ids.shape[1]:]


#: what a model that computes gradients only in train mode says when asked in eval mode (Reformer's
#: reversible layers): the training check is then not applicable, with the model's words as the reason
TRAIN_MODE_ONLY = "model.train()"

#: the p-tuning oracle solves the encoder's last layer; its output equals the P tokens' embeddings
#: within this relative residual (as :func:`oracle.load` checks)
SOLVE_RESIDUAL = 1e-5


def logits_check(pm: Any, method: str, x: Inputs) -> CheckResult:
    """``logits``: PEFT's forward vs one plain forward over the P real tokens + the input.

    For p-tuning the oracle's solved encoder reproduces the P tokens' embeddings only up to a float32
    rounding residual (~1e-7), which linear-attention models amplify to ~1e-5 in the logits: there
    the plain forward takes the encoder's output as the P embeddings, after checking that it equals
    the P tokens' embeddings within :data:`SOLVE_RESIDUAL` (relative)."""
    import torch

    base = pm.get_base_model()
    if method != "ptuning_mlp":
        return _compare("logits", _peft_logits(pm, x), _plain_logits(base, x),
                        "PEFT forward (real-token prompt) vs plain forward")
    name = pm.active_adapter
    with torch.no_grad():
        prompt = pm.prompt_encoder[name](pm.prompt_tokens[name].unsqueeze(0))[:, :P]
        tokens = base.get_input_embeddings()(x.prompt_ids).to(prompt.dtype)
    off = float((prompt - tokens).abs().max())
    if off > SOLVE_RESIDUAL * max(1.0, float(tokens.abs().max())):
        return CheckResult("logits", Status.FAIL, f"the prompt encoder's output is not the P tokens' embeddings "
                                                  f"(max abs diff {off:.3g})", off)
    return _compare("logits", _peft_logits(pm, x), _plain_logits_embeds(base, x, prompt),
                    "PEFT forward (real-token prompt) vs plain forward (the encoder's solved output as the "
                    "P tokens' embeddings)")


def _plain_generate(base: Any, x: Inputs, n: int) -> Greedy:
    """The plain model's own greedy ``generate`` over the P real tokens + the input, through its cache
    path: with the oracle loaded, what PEFT's ``generate`` must also give (see :func:`_same_greedy`)."""
    import torch

    batch = x.ids.shape[0]
    full = torch.cat([x.prompt_ids.expand(batch, -1), x.ids], 1)
    with torch.no_grad():
        out = base.generate(input_ids=full, **_mask(base, full), max_new_tokens=n, do_sample=False, num_beams=1,
                            pad_token_id=0, output_logits=True, return_dict_in_generate=True)
    return Greedy(out.sequences[:, -n:], torch.stack(out.logits, 1))


def _plain_greedy(base: Any, x: Inputs, n: int) -> Greedy:
    """Greedy decode recomputing the whole sequence at every step (no cache), after the P tokens."""
    import torch

    batch = x.ids.shape[0]
    src = torch.cat([x.prompt_ids.expand(batch, -1), x.ids], 1)
    seq = torch.full((batch, 1), _start_id(base)) if _enc_dec(base) else src
    start, steps = seq.shape[1], []
    with torch.no_grad():
        for _ in range(n):
            kw = {"input_ids": src, "decoder_input_ids": seq} if _enc_dec(base) else {"input_ids": seq}
            steps.append(base(**kw, use_cache=False).logits[:, -1])
            seq = torch.cat([seq, steps[-1].argmax(-1, keepdim=True)], 1)
    return Greedy(seq[:, start:], torch.stack(steps, 1))


# --------------------------------------------------------------------------- PEFT side


def _mask(model: Any, ids: Any) -> dict:
    """An all-ones attention mask for ``ids`` where the (base) model's forward names one (``{}`` for a
    model that takes none, e.g. xLSTM: ``generate`` refuses a keyword its forward does not name)."""
    import torch

    from compat import _transformers as features

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return {"attention_mask": torch.ones_like(ids)} if features.forward_takes(base, "attention_mask") else {}


def _peft_logits(pm: Any, x: Inputs, **kw: Any) -> Any:
    import torch

    args = {"input_ids": x.ids, **_mask(pm, x.ids), **kw}
    if x.dec is not None:
        args["decoder_input_ids"] = x.dec
    with torch.no_grad():
        logits = pm(**args).logits
    return logits[:, -(x.dec if x.dec is not None else x.ids).shape[1]:]


def _peft_greedy(pm: Any, x: Inputs, n: int) -> Greedy:
    """PEFT's greedy ``generate``: its tokens and the raw logits of each step (``output_logits``)."""
    import torch

    with torch.no_grad():
        out = pm.generate(input_ids=x.ids, **_mask(pm, x.ids), max_new_tokens=n, do_sample=False, num_beams=1,
                          pad_token_id=0, output_logits=True, return_dict_in_generate=True)
    return Greedy(out.sequences[:, -n:], torch.stack(out.logits, 1))


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


def _same_greedy(check: str, got: Greedy, expected: Greedy, what: str,
                 own: Callable[[], Greedy] | None = None) -> CheckResult:
    """The same tokens as ``expected``, and at every step logits within tolerance of ``expected``'s, or
    of ``own()``'s where given (the plain model's own ``generate``, through the same cache path; run
    only at the first step the cache-free logits do not match) while its tokens so far agree: tiny
    random models often pick the same (degenerate) tokens from wrong logits, so tokens alone pass by
    luck. ``own`` keeps a model whose cached decode differs numerically from its cache-free one (an
    SSM's recurrent step against its chunked scan) from failing PEFT for the model's own numbers."""
    from compat.tolerance import diff_stats

    tokens = _same_tokens(check, got.tokens, expected.tokens, what)
    if tokens.status is Status.FAIL:
        return tokens
    if tuple(got.logits.shape) != tuple(expected.logits.shape):
        return CheckResult(check, Status.FAIL, f"{what}: step logits of shape {tuple(got.logits.shape)} vs "
                                               f"{tuple(expected.logits.shape)}")
    diff = diff_stats(got.logits, expected.logits)["max_abs_diff"]
    plain: Greedy | None = None
    for step in range(expected.logits.shape[1]):
        for row in range(expected.logits.shape[0]):
            far = _not_close(got.logits[row, step], expected.logits[row, step])
            if not far:
                continue
            said = ""
            if own is not None:
                plain = own() if plain is None else plain
                if step >= _common_steps(got.tokens, plain.tokens):
                    said = "; the plain model's own generate picked other tokens before this step"
                else:
                    own_far = _not_close(got.logits[row, step], plain.logits[row, step])
                    if not own_far:
                        continue  # the plain model's own cached numbers, to the tolerance
                    said = f"; the plain model's own generate over the P tokens + input: {own_far}"
            return CheckResult(check, Status.FAIL, f"{what} differ: first difference at row {row}, step {step}: "
                                                   f"the same tokens, but the logits are {far}{said}", diff)
    return CheckResult(check, Status.PASS, "", diff)


def _not_close(got: Any, expected: Any) -> str:
    """'' when a decode step's logits ``got`` equal ``expected`` within the step tolerance of
    :mod:`compat.tolerance` (``STEP_TOLERANCES``), else the first line of why not."""
    from compat.tolerance import STEP_TOLERANCES, assert_close, policy_dtype

    try:
        assert_close(got, expected, what="logits", tolerance=STEP_TOLERANCES.get(policy_dtype(expected.dtype)))
    except AssertionError as exc:
        return str(exc).splitlines()[0].removeprefix("logits: ")
    return ""


def _common_steps(a: Any, b: Any) -> int:
    """How many steps' logits of two decodes are comparable: up to and including the first step whose
    token differs in some row (the logits of step s depend on the tokens before s only)."""
    same = (a == b).all(0).tolist()
    return len(same) if all(same) else same.index(False) + 1


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


def _labels(pm: Any, method: str, x: Inputs) -> tuple[Any, Any]:
    """Labels for PEFT's training forward and for the plain forward over the P tokens + input
    that must give the same loss: the P prompt positions are never labelled, and where the prompt
    sits in the cache (prefix methods) the first input token has no position to be predicted from."""
    import torch

    if x.dec is not None:
        return x.dec, x.dec
    labels = x.ids.clone()
    if method.startswith("prefix"):
        labels[:, 0] = -100
    return labels, torch.cat([torch.full((labels.shape[0], P), -100), labels], 1)


def _training_loss(pm: Any, x: Inputs, labels: Any) -> Any:
    import torch

    args = {"input_ids": x.ids, "attention_mask": torch.ones_like(x.ids), "labels": labels}
    if x.dec is not None:
        args["decoder_input_ids"] = x.dec
    loss = pm(**args).loss
    if loss is None:
        raise oracle.OracleError("PEFT's forward with labels returned no loss")
    return loss


def _plain_loss(base: Any, x: Inputs, labels: Any) -> Any:
    import torch

    batch = x.ids.shape[0]
    full = torch.cat([x.prompt_ids.expand(batch, -1), x.ids], 1)
    kw = {"decoder_input_ids": x.dec} if x.dec is not None else {}
    with torch.no_grad():
        return base(input_ids=full, labels=labels, use_cache=False, **kw).loss


def _encoder_gradient(pm: Any, x: Inputs, labels: Any) -> tuple[Any, Any, Any]:
    """PEFT's training loss, its prompt encoder's output and the gradient of the loss there."""
    enc = pm.prompt_encoder[pm.active_adapter]
    seen: list = []

    def keep(module: Any, args: Any, out: Any) -> None:
        if getattr(out, "requires_grad", False):
            out.retain_grad()
        seen.append(out)

    handle = enc.register_forward_hook(keep)
    try:
        loss = _training_loss(pm, x, labels)
        loss.backward()
    finally:
        handle.remove()
    if not seen:
        raise oracle.OracleError("PEFT's training forward did not call its prompt encoder")
    return loss, seen[-1].detach(), seen[-1].grad


def _prompt_reference_gradient(base: Any, x: Inputs, prompt: Any, labels: Any) -> Any:
    """d loss / d prompt embeddings of the plain model given ``inputs_embeds`` = prompt + input
    embeddings (the same labels), at ``prompt`` ``[B or 1, P (or 2P), D]``."""
    import torch

    batch = x.ids.shape[0]
    leaf = prompt[:, :P].expand(batch, -1, -1).clone().requires_grad_(True)
    with torch.no_grad():
        embeds = base.get_input_embeddings()(x.ids)
    kw = {"decoder_input_ids": x.dec} if x.dec is not None else {}
    full = torch.cat([leaf, embeds.to(leaf.dtype)], 1)
    mask = torch.ones(full.shape[:2], dtype=torch.long)
    base(inputs_embeds=full, attention_mask=mask, labels=labels, **kw).loss.backward()
    # an encoder-decoder's prompt has a second block of P tokens (PEFT's second transformer
    # submodule) that PEFT does not feed to the model: no gradient may reach it
    rest = prompt.shape[1] - P
    return torch.cat([leaf.grad, leaf.grad.new_zeros((batch, rest, leaf.shape[2]))], 1) if rest else leaf.grad


def _prefix_reference_gradient(base: Any, cfg: Any, x: Inputs, rows: Any, labels: Any) -> Any:
    """d loss / d prefix of the base model given PEFT's prefix ``rows`` ``[B, P, 2L*H*D]`` (slots
    2i, 2i+1 = layer i's keys, values) as per-layer KV leaves through ``compat.prefixed_call``."""
    import torch

    from compat import prefixed_call

    heads, dim, n = cfg.num_attention_heads, cfg.token_dim // cfg.num_attention_heads, cfg.num_layers
    b, p = rows.shape[:2]
    slots = rows.reshape(b, p, 2 * n, heads, dim).permute(2, 0, 3, 1, 4)  # [2L, B, H, P, D]
    leaves = [slots[i].clone().requires_grad_(True) for i in range(2 * n)]
    layers = tuple((leaves[2 * i], leaves[2 * i + 1]) for i in range(n))
    call = prefixed_call(base, layers, x.ids, attention_mask=torch.ones_like(x.ids))
    base(**call.kwargs, labels=labels).loss.backward()
    if all(t.grad is None for t in leaves):
        raise oracle.OracleError("no gradient reaches the prefix handed through compat.prefixed_call")
    # a layer the model runs without gradient (HRM's early recurrent cycles) has none: d loss / d it = 0
    grads = [torch.zeros_like(t) if t.grad is None else t.grad for t in leaves]
    return torch.stack(grads).permute(1, 3, 0, 2, 4).reshape(b, p, -1)


def _reference_gradient(pm: Any, method: str, x: Inputs, out: Any, labels: Any, plain_labels: Any
                        ) -> tuple[Any, str]:
    """The reference gradient at PEFT's prompt encoder output, or ``(None, why there is none)``."""
    base = pm.get_base_model()
    if not method.startswith("prefix"):
        labels_embeds = plain_labels if x.dec is None else x.dec
        return _prompt_reference_gradient(base, x, out, labels_embeds), ""
    if x.dec is not None:
        return None, "no independent gradient reference for an encoder-decoder prefix"
    refused = _refused(base, "grad")
    if refused is not None:
        return None, f"no gradient reference: {refused.message}"
    return _prefix_reference_gradient(base, pm.peft_config[pm.active_adapter], x, out, labels), ""


def _grad(pm: Any, method: str, x: Inputs, oracle_loaded: bool) -> CheckResult:
    """The training path, in eval mode (dropout off): where the oracle is loaded, PEFT's loss with
    labels == the plain forward's loss over the P tokens + input; the loss's gradient at PEFT's
    prompt encoder output == the plain model's gradient at the same prompt (handed in as
    ``inputs_embeds`` for prompt methods, as per-layer KV through ``compat.prefixed_call`` for
    prefix methods); and a finite non-zero gradient reaches every prompt parameter."""
    import torch

    name = pm.active_adapter
    params = [(n, p) for n, p in pm.prompt_encoder[name].named_parameters() if p.requires_grad]
    if not params:
        return CheckResult("grad", Status.FAIL, "the prompt encoder has no trainable parameter")
    labels, plain_labels = _labels(pm, method, x)
    pm.zero_grad(set_to_none=True)
    try:
        loss, out, out_grad = _encoder_gradient(pm, x, labels)
        dead = [n for n, p in params if p.grad is None or not bool(torch.isfinite(p.grad).all())
                or float(p.grad.abs().sum()) == 0.0]
    except Exception as exc:
        if TRAIN_MODE_ONLY not in str(exc):
            raise
        return CheckResult("grad", Status.NOT_APPLICABLE, f"the model refuses backward outside train mode "
                                                          f"({type(exc).__name__}: {str(exc).strip()[:200]}); the "
                                                          f"check runs in eval mode (dropout off) so that PEFT's "
                                                          f"loss can equal the plain model's")
    finally:
        pm.zero_grad(set_to_none=True)
    if oracle_loaded and not (x.dec is not None and method.startswith("prefix")):
        same = _compare("grad", loss.detach().reshape(1), _plain_loss(pm.get_base_model(), x, plain_labels).reshape(1),
                        "PEFT training loss (labels) vs plain forward loss over the P tokens + input")
        if same.status is Status.FAIL:
            return same
    if out_grad is None:
        return CheckResult("grad", Status.FAIL, "no gradient of the training loss reaches the prompt encoder's output")
    ref, why = _reference_gradient(pm, method, x, out, labels, plain_labels)
    pm.get_base_model().zero_grad(set_to_none=True)
    result = CheckResult("grad", Status.PASS, why)
    if ref is not None:
        if out_grad.shape[0] == 1 and ref.shape[0] != 1:
            ref = ref.sum(0, keepdim=True)
        result = _compare("grad", out_grad, ref, "gradient at PEFT's prompt encoder output vs the plain model's "
                                                 "gradient at the same prompt")
    if result.status is Status.PASS and dead:
        return CheckResult("grad", Status.FAIL, f"no finite non-zero gradient of the training loss reaches "
                                                f"{', '.join(dead)}")
    return result


def _own_layers(base: Any, x: Inputs) -> tuple:
    """The model's own KV of the P tokens, every layer of it (else :class:`oracle.OracleError`)."""
    layers = oracle.own_kv(base, x.prompt_ids)
    missing = [i for i, kv in enumerate(layers) if kv is None]
    if missing:
        raise oracle.OracleError(f"layers {missing} keep no KV: the shim gets no standard per-layer prefix")
    return tuple(layers)


def _refused(base: Any, check: str) -> CheckResult | None:
    """``not-applicable`` where the shim refuses the model clearly (compat.UnsupportedModelError)."""
    from compat import _transformers as transformers_features

    refusal = transformers_features.prefix_refusal(base)
    if refusal is None:
        return None
    return CheckResult(check, Status.NOT_APPLICABLE, f"the shim refuses this model: {refusal}")


def _shim(base: Any, x: Inputs) -> CheckResult:
    import torch

    from compat import prefixed_call

    refused = _refused(base, "shim")
    if refused is not None:
        return refused
    call = prefixed_call(base, _own_layers(base, x), x.ids, attention_mask=torch.ones_like(x.ids))
    with torch.no_grad():
        got = base(**call.kwargs).logits
    return _compare("shim", got, _plain_logits(base, x), "base + compat.prefixed_call(own KV) vs plain forward")


def _tuple(base: Any, x: Inputs) -> CheckResult:
    """Where the installed transformers still takes legacy tuples: the same real-token KV handed
    to the base model as a tuple (its native layout) instead of a Cache == the plain forward."""
    import torch

    from compat import cache_argument, prefixed_call
    from compat.testing import paths

    refused = _refused(base, "tuple")
    if refused is not None:
        return refused
    ok, why = paths.accepts_tuple(base)
    if not ok:
        return CheckResult("tuple", Status.NOT_APPLICABLE, why.removeprefix("not-applicable: "))
    layers = _own_layers(base, x)
    batch = x.ids.shape[0]
    legacy = tuple((k.expand(batch, -1, -1, -1).contiguous(), v.expand(batch, -1, -1, -1).contiguous())
                   for k, v in layers)
    kwargs = dict(prefixed_call(base, layers, x.ids, attention_mask=torch.ones_like(x.ids)).kwargs)
    kwargs[cache_argument(base)] = paths.tuple_for(base, legacy)
    with torch.no_grad():
        got = base(**kwargs).logits
    return _compare("tuple", got, _plain_logits(base, x), "base + legacy tuple (own KV) vs plain forward")


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
        return _same_greedy("greedy", _peft_greedy(pm, x, GEN_TOKENS),
                            Greedy(ref.sequences, torch.stack(ref.scores, 1)),
                            "PEFT greedy generate vs cache-free reference")

    return [_guard("logits", logits), _guard("greedy", greedy)]


def _core(pm: Any, method: str, x: Inputs) -> list[CheckResult]:
    """``logits`` and ``greedy`` against the reference (the oracle loaded first)."""
    base = pm.get_base_model()
    if _enc_dec(base) and method.startswith("prefix"):
        return _seq2seq_prefix(pm, x)

    def load_oracle() -> CheckResult:
        oracle.load(pm, method, x.prompt_ids)
        return CheckResult("logits", Status.PASS)

    loaded = _guard("logits", load_oracle)
    if loaded.status is Status.FAIL:
        return [dataclasses.replace(loaded, message=f"real-token oracle: {loaded.message}{_peft_runs(pm, x)}")]
    return [
        _guard("logits", lambda: logits_check(pm, method, x)),
        _guard("greedy", lambda: _same_greedy("greedy", _peft_greedy(pm, x, GEN_TOKENS),
                                              _plain_greedy(base, x, GEN_TOKENS),
                                              "PEFT greedy generate vs cache-free greedy decode",
                                              own=lambda: _plain_generate(base, x, GEN_TOKENS))),
    ]


@dataclasses.dataclass(frozen=True)
class Sdpa:
    """The same method on the model's sdpa twin (same weights), or why there is none."""

    pm: Any = None  # a PEFT model over the sdpa twin
    reason: str = ""  # not-applicable reason (the model offers only eager attention)
    error: str = ""  # building the twin failed although the model class claims sdpa support


def _sdpa(method: str, x: Inputs, twin: Sdpa) -> CheckResult:
    """``logits`` and ``greedy`` again with sdpa attention (the other checks run eager)."""
    if twin.error:
        return CheckResult("sdpa", Status.FAIL, twin.error)
    if twin.pm is None:
        return CheckResult("sdpa", Status.NOT_APPLICABLE, twin.reason)
    found = _core(twin.pm, method, x)
    bad = [c for c in found if c.status is Status.FAIL]
    diffs = [c.max_abs_diff for c in found if c.max_abs_diff is not None]
    if bad:
        return CheckResult("sdpa", Status.FAIL, " | ".join(f"{c.check}: {c.message}" for c in bad),
                           max(diffs) if diffs else None)
    return CheckResult("sdpa", Status.PASS, "", max(diffs) if diffs else None)


def run_checks(pm: Any, method: str, x: Inputs, sdpa: Sdpa | None = None) -> list[CheckResult]:
    """Every check of ``method`` on a PEFT model whose adapter is not yet loaded (``sdpa``: the
    same method on the model's sdpa twin)."""
    base = pm.get_base_model()
    prefix = method.startswith("prefix")
    found = _core(pm, method, x)
    loaded = not any("real-token oracle:" in c.message for c in found)
    found.append(_guard("use_cache", lambda: _compare("use_cache", _peft_logits(pm, x, use_cache=False),
                                                      _peft_logits(pm, x, use_cache=True),
                                                      "PEFT forward use_cache=False vs True")))
    found.append(_guard("grad", lambda: _grad(pm, method, x, loaded)))
    if prefix and not _enc_dec(base):
        found.append(_guard("shim", lambda: _shim(base, x)))
        found.append(_guard("tuple", lambda: _tuple(base, x)))
    if sdpa is not None:
        found.append(_guard("sdpa", lambda: _sdpa(method, x, sdpa)))
    return found


def _peft_runs(pm: Any, x: Inputs) -> str:
    """What PEFT's forward does with its own (random) prompt when the oracle cannot be loaded."""
    try:
        _peft_logits(pm, x)
    except Exception as exc:
        return f"; PEFT's forward raises {type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:300]}"
    return "; PEFT's forward runs (its prompt cannot be checked against real tokens)"
