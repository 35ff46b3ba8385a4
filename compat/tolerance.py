"""The tolerance policy of every numerical comparison, written once.

* **token ids**: exact (:func:`assert_same_tokens`, or ``mode="exact"``), except, in
  half precision (:data:`TOKEN_NOISE`), from the first step of a row where the
  choice is within the measured noise: the reference's top-2 logit gap is below
  the noise *and* both sides agree within the tolerance on the logits that carry
  the choice (the union of each side's :data:`CANDIDATES` highest; a near tie
  that rounding can flip; the row is compared up to there and the test records
  it as the JUnit property ``token_near_ties``). A dropped prompt moves those
  logits by far more than the tolerance, so it always counts.
* **logits, same kernels on both sides** (same shapes, same ops, e.g. a tuple
  prefix vs a Cache prefix holding the same tensors): ``mode="bitwise"``.
* **logits, different kernels** (e.g. one forward over prefix+input vs a cached
  prefix followed by the input; batched vs single row): ``mode="close"`` with the
  per-dtype ``atol``/``rtol`` of :data:`TOLERANCES` (``|a - e| <= atol +
  rtol * |e|``). Measured maxima on the tiny zoo (fp32, CPU, 1 thread, see
  docs/suites.md): 8.6e-6 abs (T5 batch vs single row, logits ~15, so the
  bound there is ~1.6e-4), <= 3e-6 elsewhere; PEFT vs an explicit prefix was
  bitwise equal on transformers 5.23. bf16/fp16: calibrated on an H200
  (benchmarks/bench_tolerance.py, docs/gpu.md).
* the dtype whose tolerance applies is the model's compute dtype: the looser of
  the tensors' dtype and the suite axes' ``PCC_DTYPE`` (:mod:`compat.testing.axes`;
  some families upcast their logits to fp32, which must not make a bf16 model's
  comparison an fp32 one). On the default axes (fp32) this is the tensors' dtype.

When given pytest's ``record_property`` fixture as ``record``, the measured
``max_abs_diff``, ``max_rel_diff`` and the ``tolerance`` used are recorded as
JUnit properties (the matrix report reads exactly those names).

>>> import torch
>>> a = torch.tensor([1.0, 2.0, 3.0])
>>> assert_close(a, a.clone(), mode="bitwise", what="same")
>>> props = []
>>> assert_close(a, a + 1e-7, what="tiny", record=lambda k, v: props.append(k))
>>> props
['max_abs_diff', 'max_rel_diff', 'tolerance']
>>> try:
...     assert_close(a, torch.tensor([1.0, 2.5, 3.0]), what="logits")
... except AssertionError as e:
...     print(str(e).splitlines()[0])
logits: not close (fp32 atol=1e-05 rtol=1e-05): max abs diff 0.5 at index (1,), max rel diff 0.2 at index (1,)
>>> assert_same_tokens(torch.tensor([[1, 2, 3]]), torch.tensor([[1, 2, 3]])).behaviour is None
True
>>> try:
...     assert_same_tokens(torch.tensor([[1, 2, 3]]), torch.tensor([[1, 4, 3]]))
... except AssertionError as e:
...     print(str(e).splitlines()[0])
token ids differ: first difference at row 0, step 1: got 2, expected 4
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

__all__ = ["CANDIDATES", "STEP_TOLERANCES", "TOKEN_NOISE", "TOLERANCES", "TokenDifferences", "Tolerance",
           "assert_close", "assert_same_step_logits", "assert_same_tokens", "diff_stats", "policy_dtype",
           "token_differences", "tolerance_for"]


class Tolerance(NamedTuple):
    atol: float
    rtol: float

    def __str__(self) -> str:
        return f"atol={self.atol:g} rtol={self.rtol:g}"


# dtype name -> tolerance for logits computed by different kernels.
# fp32: measured max abs diff on the zoo is 8.6e-6 at |logit| ~15 (docs/suites.md);
# the bugs this suite hunts differ by > 1e-1, so the bound hides none of them.
# fp16/bf16: atol = 2 x the largest |diff| of any correct path measured on an H200 (2026-11-30,
# transformers 5.17.0 + peft 0.21.0, eager and sdpa, the 15 tiny families and the realistic-size
# Llama-3-8B / T5-base shapes; benchmarks/bench_tolerance.py derive, docs/gpu.md):
# bf16 0.0938 (realistic Llama, real-token prefix vs one forward, and batch vs rows alone),
# fp16 0.344 (realistic T5 v1.1-base, batch of 3 vs rows alone; its logits have std ~28).
# rtol as before. The smallest effect of a dropped prompt measured there was 2.1.
TOLERANCES = {
    "fp32": Tolerance(atol=1e-5, rtol=1e-5),
    "fp16": Tolerance(atol=0.69, rtol=5e-3),
    "bf16": Tolerance(atol=0.19, rtol=2e-2),
    "fp64": Tolerance(atol=1e-10, rtol=1e-10),
}

# dtype name -> tolerance for the logits of the steps of two decodes whose tokens agree (cached generate
# against the cache-free reference; errors accumulate over the steps). fp32: 1e-4 = 2.8 x the largest
# difference of a correct path in the default matrix (3.5e-5: Gemma 2 prefix, a padded row against the row
# alone, step 5, transformers 4.56.0, 2026-12-01); the wrong decodes it exists for differ by >= 0.6.
# Half precision: not calibrated on multi-step decodes, so not compared (token ids, near-tie rule, only).
STEP_TOLERANCES = {
    "fp32": Tolerance(atol=1e-4, rtol=1e-5),
    "fp64": Tolerance(atol=1e-10, rtol=1e-10),
}

# dtype name -> the reference's top-2 logit gap below which a token choice is a near tie that the
# numerical noise of that dtype can flip (0: token ids exact everywhere): 2 x atol (a flip moves
# both logits). The largest gap at which a correct path's argmax flipped on the H200 was 0.031
# (bf16) and 0.0039 (fp16): see benchmarks/bench_tolerance.py, docs/gpu.md.
TOKEN_NOISE = {
    "fp32": 0.0,
    "fp64": 0.0,
    "fp16": 1.4,
    "bf16": 0.38,
}

#: How many of each side's highest logits carry a token choice (greedy, sampling without top-k):
#: the near-tie rule compares those, not the whole vocabulary's tail, whose absolute rounding
#: error (bf16: half an ulp of |logit| ~ 100 is 0.25) decides nothing.
CANDIDATES = 8

_DTYPE_NAMES = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16", "float64": "fp64"}
_MODES = ("close", "bitwise", "exact")


def _dtype_name(dtype) -> str:
    name = str(dtype).replace("torch.", "")
    return _DTYPE_NAMES.get(name, name)


def policy_dtype(dtype) -> str:
    """The policy's name for the dtype a comparison of ``dtype`` tensors is judged in: the looser
    of ``dtype`` and the suite axes' compute dtype (only off the default axes).

    >>> import torch
    >>> policy_dtype(torch.float32)
    'fp32'
    """
    name = _dtype_name(dtype)
    from compat.testing import axes

    ax = axes.current()
    if ax.is_default:
        return name
    compute = _dtype_name(ax.dtype)
    if name in TOLERANCES and compute in TOLERANCES and TOLERANCES[compute].atol > TOLERANCES[name].atol:
        return compute
    return name


def tolerance_for(dtype) -> Tolerance:
    """Tolerance for comparing logits of ``dtype`` computed by different kernels.

    >>> import torch
    >>> tolerance_for(torch.float32)
    Tolerance(atol=1e-05, rtol=1e-05)
    """
    name = _dtype_name(dtype)
    if name not in TOLERANCES:
        raise ValueError(f"no tolerance for dtype {dtype}; expected one of {', '.join(TOLERANCES)}")
    return TOLERANCES[name]


def _idx(flat: int, shape) -> tuple:
    out = []
    for size in reversed(tuple(shape)):
        out.append(flat % size if size else 0)
        flat //= size if size else 1
    return tuple(reversed(out))


def diff_stats(actual, expected) -> dict:
    """Max abs/rel difference and where (index tuples), as a dict.

    >>> import torch
    >>> diff_stats(torch.tensor([1.0, 4.0]), torch.tensor([1.0, 2.0]))["max_abs_diff"]
    2.0
    """
    import torch

    a = actual.detach().to(torch.float64)
    e = expected.detach().to(torch.float64)
    if a.numel() == 0:
        return {"max_abs_diff": 0.0, "max_rel_diff": 0.0, "abs_at": (), "rel_at": ()}
    absdiff = (a - e).abs()
    # NaN anywhere is an infinite difference (and NaN == NaN is not "close").
    absdiff = torch.where(torch.isnan(absdiff), torch.full_like(absdiff, float("inf")), absdiff)
    same_inf = torch.isinf(a) & torch.isinf(e) & (a == e)
    absdiff = torch.where(same_inf, torch.zeros_like(absdiff), absdiff)
    rel = absdiff / e.abs().clamp_min(torch.finfo(torch.float64).tiny)
    rel = torch.where(absdiff == 0, torch.zeros_like(rel), rel)
    ia, ir = int(absdiff.reshape(-1).argmax()), int(rel.reshape(-1).argmax())
    return {
        "max_abs_diff": float(absdiff.reshape(-1)[ia]),
        "max_rel_diff": float(rel.reshape(-1)[ir]),
        "abs_at": _idx(ia, a.shape),
        "rel_at": _idx(ir, a.shape),
    }


def assert_close(actual, expected, *, mode: str = "close", what: str = "values",
                 record: Callable[[str, Any], None] | None = None, tolerance: Tolerance | None = None) -> None:
    """Assert two tensors agree under the policy; see the module docstring.

    ``mode``: ``"close"`` (per-dtype atol/rtol, or ``tolerance``), ``"bitwise"``
    (identical bits; for paths that run the same kernels), ``"exact"`` (integer
    tensors such as token ids). ``record``: pytest's ``record_property``.
    """
    import torch

    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    if not isinstance(actual, torch.Tensor) or not isinstance(expected, torch.Tensor):
        raise TypeError(f"{what}: expected two tensors, got {type(actual).__name__} and {type(expected).__name__}")
    if actual.shape != expected.shape:
        raise AssertionError(f"{what}: shape {tuple(actual.shape)} != expected {tuple(expected.shape)}")
    if mode == "close":
        name = policy_dtype(expected.dtype)
        tol = tolerance or tolerance_for(name)
        tol_text = f"{name} {tol}"
    else:
        tol, tol_text = Tolerance(0.0, 0.0), mode
    stats = diff_stats(actual, expected)
    if record is not None:
        record("max_abs_diff", stats["max_abs_diff"])
        record("max_rel_diff", stats["max_rel_diff"])
        record("tolerance", tol_text)
    if mode in ("bitwise", "exact"):
        ok = actual.dtype == expected.dtype and torch.equal(actual, expected)
        if not ok and mode == "bitwise" and actual.dtype == expected.dtype and actual.is_floating_point():
            # equal bits, NaNs included, also count as bitwise equal
            ok = torch.equal(actual.view(torch.int8) if actual.element_size() == 1 else
                             actual.contiguous().view(_int_of(actual.dtype)),
                             expected.contiguous().view(_int_of(expected.dtype)))
    else:
        ok = bool(torch.isclose(actual.detach().to(torch.float64), expected.detach().to(torch.float64),
                                atol=tol.atol, rtol=tol.rtol).all())
    if not ok:
        at = stats["abs_at"]
        extra = ""
        if at:
            extra = f"\n  at {at}: got {float(actual[at]):.7g}, expected {float(expected[at]):.7g}"
        raise AssertionError(
            f"{what}: not {'close' if mode == 'close' else mode} ({tol_text}): "
            f"max abs diff {stats['max_abs_diff']:.3g} at index {at}, "
            f"max rel diff {stats['max_rel_diff']:.3g} at index {stats['rel_at']}{extra}"
        )


def _int_of(dtype):
    import torch

    return {2: torch.int16, 4: torch.int32, 8: torch.int64}[torch.empty((), dtype=dtype).element_size()]


def assert_same_tokens(actual, expected, *, logits_at=None, what: str = "token ids", near_ties: str = "",
                       beam_gaps=None, dtype=None, record: Callable[[str, Any], None] | None = None
                       ) -> TokenDifferences:
    """Token ids must be identical. On a mismatch the error names the first
    differing (row, step) and, when ``logits_at`` is given, the logits there.

    ``logits_at``: a callable ``(row, step) -> str``, or a pair of per-step
    score sequences ``(actual_scores, expected_scores)`` each indexable as
    ``scores[step][row]`` (e.g. ``generate(..., output_scores=True).scores``).
    ``step`` counts generated positions over the common width of both tensors.

    ``near_ties`` (``"greedy"``, ``"sample"`` or ``"beam"``): in a dtype with a
    :data:`TOKEN_NOISE` (half precision), a row whose first difference is a near
    tie is compared only up to there (see the module docstring): greedy and
    sampling need ``logits_at`` as a score pair, beam search the reference's
    per-step ``beam_gaps`` (``[step][batch row]``, :class:`compat.testing.reference.Decoded`).
    ``dtype``: the compute dtype (default: that of the scores, judged by :func:`policy_dtype`).
    The rows cut short are recorded as ``token_near_ties`` through ``record``. Returns what
    :func:`token_differences` found (its ``compared_to`` says where rows were cut short).
    """
    import torch

    a, e = torch.as_tensor(actual), torch.as_tensor(expected)
    if a.shape != e.shape:
        raise AssertionError(f"{what}: shape {tuple(a.shape)} != expected {tuple(e.shape)}\n"
                             f"  got      {a.tolist()}\n  expected {e.tolist()}")
    found = token_differences(a, e, logits_at=logits_at, near_ties=near_ties, beam_gaps=beam_gaps, dtype=dtype)
    if found.behaviour is None:
        if found.ties and record is not None:
            record("token_near_ties", "; ".join(found.ties))
        return found
    row, step = found.behaviour
    a2, e2 = _rows(a), _rows(e)
    msg = (f"{what} differ: first difference at row {row}, step {step}: "
           f"got {int(a2[row, step])}, expected {int(e2[row, step])}\n"
           f"  got      {a2[row].tolist()}\n  expected {e2[row].tolist()}")
    if logits_at is not None:
        msg += "\n  logits there: " + _logits_text(logits_at, row, step)
    if found.ties:
        msg += "\n  near ties (not counted): " + "; ".join(found.ties)
    raise AssertionError(msg)


def assert_same_step_logits(actual, expected, *, what: str = "step logits", compared_to: dict | None = None,
                            record: Callable[[str, Any], None] | None = None) -> None:
    """The logits of every generated step of two decodes whose tokens agree are close (``mode="close"``).

    Tiny random models often pick the same tokens from different logits, so equal token ids alone
    can hide a wrong decode. ``actual``/``expected``: per-step scores, ``scores[step][row]`` (e.g.
    ``generate(..., output_scores=True).scores`` with no logits processor, and the reference's).
    ``compared_to``: ``{row: step}`` where :func:`assert_same_tokens` cut a row short at a near tie
    (:attr:`TokenDifferences.compared_to`): that row's logits count up to and including that step.
    A failure names its index as (row, step, token). Tolerance: :data:`STEP_TOLERANCES` (half precision:
    not compared, recorded as ``step_logits`` through ``record``).

    >>> import torch
    >>> s = [torch.tensor([[0.0, 1.0]]), torch.tensor([[2.0, 0.5]])]
    >>> assert_same_step_logits(s, [t.clone() for t in s])
    >>> try:
    ...     assert_same_step_logits(s, [s[0], torch.tensor([[2.0, 0.7]])])
    ... except AssertionError as e:
    ...     print(str(e).splitlines()[0].split(": max")[0])
    step logits (row, step, token): not close (fp32 atol=0.0001 rtol=1e-05)
    """
    import torch

    if len(actual) != len(expected):
        raise AssertionError(f"{what}: {len(actual)} generated steps != expected {len(expected)}")
    if not expected:  # no step generated on either side: nothing to compare
        return
    a = torch.stack([torch.as_tensor(t) for t in actual], 1)
    e = torch.stack([torch.as_tensor(t) for t in expected], 1)
    if a.shape != e.shape:
        raise AssertionError(f"{what}: shape {tuple(a.shape)} != expected {tuple(e.shape)} (rows, steps, vocabulary)")
    name = policy_dtype(e.dtype)
    if name not in STEP_TOLERANCES:
        if record is not None:
            record("step_logits", f"not compared in {name} (no calibrated tolerance for decode steps)")
        return
    for row, step in (compared_to or {}).items():
        a[row, step + 1:] = e[row, step + 1:]  # past a near tie the two decodes continue different texts
    assert_close(a, e, what=f"{what} (row, step, token)", record=record, tolerance=STEP_TOLERANCES[name])


class TokenDifferences(NamedTuple):
    """What :func:`token_differences` found: the rows cut short at a near tie (``ties``: one text
    each, with the step and why), each row's step up to which it was compared (``compared_to``:
    ``{row: step}`` for those rows), and the first ``(row, step)`` whose difference is behaviour
    (``None`` when every difference is a near tie or there is none)."""

    ties: tuple[str, ...]
    compared_to: dict[int, int]
    behaviour: tuple[int, int] | None


def _rows(t):
    return t.reshape(t.shape[0], -1) if t.dim() > 1 else t.reshape(1, -1)


def token_differences(actual, expected, *, logits_at=None, near_ties: str = "", beam_gaps=None,
                      dtype=None) -> TokenDifferences:
    """Judge the differences of two token-id tensors of one shape (``[rows, steps]``) by the
    near-tie rule of :func:`assert_same_tokens` (same arguments), without raising: rows are
    taken in the order of their first difference (step, then row) and judged until the first
    one that is behaviour.

    >>> import torch
    >>> token_differences(torch.tensor([[1, 2], [3, 4]]), torch.tensor([[1, 2], [3, 5]]))
    TokenDifferences(ties=(), compared_to={}, behaviour=(1, 1))
    """
    import torch

    a2, e2 = _rows(torch.as_tensor(actual)), _rows(torch.as_tensor(expected))
    diff = a2 != e2
    rows, steps = diff.nonzero(as_tuple=True)
    order = torch.argsort(steps * diff.shape[0] + rows)
    firsts: dict[int, int] = {}
    for i in order.tolist():  # each row's first differing step, in (step, row) order
        firsts.setdefault(int(rows[i]), int(steps[i]))
    ties: list[str] = []
    compared_to: dict[int, int] = {}
    for row, step in sorted(firsts.items(), key=lambda rs: (rs[1], rs[0])):
        tie = _near_tie(near_ties, row, step, logits_at, beam_gaps, dtype, a2.shape[0]) if near_ties else None
        if tie is None:
            return TokenDifferences(tuple(ties), compared_to, (row, step))
        ties.append(f"row {row} compared up to step {step}: {tie}")
        compared_to[row] = step
    return TokenDifferences(tuple(ties), compared_to, None)


def _near_tie(kind: str, row: int, step: int, logits_at, beam_gaps, dtype, n_rows: int) -> str | None:
    """Why a token flip at (row, step) is within the numerical noise, or None when it is behaviour.
    Beam search: the reference's margin there is below the noise and, where ``logits_at`` gives the
    scores along the row's beam path on both sides, they agree within the tolerance up to there."""
    if kind not in ("greedy", "sample", "beam"):
        raise ValueError(f"near_ties must be 'greedy', 'sample' or 'beam', got {kind!r}")
    if kind == "beam":
        if beam_gaps is None:
            raise ValueError("near_ties='beam' needs the reference's beam_gaps")
        name = policy_dtype(dtype if dtype is not None else beam_gaps[0].dtype)
        noise = TOKEN_NOISE.get(name, 0.0)
        batch = beam_gaps[step].shape[0]
        gap = float(beam_gaps[step][row // max(1, n_rows // batch)])
        limit = noise * (step + 1)  # running sums: the noise of each step adds up
        if not (noise and gap < limit):
            return None
        if logits_at is not None:  # the path's own scores up to there must agree within the noise too
            got, exp = logits_at
            for earlier in range(step + 1):
                if _choice_diff(got[earlier][row], exp[earlier][row], name) is None:
                    return None
        checked = ", the path's scores within the tolerance up to there" if logits_at is not None else ""
        return f"reference beam margin {gap:.3g} < {name} noise {noise:g} x {step + 1} steps{checked}"
    if not (isinstance(logits_at, (tuple, list)) and len(logits_at) == 2):
        raise ValueError(f"near_ties={kind!r} needs logits_at=(actual_scores, expected_scores)")
    got, exp = logits_at
    g, x = got[step][row], exp[step][row]
    name = policy_dtype(dtype if dtype is not None else got[step].dtype)
    noise = TOKEN_NOISE.get(name, 0.0)
    if not noise:
        return None
    close = _choice_diff(g, x, name)
    if close is None:
        return None  # the logits that carry the choice moved beyond the noise: behaviour, not a tie
    count, diff = close
    tol = tolerance_for(name)
    if kind == "sample":
        return (f"both sides' {count} highest logits within {name} {tol} (max abs diff {diff:.3g}): "
                "the same distribution, a draw on a boundary the noise moves")
    top = x.detach().double().topk(2).values
    gap = float(top[0] - top[1])
    if gap >= noise:
        return None
    return (f"reference top-2 logit gap {gap:.3g} < {name} noise {noise:g}, both sides' {count} highest "
            f"logits within {tol} (max abs diff {diff:.3g})")


def _choice_diff(got, expected, name: str) -> tuple[int, float] | None:
    """``(how many, max abs diff)`` of the logits that carry a choice (the union of each side's
    :data:`CANDIDATES` highest) when both sides agree on them within the tolerance of ``name``,
    else None."""
    import torch

    g, x = got.detach().double(), expected.detach().double()
    tol = tolerance_for(name)
    k = min(CANDIDATES, x.numel())
    idx = torch.cat([g.topk(k).indices, x.topk(k).indices]).unique()
    gc, xc = g[idx], x[idx]
    if not bool(torch.isclose(gc, xc, atol=tol.atol, rtol=tol.rtol).all()):
        return None
    return idx.numel(), float((gc - xc).abs().max())


def _logits_text(logits_at, row: int, step: int) -> str:
    if callable(logits_at):
        return str(logits_at(row, step))
    try:
        got, exp = logits_at
        g, x = got[step][row], exp[step][row]
        lines = []
        for name, s in (("got", g), ("expected", x)):
            top = s.float().topk(min(3, s.numel()))
            pairs = ", ".join(f"{int(i)}:{float(v):.6g}" for v, i in zip(top.values, top.indices))
            lines.append(f"{name} top-3 {pairs}")
        return "; ".join(lines)
    except (IndexError, TypeError, ValueError) as exc:
        return f"(unavailable: {exc})"
