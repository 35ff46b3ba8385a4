"""Independent references: the prefix/prompt a PEFT model should inject, and a
decoder that recomputes everything from scratch at each step.

Nothing here calls ``generate`` or carries a cache from one step to the next:
at every step the model runs one forward over the whole sequence so far, with
the virtual prompt given explicitly (``inputs_embeds = cat(virtual, embeds)``)
or the prefix given explicitly as a fresh prefix-only cache built by
:func:`compat.to_cache`. Sampling draws with ``torch.multinomial`` from the
global generator, exactly as transformers' sampling does, so a fixed seed gives
the same draws. Beam search follows transformers' rules (log-softmax, running
sums, top beams over ``beams x vocab``; no EOS, so no early finishing).

The real-token oracle (:func:`model_kv`, :func:`load_prefix`) needs no cache
semantics at all: a prefix made of the model's own KV for P real tokens must
give the same logits as one forward over those P tokens followed by the input.

>>> import torch
>>> from compat.testing import zoo
>>> m = zoo.build("llama")
>>> ids = torch.tensor([[5, 6, 7]])
>>> out = decode(m, ids, max_new_tokens=3)
>>> tuple(out.sequences.shape)
(1, 3)
>>> torch.equal(out.sequences, m.generate(ids, max_new_tokens=3, do_sample=False)[:, 3:])
True
"""

from __future__ import annotations

import dataclasses
from typing import Any

from compat import _transformers as features

__all__ = [
    "Decoded",
    "PrefixLayoutError",
    "ReferenceNotApplicable",
    "best_beams",
    "cross_kv",
    "decode",
    "honours_position_ids",
    "load_prefix",
    "model_kv",
    "next_logits",
    "peft_prefix",
    "peft_virtual",
    "position_ids_from_mask",
    "prompt_kv",
]


class PrefixLayoutError(AssertionError):
    """The PEFT prefix cannot have the shape the model's attention needs."""


@dataclasses.dataclass
class Decoded:
    """Result of :func:`decode`: new tokens only, per-step logits (as fed to
    the choice), and for beam search the parent beam chosen at each step and
    each step's decision margin per batch row (the smallest gap between
    consecutive candidates among the best ``num_beams + 1`` running scores:
    below the numerical noise, a rounding difference can reorder the beams)."""

    sequences: Any
    scores: list
    beam_parents: list = dataclasses.field(default_factory=list)
    beam_gaps: list = dataclasses.field(default_factory=list)

    def reordered(self) -> bool:
        """Whether beam search ever continued a beam other than its own slot."""
        import torch

        return any(not torch.equal(p, torch.arange(p.shape[-1], device=p.device).expand_as(p))
                   for p in self.beam_parents)


# --------------------------------------------------------------------------- what PEFT should inject


def _enc_dec(model) -> bool:
    return bool(getattr(model.config, "is_encoder_decoder", False))


def peft_prefix(peft_model, batch_size: int = 1) -> tuple:
    """The per-layer ``(k, v)`` ``[B, H_kv, P, D]`` prefix of a prefix-tuning
    PEFT model, split from its prompt encoder's output independently of
    ``get_prompt`` (the documented layout: ``view(B, P, 2L, H, D)``, layer i =
    slots (2i, 2i+1); seq2seq repeats the slots, so layer i = (4i, 4i+1) mod 2L).
    Decoder self-attention only."""
    import torch

    from compat.testing.zoo import dims

    name = peft_model.active_adapter
    cfg = peft_model.peft_config[name]
    enc = peft_model.prompt_encoder[name]
    nvt = cfg.num_virtual_tokens
    tokens = peft_model.prompt_tokens[name][:nvt].unsqueeze(0)
    base = peft_model.get_base_model()
    d = dims(base)
    with torch.no_grad():
        raw = enc(tokens.to(base.device))  # [1, P, L*2*H*D]
    n_layers, h_p = cfg.num_layers, cfg.num_attention_heads
    d_p = cfg.token_dim // h_p
    if raw.shape[-1] != n_layers * 2 * h_p * d_p:
        raise PrefixLayoutError(f"prompt encoder output {raw.shape[-1]} != L*2*H*D = {n_layers}*2*{h_p}*{d_p}")
    slots = raw.view(1, nvt, 2 * n_layers, h_p, d_p).permute(2, 0, 3, 1, 4)  # [2L, 1, H, P, D]
    keep_head0 = base.config.model_type == "gpt_bigcode" and d.kv_heads == 1 and h_p != 1
    if (h_p, d_p) != (d.kv_heads, d.head_dim) and not (keep_head0 and d_p == d.head_dim):
        raise PrefixLayoutError(
            f"peft sized the prefix as {h_p} heads x {d_p} dims per layer, but {base.config.model_type} "
            f"attention needs {d.kv_heads} KV heads x {d.head_dim} dims"
        )
    layers = []
    for i in range(d.layers):
        ks, vs = (4 * i % (2 * n_layers), (4 * i + 1) % (2 * n_layers)) if _enc_dec(base) else (2 * i, 2 * i + 1)
        k, v = slots[ks], slots[vs]
        if keep_head0:  # peft's documented GPTBigCode rule: multi-query keeps head 0
            k, v = k[:, :1], v[:, :1]
        layers.append((k.expand(batch_size, -1, -1, -1).to(base.dtype),
                       v.expand(batch_size, -1, -1, -1).to(base.dtype)))
    return tuple(layers)


def load_prefix(peft_model, layers) -> None:
    """Write standard per-layer ``(k, v)`` ``[1, H_kv, P, D]`` into a
    prefix-tuning (no projection, decoder-only) PEFT model: the inverse of
    :func:`peft_prefix`."""
    import torch

    name = peft_model.active_adapter
    cfg = peft_model.peft_config[name]
    if getattr(cfg, "prefix_projection", False):
        raise ValueError("load_prefix: prefix_projection=True prefixes come out of an MLP and cannot be set")
    if _enc_dec(peft_model.get_base_model()):
        raise ValueError("load_prefix: seq2seq prefixes tie decoder layers i and i+L/2 and cannot hold real KV")
    nvt, n_layers, h_p = cfg.num_virtual_tokens, cfg.num_layers, cfg.num_attention_heads
    d_p = cfg.token_dim // h_p
    weight = peft_model.prompt_encoder[name].embedding.weight
    x = torch.zeros(nvt, 2 * n_layers, h_p, d_p, device=weight.device)
    for i, (k, v) in enumerate(layers):
        h = k.shape[1]
        x[:, 2 * i, :h] = k[0].permute(1, 0, 2)
        x[:, 2 * i + 1, :h] = v[0].permute(1, 0, 2)
    with torch.no_grad():
        weight[:nvt] = x.reshape(nvt, -1).to(weight.dtype)


def model_kv(base, token_ids) -> tuple:
    """The model's own per-layer ``(k, v)`` for ``token_ids`` ``[1, P]``
    (decoder-only), in the standard layout (read through :func:`compat.to_legacy`)."""
    return _own_kv(base, input_ids=token_ids)


def prompt_kv(base, virtual) -> tuple:
    """The model's own per-layer ``(k, v)`` of virtual token embeddings ``[B, P, hidden]``
    (decoder-only): a prompt-tuning prompt turned into the equivalent prefix."""
    # PEFT casts its prompt to the embeddings' dtype before the model sees it (fp32 prompt
    # encoder, bf16/fp16 model): so does the reference.
    return _own_kv(base, inputs_embeds=virtual.to(base.dtype))


def _own_kv(base, **inputs) -> tuple:
    import torch

    from compat import cache_argument, output_cache, to_legacy
    from compat.testing import paths

    kw = {}
    if paths.takes_cache(base)[0]:
        # a growable cache: some families otherwise return a static-shaped cache
        # sized exactly to the input (Gemma2's HybridCache before 4.56)
        kw[cache_argument(base)] = paths.empty_cache()
    with torch.no_grad():
        out = base(use_cache=True, **inputs, **kw)
    own = output_cache(out)
    if own is None:  # Gemma-2 on 4.42-4.44: only generate builds its HybridCache
        raise ReferenceNotApplicable(
            f"{type(base).__name__}'s forward returns no cache on this transformers "
            "(only generate creates its cache)"
        )
    return tuple((k.clone(), v.clone()) for k, v in to_legacy(own, model=base))


class ReferenceNotApplicable(RuntimeError):
    """The reference cannot be built on this install (the message says why): the check comparing
    against it is not applicable there. The suites' conftest reports it as a ``not-applicable:`` skip."""


def cross_kv(base, input_ids, attention_mask=None) -> tuple:
    """Per-layer cross-attention ``(k, v)`` of an encoder-decoder for a source."""
    import torch

    from compat import output_cache, to_legacy

    start = torch.full((input_ids.shape[0], 1), base.config.decoder_start_token_id, dtype=torch.long,
                       device=input_ids.device)
    with torch.no_grad():
        out = base(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=start, use_cache=True)
    return tuple((layer[2], layer[3]) for layer in to_legacy(output_cache(out), model=base))


def peft_virtual(peft_model, batch_size: int, task_ids=None):
    """The virtual-token embeddings ``[B, P, hidden]`` of a prompt/p-tuning/MPT model
    (for encoder-decoders: the part prepended to the encoder input)."""
    import torch

    with torch.no_grad():
        if task_ids is not None:
            out = peft_model.get_prompt(batch_size=batch_size, task_ids=task_ids)
        else:
            out = peft_model.get_prompt(batch_size=batch_size)
    # seq2seq: the prompt encoder has 2*P rows; the encoder gets the first P
    return out[:, : peft_model.peft_config[peft_model.active_adapter].num_virtual_tokens]


# --------------------------------------------------------------------------- one step


def position_ids_from_mask(mask):
    """transformers' generate convention: ``cumsum(mask) - 1``, 1 where masked."""
    pos = mask.long().cumsum(-1) - 1
    return pos.masked_fill(mask == 0, 1)


def _explicit_prefix(base, layers):
    """A fresh prefix-only cache for ``base``, or :class:`ReferenceNotApplicable` where the
    family takes only its own fixed-size cache (no explicit prefix can be expressed)."""
    from compat import to_cache
    from compat.errors import UnsupportedModelError

    try:
        return to_cache(layers, model=base)
    except UnsupportedModelError as exc:
        raise ReferenceNotApplicable(
            f"the reference cannot hand an explicit prefix to {type(base).__name__}: {exc}"
        ) from exc


def next_logits(base, seq, mask, *, prefix=None, virtual=None, source=None, source_mask=None,
                position_ids: bool = True, cross=None):
    """Logits ``[B, T, V]`` of one forward over ``seq`` (decoder ids) with the
    prefix/prompt given explicitly; for encoder-decoders ``source`` is the
    encoder input (with its mask) and ``seq`` the decoder ids.

    ``position_ids``: pass generate's mask-derived positions (padding-aware);
    False lets the model number positions itself (what it does when a PEFT
    release drops the caller's position ids). ``cross``: precomputed
    :func:`cross_kv` of ``source`` (encoder-decoders with a prefix)."""
    import torch

    from compat import cache_argument
    from compat.testing import paths

    batch = seq.shape[0]
    kwargs: dict = {}
    if _enc_dec(base):
        if virtual is not None:
            emb = base.get_input_embeddings()(source)
            kwargs["inputs_embeds"] = torch.cat([virtual.to(emb.dtype), emb], dim=1)
            kwargs["attention_mask"] = torch.cat([source_mask.new_ones((batch, virtual.shape[1])), source_mask], 1)
        else:
            kwargs["input_ids"], kwargs["attention_mask"] = source, source_mask
        kwargs["decoder_input_ids"] = seq
        if prefix is not None:
            if cross is None:
                cross = cross_kv(base, source, source_mask)
            layers = tuple((k, v, ck, cv) for (k, v), (ck, cv) in zip(prefix, cross))
            kwargs[cache_argument(base)] = _explicit_prefix(base, layers)
            kwargs["use_cache"] = True
        with torch.no_grad():
            return base(**kwargs).logits
    full = mask
    if prefix is not None:
        plen = prefix[0][0].shape[-2]
        full = torch.cat([mask.new_ones((batch, plen)), mask], dim=1)
        kwargs["input_ids"] = seq
        kwargs[cache_argument(base)] = _explicit_prefix(base, prefix)
        kwargs["use_cache"] = True
        pos = position_ids_from_mask(full)[:, plen:]
        kwargs.update(paths.after_prefix(base, plen, seq.shape[1]))
    elif virtual is not None:
        emb = base.get_input_embeddings()(seq)
        kwargs["inputs_embeds"] = torch.cat([virtual.to(emb.dtype), emb], dim=1)
        full = torch.cat([mask.new_ones((batch, virtual.shape[1])), mask], dim=1)
        pos = position_ids_from_mask(full)
    else:
        kwargs["input_ids"] = seq
        pos = position_ids_from_mask(full)
    kwargs["attention_mask"] = full
    if position_ids and features.forward_takes(base, "position_ids") and base.config.model_type not in ("opt",):
        kwargs["position_ids"] = pos
    with torch.no_grad():
        logits = base(**kwargs).logits
    return logits[:, -seq.shape[1]:]


def honours_position_ids(peft_model) -> bool:
    """Feature probe: does this PEFT model pass the caller's ``position_ids``
    on to the base model? (peft drops them for prompt methods in every release
    and for prefix tuning up to 0.18.1.) True also where the family takes no
    position ids (its positions come from the attention mask)."""
    import torch

    base = peft_model.get_base_model()
    if _enc_dec(base) or not features.forward_takes(base, "position_ids") or base.config.model_type == "opt":
        return True
    ids = torch.arange(3, 8, device=base.device).unsqueeze(0)
    mask = torch.ones_like(ids)
    extra = {}
    cfg = peft_model.peft_config[peft_model.active_adapter]
    if getattr(cfg, "num_tasks", None):
        extra["task_ids"] = torch.zeros(1, dtype=torch.long, device=base.device)
    with torch.no_grad():
        plain = peft_model(input_ids=ids, attention_mask=mask, **extra).logits
        positions = torch.arange(5, device=base.device).unsqueeze(0) + 7
        shifted = peft_model(input_ids=ids, attention_mask=mask, position_ids=positions,
                             **extra).logits
    return not torch.equal(plain, shifted)


# --------------------------------------------------------------------------- decoding


def best_beams(decoded: Decoded, batch: int, k: int) -> Decoded:
    """The best ``k`` beams per row of a beam search :func:`decode`-d with
    ``num_return_sequences = num_beams``: exactly what decoding with ``num_return_sequences=k``
    returns, since the decoder orders the final beams with one ``argsort`` of all of them and keeps
    the first ``k`` (the steps do not depend on ``k``)."""
    seqs = decoded.sequences
    beams = seqs.shape[0] // batch
    if not 1 <= k <= beams or beams * batch != seqs.shape[0]:
        raise ValueError(f"best_beams: cannot take {k} of {beams} beams for a batch of {batch} "
                         f"({seqs.shape[0]} sequences)")
    return dataclasses.replace(decoded, sequences=seqs.reshape(batch, beams, -1)[:, :k].reshape(batch * k, -1))


def _expand(x, n):
    return None if x is None else x.repeat_interleave(n, dim=0)


def _expand_prefix(prefix, n):
    return None if prefix is None else tuple(tuple(t.repeat_interleave(n, dim=0) for t in layer) for layer in prefix)


def decode(base, input_ids, attention_mask=None, *, max_new_tokens: int, prefix=None, virtual=None,
           mode: str = "greedy", num_beams: int = 1, num_return_sequences: int = 1, seed: int | None = None,
           position_ids: bool = True):
    """Hand-written decoder (no ``generate``, no carried cache).

    ``prefix``: per-layer ``(k, v)`` with the input's batch; ``virtual``:
    ``[B, P, hidden]``. For decoder-only models ``input_ids`` is the prompt and
    the result holds only new tokens; for encoder-decoders ``input_ids`` is the
    source and the result is the decoder sequence after its start token.
    ``mode``: ``"greedy"``, ``"sample"`` (``torch.manual_seed(seed)`` first, then
    one ``torch.multinomial`` per step) or ``"beam"``. ``position_ids``: see
    :func:`next_logits`.
    """
    import torch

    if mode not in ("greedy", "sample", "beam"):
        raise ValueError(f"mode must be greedy, sample or beam, got {mode!r}")
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    enc_dec = _enc_dec(base)
    expand = num_beams if mode == "beam" else num_return_sequences
    src, src_mask = _expand(input_ids, expand), _expand(attention_mask, expand)
    prefix, virtual = _expand_prefix(prefix, expand), _expand(virtual, expand)
    if enc_dec:
        seq = torch.full((src.shape[0], 1), base.config.decoder_start_token_id, dtype=torch.long, device=src.device)
        mask = torch.ones_like(seq)
    else:
        seq, mask = src, src_mask
    start = seq.shape[1]

    cross = cross_kv(base, src, src_mask) if enc_dec and prefix is not None else None

    def step_logits(seq, mask):
        if enc_dec:
            return next_logits(base, seq, mask, prefix=prefix, virtual=virtual, source=src,
                               source_mask=src_mask, cross=cross)[:, -1].float()
        return next_logits(base, seq, mask, prefix=prefix, virtual=virtual, position_ids=position_ids)[:, -1].float()

    if seed is not None:
        torch.manual_seed(seed)
    scores, parents, gaps = [], [], []
    if mode == "beam":
        batch = input_ids.shape[0]
        beam_scores = torch.zeros(batch, num_beams, device=src.device)
        beam_scores[:, 1:] = -1e9
        for _ in range(max_new_tokens):
            logits = step_logits(seq, mask)
            scores.append(logits)
            logp = torch.log_softmax(logits, dim=-1)
            vocab = logp.shape[-1]
            cand = (logp + beam_scores.reshape(-1, 1)).reshape(batch, num_beams * vocab)
            top_scores, top_idx = torch.topk(cand, num_beams, dim=1, largest=True, sorted=True)
            runners_up = torch.topk(cand, min(num_beams + 1, cand.shape[1]), dim=1).values
            gaps.append((runners_up[:, :-1] - runners_up[:, 1:]).min(dim=1).values)
            parent, token = top_idx // vocab, top_idx % vocab
            rows = (parent + torch.arange(batch, device=src.device).unsqueeze(1) * num_beams).reshape(-1)
            seq = torch.cat([seq[rows], token.reshape(-1, 1)], dim=1)
            mask = torch.cat([mask[rows], mask.new_ones((mask.shape[0], 1))], dim=1)
            beam_scores = top_scores
            parents.append(parent)
        order = torch.argsort(beam_scores, dim=1, descending=True)[:, :num_return_sequences]
        rows = (order + torch.arange(batch, device=src.device).unsqueeze(1) * num_beams).reshape(-1)
        return Decoded(seq[rows, start:], scores, parents, gaps)
    for _ in range(max_new_tokens):
        logits = step_logits(seq, mask)
        scores.append(logits)
        if mode == "greedy":
            nxt = logits.argmax(dim=-1)
        else:
            nxt = torch.multinomial(torch.softmax(logits, dim=-1), num_samples=1).squeeze(1)
        seq = torch.cat([seq, nxt.unsqueeze(1)], dim=1)
        mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=1)
    return Decoded(seq[:, start:], scores)
