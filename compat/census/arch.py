"""Census one architecture: build it tiny, decide per method by feature detection whether the
method applies, run the checks, and judge failures against the known-issue catalogue.

Not applicable, each with the reason found: the model's main input is not token ids (pixels,
audio), or its text-only forward raises an error naming such an input its forward takes
(:data:`OTHER_INPUTS`); prefix methods on a model that returns no KV cache or one without key/value layers; a
method PEFT refuses (its error quoted). A model that cannot be built is ``not-buildable``.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Iterator
from typing import Any

from compat.census import build, checks, judge
from compat.census.registry import Arch
from compat.census.results import ArchResult, CheckResult, MethodResult, Status

__all__ = ["TIME_CAP", "Timeout", "census_arch"]

#: seconds one architecture (build and every check) may take; then its unfinished methods fail
TIME_CAP = 60


class Timeout(Exception):
    """The architecture ran past its time cap."""


@contextlib.contextmanager
def _cap(seconds: int) -> Iterator[None]:
    if not hasattr(signal, "SIGALRM") or seconds <= 0:
        yield
        return

    def ring(signum, frame):
        raise Timeout(f"timed out after the {seconds} s per-architecture cap")

    old = signal.signal(signal.SIGALRM, ring)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _first_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:400]}"


def _not_applicable_to_all(base: Any) -> str:
    """A reason no method applies (the model's main input is not token ids), else ''."""
    main = getattr(base, "main_input_name", "input_ids")
    if main != "input_ids":
        return f"needs {main} inputs (its main input is not token ids)"
    return ""


#: inputs of another modality than text that a model's forward may take (feature detection below)
OTHER_INPUTS = ("input_features", "input_values", "pixel_values")


def _demanded_input(base: Any, exc: BaseException) -> str:
    """The other-modality input the text forward's error demands, else '': one the model's forward
    takes (its signature) and the error names. Such a model cannot run on token ids alone."""
    from compat import _transformers as features

    said = str(exc)
    return next((name for name in OTHER_INPUTS if name in said and features.forward_takes(base, name)), "")


def _kv_reason(base: Any, x: checks.Inputs) -> str:
    """Why prefix tuning cannot apply (no KV cache at all), else ''."""
    import torch

    from compat import output_cache
    from compat.census import oracle

    kw = {"decoder_input_ids": x.dec[:1]} if x.dec is not None else {}
    with torch.no_grad():
        out = base(input_ids=x.prompt_ids, use_cache=True, **kw)
    cache = output_cache(out)
    if cache is None:
        return "keeps no KV cache: forward(use_cache=True) returns none"
    if x.dec is not None:
        return ""
    layers = oracle.kv_layers(cache)
    if layers and all(kv is None for kv in layers):
        return f"keeps no KV cache: its {type(cache).__name__} holds no key/value layer"
    return ""


def _wrap(base: Any, method: str) -> Any:
    import peft
    import torch

    from compat.testing import methods

    with torch.random.fork_rng():  # the same adapter init on the eager model and its sdpa twin
        torch.manual_seed(0)
        return peft.get_peft_model(base, methods.peft_config(method, base, num_virtual_tokens=checks.P)).eval()


def _twin(built: build.Built) -> Any:
    """The sdpa twin's base model, a not-applicable reason (str) or a build failure (Exception)."""
    reason = build.offers_sdpa(built.arch)
    if reason:
        return reason
    try:
        return build.sdpa_twin(built)
    except build.NotBuildable as exc:
        return exc


def _sdpa(twin: Any, method: str) -> checks.Sdpa:
    if isinstance(twin, str):
        return checks.Sdpa(reason=twin)
    if isinstance(twin, Exception):
        return checks.Sdpa(error=f"the model class declares sdpa support but building it with sdpa fails: {twin}")
    try:
        return checks.Sdpa(pm=_wrap(twin, method))
    except Exception as exc:
        return checks.Sdpa(error=f"PEFT refuses the sdpa model: {_first_line(exc)}")


def _method(base: Any, method: str, x: checks.Inputs, kv_reason: str, twin: Any) -> MethodResult:
    if method.startswith("prefix") and kv_reason:
        return MethodResult(method, Status.NOT_APPLICABLE, kv_reason)
    try:
        pm = _wrap(base, method)
    except Exception as exc:
        return MethodResult(method, Status.NOT_APPLICABLE, f"PEFT refuses: {_first_line(exc)}")
    return MethodResult(method, Status.FAIL, "", tuple(checks.run_checks(pm, method, x, _sdpa(twin, method))))


def census_arch(arch: Arch, *, known: tuple = (), versions: tuple[str, str] = ("", ""),
                cap: int = TIME_CAP, methods: tuple[str, ...] = checks.METHODS) -> ArchResult:
    """The census of one architecture (never raises for the model's sake)."""
    import torch

    start = time.perf_counter()
    done: list[MethodResult] = []
    built = None
    try:
        with _cap(cap):
            try:
                built = build.build(arch)
            except build.NotBuildable as exc:
                return _result(arch, Status.NOT_BUILDABLE, str(exc)[:600], 0.0, start, 0, ())
            base = built.model
            torch.manual_seed(0)
            reason = _not_applicable_to_all(base)
            if reason:
                done = [MethodResult(m, Status.NOT_APPLICABLE, reason) for m in methods]
            else:
                x = checks.inputs(base)
                try:
                    kv_reason = _kv_reason(base, x)
                except Exception as exc:
                    demanded = _demanded_input(base, exc)
                    if demanded:
                        why = f"needs {demanded} even for text (its text-only forward raises {_first_line(exc)})"
                        done = [MethodResult(m, Status.NOT_APPLICABLE, why) for m in methods]
                    else:
                        failed = (CheckResult("base", Status.FAIL, f"plain text forward raises {_first_line(exc)}"),)
                        done = [MethodResult(m, Status.FAIL, "", failed) for m in methods]
                else:
                    twin = _twin(built)
                    for method in methods:
                        done.append(_method(base, method, x, kv_reason, twin))
    except Timeout as exc:
        ran = {m.method for m in done}
        done += [MethodResult(m, Status.FAIL, "", (CheckResult("time", Status.FAIL, str(exc)),))
                 for m in methods if m not in ran]
    judged = tuple(judge.method(arch.id, m, known, versions) for m in done)
    status = judge.arch_status(judged)
    return _result(arch, status, "", built.seconds if built else 0.0, start,
                   built.parameters if built else 0, judged)


def _result(arch: Arch, status: Status, reason: str, build_s: float, start: float, params: int,
            methods: tuple[MethodResult, ...]) -> ArchResult:
    return ArchResult(arch.id, arch.model_type, arch.mapping, arch.model_class, status, reason, build_s,
                      time.perf_counter() - start, params, methods)
