"""The axes a suite run is measured on: device, dtype, attention kernel and model size.

Read once from the environment (``PCC_DEVICE``, ``PCC_DTYPE``, ``PCC_ATTN``,
``PCC_SIZE``) into a frozen :class:`Axes`; the zoo, the PEFT wrappers, the
inputs and the reference decoder all take their device/dtype/kernel from it,
and every report records it (a JUnit property ``axes`` per test, the matrix
cell's suite description). Unset, the axes are the CPU fp32 eager tiny default,
which is exactly what the suites ran before the axes existed.

This module imports no torch at import time (the tooling reads it too).

>>> active({})
Axes(device='cpu', dtype='float32', attn='eager', size='tiny')
>>> active({}).is_default
True
>>> a = active({"PCC_DEVICE": "cuda", "PCC_DTYPE": "bfloat16", "PCC_ATTN": "sdpa"})
>>> a.label()
'cuda-bfloat16-sdpa-tiny'
>>> a.describe()
'device cuda, dtype bfloat16, attention sdpa, size tiny'
>>> active({"PCC_DTYPE": "fp8"})
Traceback (most recent call last):
...
compat.testing.axes.AxesError: PCC_DTYPE='fp8': unknown dtype; expected one of: float32, bfloat16, float16
>>> active({"PCC_SIZE": "realistic"})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
compat.testing.axes.AxesError: PCC_SIZE=realistic needs PCC_DEVICE=cuda (the realistic profile is a GPU ...
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Mapping

from compat.errors import CompatError

__all__ = ["ATTNS", "DEVICES", "DTYPES", "ENV_VARS", "SIZES", "Axes", "AxesError", "active", "current",
           "device_check"]

DEVICES = ("cpu", "cuda")
DTYPES = ("float32", "bfloat16", "float16")
ATTNS = ("eager", "sdpa", "flash_attention_2", "flex_attention")
SIZES = ("tiny", "realistic")

#: axis -> (environment variable, allowed values, default)
ENV_VARS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "device": ("PCC_DEVICE", DEVICES, "cpu"),
    "dtype": ("PCC_DTYPE", DTYPES, "float32"),
    "attn": ("PCC_ATTN", ATTNS, "eager"),
    "size": ("PCC_SIZE", SIZES, "tiny"),
}


class AxesError(CompatError, ValueError):
    """An axis variable holds a value the suites cannot run on."""


@dataclasses.dataclass(frozen=True)
class Axes:
    """Where and how the suites' models run."""

    device: str = "cpu"
    dtype: str = "float32"
    attn: str = "eager"
    size: str = "tiny"

    def __post_init__(self) -> None:
        for axis, (var, allowed, _) in ENV_VARS.items():
            value = getattr(self, axis)
            if value not in allowed:
                raise AxesError(f"{var}={value!r}: unknown {axis}; expected one of: {', '.join(allowed)}")
        if self.size == "realistic" and self.device != "cuda":
            raise AxesError(
                "PCC_SIZE=realistic needs PCC_DEVICE=cuda (the realistic profile is a GPU profile: about "
                f"1.1 billion parameters per model); got PCC_DEVICE={self.device}")

    @property
    def is_default(self) -> bool:
        """The CPU fp32 eager tiny default (what CI runs)."""
        return self == Axes()

    @property
    def torch_dtype(self):
        import torch

        return getattr(torch, self.dtype)

    @property
    def torch_device(self):
        import torch

        return torch.device(self.device)

    def label(self) -> str:
        """``device-dtype-attn-size``: for file names and test reports."""
        return f"{self.device}-{self.dtype}-{self.attn}-{self.size}"

    def describe(self) -> str:
        """One line for reports."""
        return f"device {self.device}, dtype {self.dtype}, attention {self.attn}, size {self.size}"

    def to_json(self) -> dict[str, str]:
        return dataclasses.asdict(self)


def active(environ: Mapping[str, str] | None = None) -> Axes:
    """The axes named by the ``PCC_*`` variables of ``environ`` (default: ``os.environ``), validated."""
    environ = os.environ if environ is None else environ
    values = {}
    for axis, (var, _, default) in ENV_VARS.items():
        values[axis] = environ.get(var, "").strip() or default
    return Axes(**values)


@functools.lru_cache(maxsize=1)
def current() -> Axes:
    """:func:`active` for this process, read once (the suites build models once per process)."""
    return active()


def device_check(axes: Axes) -> str:
    """``""`` when this process can run on ``axes.device``, else why not (torch imported here).

    A CUDA run on a machine without CUDA is not applicable, never a CPU run under a CUDA label.
    """
    if axes.device == "cpu":
        return ""
    import torch

    if not torch.cuda.is_available():
        return (f"PCC_DEVICE=cuda but torch {torch.__version__} sees no CUDA device "
                f"(torch.version.cuda={torch.version.cuda})")
    return ""
