"""Typed census results: statuses, per-check / per-method / per-architecture records, and the
whole census, with explicit JSON (de)serialisation and a schema version.

>>> c = CheckResult("logits", Status.FAIL, "not close", 0.5)
>>> m = MethodResult("prefix", Status.FAIL, "1 of 1 checks failed", (c,))
>>> a = ArchResult("llama", "llama", "causal", "LlamaForCausalLM", Status.FAIL, "", 0.1, 0.2, 1000, (m,))
>>> ArchResult.from_json(a.to_json()) == a
True
>>> check_id("llama", "prefix", "logits")
'census[llama-prefix-logits]'
"""

from __future__ import annotations

import dataclasses
import enum

__all__ = ["SCHEMA", "SCHEMA_VERSION", "ArchResult", "Census", "CheckResult", "MethodResult", "Status",
           "check_id"]

SCHEMA = "peft-cache-compat/census"
SCHEMA_VERSION = 1


class Status(str, enum.Enum):
    """What one check, method or architecture came to."""

    PASS = "pass"
    FAIL = "fail"  # a check compared numbers and they differed, or the path raised
    KNOWN = "known"  # every failure is a declared known upstream issue (its id is recorded)
    NOT_APPLICABLE = "not-applicable"  # found by feature detection; the reason says what
    NOT_BUILDABLE = "not-buildable"  # the tiny model could not be built: counts against coverage


def check_id(arch: str, method: str, check: str) -> str:
    """The id a check has in the census and in known-issue globs (``*[gemma4-prefix-*``)."""
    return f"census[{arch}-{method}-{check}]"


@dataclasses.dataclass(frozen=True)
class CheckResult:
    check: str
    status: Status
    message: str = ""
    max_abs_diff: float | None = None
    known: tuple[str, ...] = ()  # ids of the known issues that explain a failure

    def to_json(self) -> dict:
        return {"check": self.check, "status": self.status.value, "message": self.message,
                "max_abs_diff": self.max_abs_diff, "known": list(self.known)}

    @classmethod
    def from_json(cls, d: dict) -> CheckResult:
        return cls(d["check"], Status(d["status"]), d.get("message", ""), d.get("max_abs_diff"),
                   tuple(d.get("known", ())))


@dataclasses.dataclass(frozen=True)
class MethodResult:
    method: str
    status: Status
    reason: str = ""
    checks: tuple[CheckResult, ...] = ()

    def to_json(self) -> dict:
        return {"method": self.method, "status": self.status.value, "reason": self.reason,
                "checks": [c.to_json() for c in self.checks]}

    @classmethod
    def from_json(cls, d: dict) -> MethodResult:
        return cls(d["method"], Status(d["status"]), d.get("reason", ""),
                   tuple(CheckResult.from_json(c) for c in d.get("checks", ())))


@dataclasses.dataclass(frozen=True)
class ArchResult:
    arch: str
    model_type: str
    mapping: str
    model_class: str
    status: Status
    reason: str
    build_seconds: float
    seconds: float
    parameters: int
    methods: tuple[MethodResult, ...] = ()

    def to_json(self) -> dict:
        return {"arch": self.arch, "model_type": self.model_type, "mapping": self.mapping,
                "model_class": self.model_class, "status": self.status.value, "reason": self.reason,
                "build_seconds": round(self.build_seconds, 4), "seconds": round(self.seconds, 4),
                "parameters": self.parameters, "methods": [m.to_json() for m in self.methods]}

    @classmethod
    def from_json(cls, d: dict) -> ArchResult:
        return cls(d["arch"], d["model_type"], d["mapping"], d["model_class"], Status(d["status"]),
                   d.get("reason", ""), d["build_seconds"], d["seconds"], d["parameters"],
                   tuple(MethodResult.from_json(m) for m in d.get("methods", ())))


@dataclasses.dataclass(frozen=True)
class Census:
    """One census run: versions, every architecture's result, and how long it took."""

    transformers: str
    peft: str
    torch: str
    generated: str
    wall_seconds: float
    workers: int
    archs: tuple[ArchResult, ...]
    known: tuple[dict, ...] = ()  # the declarations applied (compat.matrix.known.KnownIssue.to_json)

    def to_json(self) -> dict:
        return {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "transformers": self.transformers,
                "peft": self.peft, "torch": self.torch, "generated": self.generated,
                "wall_seconds": round(self.wall_seconds, 2), "workers": self.workers,
                "known": list(self.known), "archs": [a.to_json() for a in self.archs]}

    @classmethod
    def from_json(cls, d: dict) -> Census:
        if d.get("schema") != SCHEMA or d.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(f"not a census result of schema {SCHEMA} v{SCHEMA_VERSION}: "
                             f"found {d.get('schema')!r} v{d.get('schema_version')!r}")
        return cls(d["transformers"], d["peft"], d["torch"], d["generated"], d["wall_seconds"], d["workers"],
                   tuple(ArchResult.from_json(a) for a in d["archs"]), tuple(d.get("known", ())))
