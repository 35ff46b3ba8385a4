"""Compare a golden output with a candidate output (in-env, torch).

Token ids are compared exactly; on a mismatch the report names the first
differing generation step (0 = the first new token), the row, and both tokens.
Float outputs (logits, scores) are compared with the project's tolerance policy
and always report the max absolute and relative error and where it occurred.
Masked scores (``-inf`` from ``min_new_tokens``) must be masked on both sides.
In half precision a generation's row is compared up to its first near tie (the rule of
:mod:`compat.tolerance`: greedy and sampling by both sides' scores, beam search by the
golden's reference margins); the scores after that step are not compared.

>>> import torch
>>> a = torch.tensor([[1., 2.], [3., 4.]])
>>> d = compare_floats("g0.logits", a, a + torch.tensor([[0., 0.], [0., 0.5]]))
>>> d["status"], d["max_abs"], d["where"]
('changed', 0.5, [1, 1])
>>> compare_tokens("g0.greedy", torch.tensor([[7, 8, 9]]), torch.tensor([[7, 8, 5]]), prompt_len=1)["first_step"]
1
"""

from __future__ import annotations

from typing import Any

__all__ = ["compare_floats", "compare_outputs", "compare_tokens", "near_tie_judge", "tolerance"]


def tolerance(dtype, compute: str | None = None) -> tuple[float, float, str]:
    """``(atol, rtol, text)`` for ``dtype`` tensors from the project's policy (:mod:`compat.tolerance`):
    that of the looser of ``dtype`` and the case's ``compute`` dtype (a bf16 model's scores come
    out of ``generate`` upcast to fp32 and carry bf16 noise)."""
    from compat.tolerance import TOLERANCES, policy_dtype, tolerance_for

    name = policy_dtype(dtype)
    if compute is not None and TOLERANCES[policy_dtype(compute)].atol > TOLERANCES[name].atol:
        name = policy_dtype(compute)
    tol = tolerance_for(name)
    return float(tol.atol), float(tol.rtol), f"compat.tolerance {name} {tol}"


def compare_floats(name: str, golden, candidate, *, dtype: str | None = None) -> dict[str, Any]:
    """Max abs/rel error of ``candidate`` against ``golden`` and whether it is within tolerance.

    Both sides ran the same kernels on the same weights, so "same" means within
    the policy's tolerance (of the case's compute ``dtype`` where that is looser); ``bitwise``
    says whether the bits were identical too.
    """
    import torch

    from compat.tolerance import diff_stats

    out: dict[str, Any] = {"output": name, "kind": "float"}
    if tuple(golden.shape) != tuple(candidate.shape):
        out.update(status="changed", reason=f"shape {tuple(golden.shape)} became {tuple(candidate.shape)}")
        return out
    atol, rtol, text = tolerance(golden.dtype, dtype)
    stats = diff_stats(candidate, golden)  # NaN and mismatched inf count as infinite differences
    g, c = golden.double(), candidate.double()
    both_inf = torch.isinf(g) & torch.isinf(c) & (g == c)
    close = torch.isclose(c, g, atol=atol, rtol=rtol) | both_inf
    out.update(
        status="same" if bool(close.all()) else "changed",
        bitwise=bool(torch.equal(golden, candidate)),
        tolerance=text,
        max_abs=stats["max_abs_diff"],
        max_rel=stats["max_rel_diff"],
        where=[int(i) for i in stats["abs_at"]],
    )
    return out


def compare_tokens(name: str, golden, candidate, *, prompt_len: int, judge: dict[str, Any] | None = None
                   ) -> dict[str, Any]:
    """Exact comparison of generated token ids; the first differing step if any.

    ``judge``: the near-tie arguments of :func:`compat.tolerance.token_differences` for the
    generated part (half precision only, see :func:`near_tie_judge`). When every row's first
    difference is a near tie the output is ``same`` and ``near_ties`` says which rows were
    compared only up to which step, and why.
    """
    from compat.tolerance import token_differences

    out: dict[str, Any] = {"output": name, "kind": "tokens"}
    rows = min(golden.shape[0], candidate.shape[0])
    cols = min(golden.shape[1], candidate.shape[1])
    g, c = golden[:rows, :cols], candidate[:rows, :cols]
    neq = (g != c).nonzero()
    behaviour = None  # (row, column) of the first difference that counts, when judged
    if len(neq) and judge and golden.shape == candidate.shape:
        found = token_differences(candidate[:, prompt_len:], golden[:, prompt_len:], **judge)
        if found.ties:
            out["near_ties"] = list(found.ties)
            out["compared_to"] = {str(row): step for row, step in found.compared_to.items()}
        if found.behaviour is None:
            out.update(status="same")
            return out
        behaviour = (found.behaviour[0], found.behaviour[1] + prompt_len)
    if len(neq):
        if behaviour is None:
            col = int(neq[:, 1].min())
            row = int(neq[neq[:, 1] == col][0, 0])
        else:  # a near tie in another row may come first: name the difference that counts
            row, col = behaviour
        out.update(
            status="changed",
            first_step=col - prompt_len,
            row=row,
            golden_token=int(golden[row, col]),
            candidate_token=int(candidate[row, col]),
            rows_differing=int((g != c).any(dim=1).sum()),
        )
    elif golden.shape != candidate.shape:
        out.update(status="changed", first_step=cols - prompt_len,
                   reason=f"shape {tuple(golden.shape)} became {tuple(candidate.shape)}")
    else:
        out.update(status="same")
    return out


#: Generations judged by the near-tie rule in half precision (each output named by its rule's kind).
NEAR_TIE_KINDS = ("greedy", "sample", "beam")


def near_tie_judge(golden: dict, candidate: dict, output: str, dtype: str | None) -> dict[str, Any] | None:
    """The arguments of :func:`compat.tolerance.token_differences` for generation ``output``
    (``g0.greedy``, ...), or None where token ids are compared exactly: in fp32 (no token noise),
    for outputs the rule does not cover, and where the evidence is missing (greedy and sampling
    need both sides' scores; beam search the golden's reference margins ``gN.beam_margins`` and both
    sides' scores along each returned beam's path, ``beam_scores`` by ``beam_indices``)."""
    from compat.tolerance import TOKEN_NOISE, policy_dtype

    group, _, kind = output.partition(".")
    if dtype is None or kind not in NEAR_TIE_KINDS or not TOKEN_NOISE.get(policy_dtype(dtype), 0.0):
        return None
    g, c = golden.get(f"{output}_scores"), candidate.get(f"{output}_scores")
    if not (_tensor(g) and _tensor(c)) or g.shape != c.shape:
        return None
    if kind == "beam":
        margins, g_path, c_path = (golden.get(f"{group}.beam_margins"), _beam_path(golden, output),
                                   _beam_path(candidate, output))
        if not (_tensor(margins) and _tensor(g_path) and _tensor(c_path)):
            return None
        return {"near_ties": "beam", "beam_gaps": margins, "logits_at": (c_path, g_path), "dtype": dtype}
    # stored [rows, steps, vocab]; the rule reads scores[step][row]
    return {"near_ties": kind, "logits_at": (c.transpose(0, 1), g.transpose(0, 1)), "dtype": dtype}


def _tensor(value) -> bool:
    return value is not None and not isinstance(value, str)


def _beam_path(outputs: dict, output: str):
    """``[steps, rows, vocab]``: the scores each returned beam's token was chosen from (its slot at
    each step, ``beam_indices``), or None without them."""
    import torch

    scores, indices = outputs.get(f"{output}_scores"), outputs.get(f"{output}_indices")
    if not (_tensor(scores) and _tensor(indices)):
        return None
    steps = min(scores.shape[1], indices.shape[1])
    slots = indices[:, :steps].clamp(min=0)
    return torch.stack([scores[slots[:, t], t] for t in range(steps)])


#: Outputs that are the near-tie rule's evidence, not results: not compared on their own.
EVIDENCE = (".beam_margins", ".beam_scores", ".beam_indices")


def _cut_at_ties(golden, candidate, compared_to: dict[str, int]):
    """The candidate's per-step scores with every step after a row's near tie taken from the
    golden: what follows a tie is conditioned on another token and is not compared."""
    out = candidate.clone()
    for row, step in compared_to.items():
        out[int(row), step + 1:] = golden[int(row), step + 1:]
    return out


def compare_outputs(golden: dict, candidate: dict, prompt_lens: dict[int, int], *, dtype: str | None = None
                    ) -> list[dict[str, Any]]:
    """Compare every golden output with the candidate's.

    A candidate output that raised (its value is the error text) has status
    ``error``; one that is missing counts as ``changed``. ``dtype`` (the case's) turns on the
    near-tie rule for generations in half precision; the beam-search margins, scores and indices
    are evidence for it (:data:`EVIDENCE`), not outputs, and are not compared on their own.
    """
    results: dict[str, dict[str, Any]] = {}
    tokens_first = sorted(golden, key=lambda n: (golden[n].is_floating_point(), n))
    for name in tokens_first:
        if name.endswith(EVIDENCE):
            continue
        group = int(name.split(".")[0][1:])
        if name not in candidate:
            results[name] = {"output": name, "status": "changed", "reason": "not produced"}
            continue
        g, c = golden[name], candidate[name]
        if isinstance(c, str):
            results[name] = {"output": name, "status": "error", "reason": c}
        elif not g.is_floating_point():
            results[name] = compare_tokens(name, g, c, prompt_len=prompt_lens[group],
                                           judge=near_tie_judge(golden, candidate, name, dtype))
        else:
            cut = results.get(name.removesuffix("_scores"), {}).get("compared_to")
            results[name] = compare_floats(name, g, _cut_at_ties(g, c, cut) if cut and g.shape == c.shape else c,
                                           dtype=dtype)
            if cut:
                results[name]["compared_to"] = cut
    ordered = [results[name] for name in sorted(results)]
    _attach_score_evidence(ordered)
    _attach_ignored_adapter(ordered, golden, candidate)
    return ordered


def _attach_ignored_adapter(results: list[dict[str, Any]], golden: dict, candidate: dict) -> None:
    """A changed generation that now equals the base model's own (while the golden did not)
    means the candidate generates as if the adapter were absent."""
    import torch

    for r in results:
        name = r["output"]
        if r["status"] != "changed" or not name.endswith(".greedy"):
            continue
        base = name.split(".")[0] + ".base_greedy"
        g_base, c_base, g, c = golden.get(base), candidate.get(base), golden[name], candidate.get(name)
        if any(isinstance(x, str) or x is None for x in (g_base, c_base, c)):
            continue
        if g.shape == g_base.shape and c.shape == c_base.shape:
            r["candidate_equals_base_model"] = bool(torch.equal(c, c_base)) and not torch.equal(g, g_base)


def _attach_score_evidence(results: list[dict[str, Any]]) -> None:
    """Greedy ids that differ: say whether the scores were already apart before that step."""
    by_name = {r["output"]: r for r in results}
    for r in results:
        if r["output"].endswith(".greedy") and r["status"] == "changed":
            scores = by_name.get(r["output"] + "_scores")
            if scores and "max_abs" in scores:
                r["scores_max_abs"] = scores["max_abs"]
