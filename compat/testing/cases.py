"""(family, method) cases shared by the equivalence suites: built once per
process, with inputs and the PEFT/reference calls every check needs.

>>> c = get("llama", "prefix")
>>> c.enc_dec, c.nvt
(False, 4)
>>> ids, mask = c.inputs(batch=2, length=3)
>>> tuple(ids.shape)
(2, 3)
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from compat.testing import methods, trace, zoo

__all__ = ["GEN_TOKENS", "Case", "applicable", "get", "ids_for", "params"]

GEN_TOKENS = 5


def applicable(family: str, method: str) -> str | None:
    """``None`` if the case can run here, else a "not-applicable: ..." reason."""
    ok, why = zoo.family_available(family)
    if not ok:
        return f"not-applicable: {why}"
    ok, why = methods.method_available(method)
    if not ok:
        return f"not-applicable: {why}"
    if method == "mpt" and zoo.is_encoder_decoder(family):
        return ("not-applicable: peft's seq2seq multitask prompt tuning has no single semantics to check: forward "
                "prepends the second half of the prompt to the decoder (and raises TypeError when given "
                "decoder_input_ids), generate drops that half")
    return None


def ids_for(family: str, method: str, check: str) -> str:
    """The stable test id ``family-method-check``."""
    return f"{family}-{method}-{check}"


@dataclasses.dataclass
class Case:
    family: str
    method: str
    base: Any
    peft: Any
    enc_dec: bool
    nvt: int
    is_prefix: bool
    task: int = 1
    last_forwards: tuple = ()  # what the last peft_generate handed the base model (compat.testing.trace)

    @property
    def device(self):
        """Where the models live (the active axes' device); inputs are made there."""
        return self.base.device

    def inputs(self, *, batch: int = 2, length: int = 5, seed: int = 0):
        """Token ids (never pad/bos/eos) and an all-ones mask, on the models' device
        (drawn on the CPU, so every device sees the same ids)."""
        import torch

        gen = torch.Generator().manual_seed(1000 + seed)
        ids = torch.randint(3, zoo.VOCAB, (batch, length), generator=gen).to(self.device)
        return ids, torch.ones_like(ids)

    def task_ids(self, batch: int):
        import torch

        if not methods.needs_task_ids(self.method):
            return None
        return torch.full((batch,), self.task, dtype=torch.long, device=self.device)

    def extra(self, batch: int) -> dict:
        t = self.task_ids(batch)
        return {} if t is None else {"task_ids": t}

    def decoder_ids(self, batch: int, length: int = 3, seed: int = 0):
        import torch

        gen = torch.Generator().manual_seed(2000 + seed)
        start = torch.full((batch, 1), self.base.config.decoder_start_token_id, dtype=torch.long)
        rest = torch.randint(3, zoo.VOCAB, (batch, length - 1), generator=gen)
        return torch.cat([start, rest], dim=1).to(self.device)

    # ---- PEFT side
    def peft_logits(self, ids, mask, *, decoder_ids=None, use_cache=None):
        """PEFT forward logits at the real (non-virtual) positions."""
        import torch

        kw = dict(input_ids=ids, attention_mask=mask, **self.extra(ids.shape[0]))
        if use_cache is not None:
            kw["use_cache"] = use_cache
        if self.enc_dec:
            kw["decoder_input_ids"] = decoder_ids
        with torch.no_grad():
            logits = self.peft(**kw).logits
        n = decoder_ids.shape[1] if self.enc_dec else ids.shape[1]
        return logits[:, -n:]

    def peft_generate(self, ids, mask, **gen_kwargs):
        """New tokens from PEFT's generate (decoder-only: without the prompt;
        encoder-decoder: without the decoder start token)."""
        import torch

        gen_kwargs.setdefault("max_new_tokens", GEN_TOKENS)
        with torch.no_grad(), trace.record_forwards(self.base) as calls:
            try:
                out = self.peft.generate(input_ids=ids, attention_mask=mask, pad_token_id=zoo.PAD_ID,
                                         **self.extra(ids.shape[0]), **gen_kwargs)
            except Exception as exc:  # the trace up to the failure is the mechanism's signature
                self.last_forwards = tuple(calls)
                trace.add_note(exc, self.generate_diagnosis())
                raise
        self.last_forwards = tuple(calls)
        seqs = out.sequences if hasattr(out, "sequences") else out
        return seqs[:, -gen_kwargs["max_new_tokens"]:], out

    def generate_diagnosis(self) -> str:
        """What the last :meth:`peft_generate` handed the model, and the mechanism when that is
        not a correct prompt-learning generate (appended to a generation check's failure message)."""
        said = trace.diagnose(self.last_forwards, virtual_tokens=self.nvt, prefix=self.is_prefix,
                              encoder_decoder=self.enc_dec)
        return f"PEFT generate: {said + '; ' if said else ''}{trace.format_calls(self.last_forwards)}"

    @functools.cached_property
    def honours_position_ids(self) -> bool:
        """Whether PEFT forwards the caller's position ids (see :mod:`compat.testing.reference`)."""
        from compat.testing import reference

        return reference.honours_position_ids(self.peft)

    # ---- reference side
    def reference_decode(self, ids, mask, *, with_prompt: bool = True, mode: str = "greedy",
                         num_beams: int = 1, num_return_sequences: int = 1, **kw):
        """:func:`compat.testing.reference.decode` of ``GEN_TOKENS`` new tokens with this case's
        prompt (``with_prompt=False``: the base model alone), computed once per process for the
        same content: the memo key is a digest of the base model's weights, the prompt, the ids,
        the mask and every option (:mod:`compat.testing.memo`), and each caller gets a copy.

        Beam search is decoded once for all ``num_return_sequences``: the decoder ranks every
        beam with the same ``argsort`` whatever the count, so the best ``k`` are its first ``k``
        (:func:`compat.testing.reference.best_beams`)."""
        from compat.testing import memo, reference

        prompt = self.prompt(ids.shape[0]) if with_prompt else {}
        returned = num_beams if mode == "beam" else num_return_sequences
        options = dict(kw, mode=mode, num_beams=num_beams, num_return_sequences=returned,
                       max_new_tokens=GEN_TOKENS)
        key = ("decode", memo.model_digest(self.base), memo.digest(prompt, ids, mask, options))
        out = memo.REFERENCES.get(key, lambda: reference.decode(self.base, ids, mask, **prompt, **options))
        if mode == "beam":
            return reference.best_beams(out, ids.shape[0], num_return_sequences)
        return out

    def prompt(self, batch: int) -> dict:
        """The explicit prefix/prompt for :mod:`compat.testing.reference`."""
        from compat.testing import reference

        if self.is_prefix:
            return {"prefix": reference.peft_prefix(self.peft, batch)}
        return {"virtual": reference.peft_virtual(self.peft, batch, self.task_ids(batch))}


@functools.cache
def get(family: str, method: str, seed: int = 0) -> Case:
    """Build (once per process) the base model and its PEFT wrapper."""
    base = zoo.build(family, seed=seed)
    pm = methods.wrap(base, method, seed=seed)
    return Case(family, method, base, pm, zoo.is_encoder_decoder(family), methods.NUM_VIRTUAL_TOKENS,
                methods.is_prefix(method))


def params(check: str, *, methods_: tuple = methods.METHODS, enc_dec: bool | None = None) -> list:
    """``pytest.param(family, method, id="family-method-check")`` for every zoo
    family of the active axes (:func:`compat.testing.zoo.suite_families`; only
    encoder-decoders / only decoder-only with ``enc_dec``) and every method in ``methods_``."""
    import pytest

    out = []
    for family in zoo.suite_families():
        if enc_dec is not None and zoo.is_encoder_decoder(family) != enc_dec:
            continue
        for method in methods_:
            out.append(pytest.param(family, method, id=ids_for(family, method, check)))
    return out
