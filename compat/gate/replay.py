"""Load a saved base model + prompt-learning adapter and compute its outputs (in-env, torch).

One *case* is a base-model directory (``save_pretrained``), an adapter
directory (PEFT ``save_pretrained``) and fixed input token ids. :func:`run_case`
loads both with strict key checks, runs them in the case's dtype on the case's
device (default float32 on the CPU; ``--device cuda --dtype bfloat16`` for a
GPU gate: goldens are replayed on the kind of device they were recorded on) with
one thread and eager attention, and returns named tensors (on the CPU): the logits for the
inputs (with the adapter, and of the base model alone) and the generations (greedy with its
scores, beam search, seeded sampling with its scores; in half precision also the reference
decoder's beam-search margins, the evidence for the near-tie rule). The same
function runs on the baseline (twice, to prove the golden reproducible) and on
the candidate, so both sides go through the same load path.

Inputs are token ids stored in the golden, never re-tokenised text, so both
sides see identical inputs whatever their tokenizers do.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = [
    "PROMPT_LEARNING_TYPES",
    "Case",
    "LoadMismatchError",
    "beam_margins",
    "error_text",
    "load_case",
    "replay_case",
    "run_case",
]

PROMPT_LEARNING_TYPES = ("PREFIX_TUNING", "PROMPT_TUNING", "P_TUNING", "MULTITASK_PROMPT_TUNING")
SAMPLE_SEED = 1234


class LoadMismatchError(RuntimeError):
    """The saved weights do not fit the architecture this version builds (key renames etc.)."""


@dataclasses.dataclass
class Case:
    """Everything needed to replay one model + adapter on fixed inputs (JSON-serialisable).

    ``inputs`` is a list of groups; each group is ``{"input_ids": [[...]], "attention_mask": [[...]]}``
    and, for seq2seq models, ``"decoder_input_ids"`` used for the logits.

    >>> c = Case("gpt2-prefix", "m", "a", "CAUSAL_LM", [{"input_ids": [[5, 6]], "attention_mask": [[1, 1]]}])
    >>> Case.from_json(c.to_json()) == c
    True
    """

    id: str
    model_dir: str
    adapter_dir: str
    task_type: str
    inputs: list[dict[str, list[list[int]]]]
    max_new_tokens: int = 6
    num_beams: int = 3
    family: str | None = None
    method: str | None = None
    device: str = "cpu"
    dtype: str = "float32"

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Case:
        return cls(**data)

    def resolve(self, root: Path) -> tuple[Path, Path]:
        """Model and adapter directories; relative paths are taken from ``root``."""
        return (Path(root) / self.model_dir, Path(root) / self.adapter_dir)


def _auto_class(task_type: str):
    import transformers

    if task_type == "SEQ_2_SEQ_LM":
        return transformers.AutoModelForSeq2SeqLM
    if task_type == "CAUSAL_LM":
        return transformers.AutoModelForCausalLM
    raise LoadMismatchError(
        f"adapter task_type {task_type!r} is not replayable: expected CAUSAL_LM or SEQ_2_SEQ_LM"
    )


def _check_loading_info(info: dict[str, Any], model_dir: Path) -> None:
    """Strict load: every saved tensor must land in a parameter, and every parameter be saved."""
    problems = []
    for key in ("missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs"):
        found = [str(k) for k in (info.get(key) or [])]
        if found:
            shown = ", ".join(found[:8]) + (f" ... (+{len(found) - 8})" if len(found) > 8 else "")
            problems.append(f"{key}: {shown}")
    if problems:
        raise LoadMismatchError(
            f"the weights in {model_dir} do not match the architecture this transformers builds "
            f"from its config.json ({'; '.join(problems)}). Keys were renamed or the config "
            "means something else on this version; a strict load refuses to guess."
        )


def _has_attn_implementation() -> bool:
    """Whether this transformers lets ``from_pretrained`` choose the attention kernel."""
    import transformers

    return hasattr(transformers.PretrainedConfig(), "_attn_implementation")


class DeviceMismatchError(RuntimeError):
    """The case asks for a device this process does not have, or the model landed elsewhere."""


def check_device(model, want: str) -> None:
    """A run that asked for CUDA must run on CUDA, a CPU run on the CPU (never a silent fallback)."""
    import torch

    if want == "cuda" and not torch.cuda.is_available():
        raise DeviceMismatchError(f"the golden was recorded on cuda but torch {torch.__version__} here sees no "
                                  f"CUDA device (torch.version.cuda={torch.version.cuda}); replay it on a GPU")
    got = {p.device.type for p in model.parameters()}
    if got != {want}:
        raise DeviceMismatchError(f"asked for {want} but the model's parameters are on {sorted(got)}")


def load_case(case: Case, root: Path):
    """The PEFT model for ``case`` in eval mode, in the case's dtype on its device, loaded strictly."""
    import torch
    from peft import PeftModel

    model_dir, adapter_dir = case.resolve(root)
    cls = _auto_class(case.task_type)
    kwargs = {"output_loading_info": True}
    if _has_attn_implementation():
        kwargs["attn_implementation"] = "eager"  # one kernel on both sides: gate the library, not sdpa
    base, info = cls.from_pretrained(str(model_dir), **kwargs)
    _check_loading_info(info, model_dir)
    if case.device == "cuda" and not torch.cuda.is_available():
        check_device(base, case.device)  # raises with the reason
    base = base.to(device=case.device, dtype=getattr(torch, case.dtype)).eval()
    model = PeftModel.from_pretrained(base, str(adapter_dir), is_trainable=False)
    model.to(case.device)
    check_device(model, case.device)
    peft_type = str(getattr(model.peft_config["default"], "peft_type", ""))
    peft_type = peft_type.split(".")[-1]
    if peft_type not in PROMPT_LEARNING_TYPES:
        raise LoadMismatchError(f"adapter {adapter_dir} is {peft_type}, not prompt learning")
    return model.eval()


def _pad_id(model) -> int:
    config = model.base_model.config if hasattr(model, "base_model") else model.config
    for name in ("pad_token_id", "eos_token_id", "bos_token_id"):
        value = getattr(config, name, None)
        if isinstance(value, (list, tuple)):
            value = value[0] if value else None
        if value is not None:
            return int(value)
    return 0


def _steps(model, case: Case, kwargs: dict[str, Any], gen: dict[str, Any], *, margins: bool
           ) -> dict[str, Callable[[], Any]]:
    """The outputs computed for one input group, each a thunk so that one raising hides no other.
    A thunk that returns ``(sequences, scores[, beam_indices])`` gives ``name``, ``name_scores``
    (``[rows or beam slots, steps, vocab]``) and ``name_indices``. ``margins``: add the reference
    decoder's beam margins in half precision (the golden's evidence; a replay does not need its own)."""
    import torch

    def generated(**kw):
        return model.generate(output_scores=True, return_dict_in_generate=True, **kw, **gen)

    def with_scores(**kw):
        out = generated(**kw)
        return out.sequences, torch.stack(list(out.scores), dim=1)

    def beam():
        out = generated(do_sample=False, num_beams=case.num_beams)
        indices = getattr(out, "beam_indices", None)
        if indices is None:
            return out.sequences
        return out.sequences, torch.stack(list(out.scores), dim=1), indices

    def sample():
        torch.manual_seed(SAMPLE_SEED)
        return with_scores(do_sample=True, num_beams=1, top_k=0, top_p=1.0, temperature=1.0)

    steps = {
        "logits": lambda: model(**kwargs).logits,
        # The base model alone: tells "the adapter path changed" from "the model changed".
        "base_logits": lambda: model.get_base_model()(**kwargs).logits,
        "greedy": lambda: with_scores(do_sample=False, num_beams=1),
        # Greedy without the adapter: a candidate whose generation equals it ignores the prompt.
        "base_greedy": lambda: model.get_base_model().generate(do_sample=False, num_beams=1, **gen),
        "beam": beam,
        "sample": sample,
    }
    if margins and _half_precision(case.dtype):
        steps["beam_margins"] = lambda: beam_margins(model, case, gen)
    return steps


def _half_precision(dtype: str) -> bool:
    from compat.tolerance import TOKEN_NOISE, policy_dtype

    return bool(TOKEN_NOISE.get(policy_dtype(dtype), 0.0))


def beam_margins(model, case: Case, gen: dict[str, Any]):
    """``[steps, batch]``: each beam-search step's decision margin per input row, from the
    project's hand-written reference decoder (:func:`compat.testing.reference.decode`) on this
    model and adapter. Evidence for the near-tie rule of :mod:`compat.tolerance` in half
    precision (recorded with the golden; the replay judges a beam flip by the golden's margins)."""
    import torch

    from compat.testing import reference

    ids, mask = gen["input_ids"], gen["attention_mask"]
    config = model.peft_config[model.active_adapter]
    if str(getattr(config, "peft_type", "")).endswith("PREFIX_TUNING"):
        prompt = {"prefix": reference.peft_prefix(model, ids.shape[0])}
    else:
        prompt = {"virtual": reference.peft_virtual(model, ids.shape[0])}
    decoded = reference.decode(model.get_base_model(), ids, mask, max_new_tokens=case.max_new_tokens,
                               mode="beam", num_beams=case.num_beams, **prompt)
    margins = torch.stack([torch.as_tensor(g, dtype=torch.float32) for g in decoded.beam_gaps])
    # a margin that is not a number (candidates at -inf) is no evidence of a tie: judge it strictly
    return torch.nan_to_num(margins, nan=1e30, posinf=1e30, neginf=1e30).cpu()


def run_case(case: Case, root: Path, *, margins: bool = True) -> dict[str, Any]:
    """Load ``case`` and return ``{name: tensor}``; an output that raised maps to its error text.

    Loading errors raise (nothing can be computed); each output is computed on
    its own, so e.g. a beam search that raises does not hide the logits. ``margins=False`` (a
    replay): no reference beam margins, which only the golden's side is judged by.
    """
    import torch

    torch.set_num_threads(1)
    model = load_case(case, root)
    pad = _pad_id(model)
    outputs: dict[str, Any] = {}
    gen_common = {
        "max_new_tokens": case.max_new_tokens,
        "min_new_tokens": case.max_new_tokens,  # fixed length: an early EOS is not a difference
        "pad_token_id": pad,
    }
    with torch.no_grad():
        for g, group in enumerate(case.inputs):
            ids = torch.tensor(group["input_ids"], dtype=torch.long, device=case.device)
            mask = torch.tensor(group["attention_mask"], dtype=torch.long, device=case.device)
            kwargs = {"input_ids": ids, "attention_mask": mask}
            if "decoder_input_ids" in group:
                kwargs["decoder_input_ids"] = torch.tensor(group["decoder_input_ids"], dtype=torch.long,
                                                           device=case.device)
            gen = {"input_ids": ids, "attention_mask": mask, **gen_common}
            for name, step in _steps(model, case, kwargs, gen, margins=margins).items():
                outputs.update(_computed(f"g{g}.{name}", step))
    return outputs


def _computed(name: str, step: Callable[[], Any]) -> dict[str, Any]:
    """``{name: tensor on the CPU}`` (and ``name_scores``, ``name_indices`` for a ``(sequences,
    scores[, beam_indices])`` tuple), or the error text under each name when the step raised."""
    try:
        value = step()
    except Exception as exc:
        text = error_text(exc)
        return {name: text, f"{name}_scores": text} if name.endswith((".greedy", ".sample")) else {name: text}
    if isinstance(value, tuple):
        parts = dict(zip((name, f"{name}_scores", f"{name}_indices"), value))
        return {key: part.detach().to("cpu", copy=True) for key, part in parts.items()}
    return {name: value.detach().to("cpu", copy=True)}


def replay_case(case: Case, root: Path) -> dict[str, Any]:
    """:func:`run_case` for the candidate side: the golden's outputs, without its evidence-only
    reference beam margins (a replay judges a beam flip by the golden's)."""
    return run_case(case, root, margins=False)


def error_text(exc: BaseException) -> str:
    """``Type: message [file:line in function]`` of the frame that raised."""
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    where = f" [{Path(frames[-1].filename).name}:{frames[-1].lineno} in {frames[-1].name}]" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def case_file(path: Path) -> Case:
    """Read a ``case.json``."""
    return Case.from_json(json.loads(Path(path).read_text()))
