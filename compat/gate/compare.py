"""Compare a golden output with a candidate output (in-env, torch).

Token ids are compared exactly; on a mismatch the report names the first
differing generation step (0 = the first new token), the row, and both tokens.
Float outputs (logits, scores) are compared with the project's tolerance policy
and always report the max absolute and relative error and where it occurred.
Masked scores (``-inf`` from ``min_new_tokens``) must be masked on both sides.

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

__all__ = ["compare_floats", "compare_outputs", "compare_tokens", "tolerance"]


def tolerance(dtype) -> tuple[float, float, str]:
    """``(atol, rtol, text)`` for ``dtype`` from the project's policy (:mod:`compat.tolerance`)."""
    from compat.tolerance import tolerance_for

    tol = tolerance_for(dtype)
    return float(tol.atol), float(tol.rtol), f"compat.tolerance {str(dtype).replace('torch.', '')} {tol}"


def compare_floats(name: str, golden, candidate) -> dict[str, Any]:
    """Max abs/rel error of ``candidate`` against ``golden`` and whether it is within tolerance.

    Both sides ran the same kernels on the same weights, so "same" means within
    the policy's tolerance; ``bitwise`` says whether the bits were identical too.
    """
    import torch

    from compat.tolerance import diff_stats

    out: dict[str, Any] = {"output": name, "kind": "float"}
    if tuple(golden.shape) != tuple(candidate.shape):
        out.update(status="changed", reason=f"shape {tuple(golden.shape)} became {tuple(candidate.shape)}")
        return out
    atol, rtol, text = tolerance(golden.dtype)
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


def compare_tokens(name: str, golden, candidate, *, prompt_len: int) -> dict[str, Any]:
    """Exact comparison of generated token ids; the first differing step if any."""

    out: dict[str, Any] = {"output": name, "kind": "tokens"}
    rows = min(golden.shape[0], candidate.shape[0])
    cols = min(golden.shape[1], candidate.shape[1])
    g, c = golden[:rows, :cols], candidate[:rows, :cols]
    neq = (g != c).nonzero()
    if len(neq):
        col = int(neq[:, 1].min())
        row = int(neq[neq[:, 1] == col][0, 0])
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


def compare_outputs(golden: dict, candidate: dict, prompt_lens: dict[int, int]) -> list[dict[str, Any]]:
    """Compare every golden output with the candidate's.

    A candidate output that raised (its value is the error text) has status
    ``error``; one that is missing counts as ``changed``.
    """
    results = []
    for name in sorted(golden):
        group = int(name.split(".")[0][1:])
        if name not in candidate:
            results.append({"output": name, "status": "changed", "reason": "not produced"})
            continue
        g, c = golden[name], candidate[name]
        if isinstance(c, str):
            results.append({"output": name, "status": "error", "reason": c})
            continue
        if g.is_floating_point():
            results.append(compare_floats(name, g, c))
        else:
            results.append(compare_tokens(name, g, c, prompt_len=prompt_lens[group]))
    _attach_score_evidence(results)
    _attach_ignored_adapter(results, golden, candidate)
    return results


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
