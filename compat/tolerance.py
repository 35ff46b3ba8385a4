"""The tolerance policy of every numerical comparison, written once.

* **token ids**: exact (:func:`assert_same_tokens`, or ``mode="exact"``).
* **logits, same kernels on both sides** (same shapes, same ops, e.g. a tuple
  prefix vs a Cache prefix holding the same tensors): ``mode="bitwise"``.
* **logits, different kernels** (e.g. one forward over prefix+input vs a cached
  prefix followed by the input; batched vs single row): ``mode="close"`` with the
  per-dtype ``atol``/``rtol`` of :data:`TOLERANCES` (``|a - e| <= atol +
  rtol * |e|``). Measured maxima on the tiny zoo (fp32, CPU, 1 thread, see
  docs/suites.md): 8.6e-6 abs (T5 batch vs single row, logits ~15, so the
  bound there is ~1.6e-4), <= 3e-6 elsewhere; PEFT vs an explicit prefix was
  bitwise equal on transformers 5.23.

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
>>> assert_same_tokens(torch.tensor([[1, 2, 3]]), torch.tensor([[1, 2, 3]]))
>>> try:
...     assert_same_tokens(torch.tensor([[1, 2, 3]]), torch.tensor([[1, 4, 3]]))
... except AssertionError as e:
...     print(str(e).splitlines()[0])
token ids differ: first difference at row 0, step 1: got 2, expected 4
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

__all__ = ["TOLERANCES", "Tolerance", "assert_close", "assert_same_tokens", "diff_stats", "tolerance_for"]


class Tolerance(NamedTuple):
    atol: float
    rtol: float

    def __str__(self) -> str:
        return f"atol={self.atol:g} rtol={self.rtol:g}"


# dtype name -> tolerance for logits computed by different kernels.
# fp32: measured max abs diff on the zoo is 8.6e-6 at |logit| ~15 (docs/suites.md);
# the bugs this suite hunts differ by > 1e-1, so the bound hides none of them.
# fp16/bf16: one ulp of a logit of magnitude ~4 is ~4e-3 (fp16) / ~3e-2 (bf16).
TOLERANCES = {
    "fp32": Tolerance(atol=1e-5, rtol=1e-5),
    "fp16": Tolerance(atol=5e-3, rtol=5e-3),
    "bf16": Tolerance(atol=5e-2, rtol=2e-2),
    "fp64": Tolerance(atol=1e-10, rtol=1e-10),
}

_DTYPE_NAMES = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16", "float64": "fp64"}
_MODES = ("close", "bitwise", "exact")


def _dtype_name(dtype) -> str:
    name = str(dtype).replace("torch.", "")
    return _DTYPE_NAMES.get(name, name)


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
        tol = tolerance or tolerance_for(expected.dtype)
        tol_text = f"{_dtype_name(expected.dtype)} {tol}"
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


def assert_same_tokens(actual, expected, *, logits_at=None, what: str = "token ids") -> None:
    """Token ids must be identical. On a mismatch the error names the first
    differing (row, step) and, when ``logits_at`` is given, the logits there.

    ``logits_at``: a callable ``(row, step) -> str``, or a pair of per-step
    score sequences ``(actual_scores, expected_scores)`` each indexable as
    ``scores[step][row]`` (e.g. ``generate(..., output_scores=True).scores``).
    ``step`` counts generated positions over the common width of both tensors.
    """
    import torch

    a, e = torch.as_tensor(actual), torch.as_tensor(expected)
    if a.shape != e.shape:
        raise AssertionError(f"{what}: shape {tuple(a.shape)} != expected {tuple(e.shape)}\n"
                             f"  got      {a.tolist()}\n  expected {e.tolist()}")
    if torch.equal(a, e):
        return
    diff = (a != e).reshape(a.shape[0], -1) if a.dim() > 1 else (a != e).reshape(1, -1)
    rows, steps = diff.nonzero(as_tuple=True)
    order = torch.argsort(steps * diff.shape[0] + rows)
    row, step = int(rows[order[0]]), int(steps[order[0]])
    a2, e2 = a.reshape(diff.shape), e.reshape(diff.shape)
    msg = (f"{what} differ: first difference at row {row}, step {step}: "
           f"got {int(a2[row, step])}, expected {int(e2[row, step])}\n"
           f"  got      {a2[row].tolist()}\n  expected {e2[row].tolist()}")
    if logits_at is not None:
        msg += "\n  logits there: " + _logits_text(logits_at, row, step)
    raise AssertionError(msg)


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
