"""Typed results of the release watch, and their JSON (schema ``peft-cache-compat/watch`` v1).

>>> up = PackageUpdate("transformers", pinned="5.23.0", newest="5.24.0")
>>> up.change
<Change.NEWER: 'newer'>
>>> Verdict.BROKEN.exit_code, Verdict.SAME.exit_code
(2, 0)
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import Any

from packaging.version import Version

from compat.gate import EXIT_CODES, EXIT_ERROR
from compat.gate.pins import Pins

__all__ = [
    "SCHEMA",
    "SCHEMA_VERSION",
    "Change",
    "Finding",
    "GateEvidence",
    "PackageUpdate",
    "Status",
    "Verdict",
    "WatchResult",
]

SCHEMA = "peft-cache-compat/watch"
SCHEMA_VERSION = 1


class Verdict(enum.Enum):
    """The gate's verdicts; exit codes as :data:`compat.gate.EXIT_CODES` documents them."""

    SAME = "same"
    CHANGED = "changed"
    BROKEN = "broken"

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.value]


class Status(enum.Enum):
    """What a ``watch.json`` is: a run in progress, a verdict, or an error (no verdict)."""

    RUNNING = "running"
    VERDICT = "verdict"
    ERROR = "error"


class Change(enum.Enum):
    """How the newest release on the index compares with the pinned one."""

    SAME = "same"
    NEWER = "newer"
    OLDER = "older"  # the index's newest is below the pin (yanked, or not for this Python)


@dataclasses.dataclass(frozen=True)
class PackageUpdate:
    """One distribution: its default pin and the newest release on the index."""

    name: str
    pinned: str
    newest: str

    @property
    def change(self) -> Change:
        pinned, newest = Version(self.pinned), Version(self.newest)
        if newest == pinned:
            return Change.SAME
        return Change.NEWER if newest > pinned else Change.OLDER

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "pinned": self.pinned, "newest": self.newest, "change": self.change.value}


@dataclasses.dataclass(frozen=True)
class Finding:
    """One piece of the gate's evidence (``severity``: changed/broken; ``kind``: replay/suite)."""

    severity: str
    kind: str
    where: str
    detail: str

    @property
    def group(self) -> str:
        """``severity/kind``, e.g. ``changed/replay``."""
        return f"{self.severity}/{self.kind}"


@dataclasses.dataclass(frozen=True)
class GateEvidence:
    """What ``gate.json`` says, in brief; the full evidence stays in ``gate.md``/``gate.json``."""

    verdict: Verdict
    exit_code: int  # as the gate returned it
    recorded: int  # goldens recorded on the baseline
    replay_counts: Mapping[str, int]  # cases by status on the candidate
    findings: Mapping[str, int]  # findings by "severity/kind", e.g. "changed/replay"
    adapter_ignored: tuple[str, ...]  # outputs whose generation equals the base model's own (prefix/prompt dropped)
    top: tuple[Finding, ...]  # a few findings of each severity/kind, most severe first
    suites: Mapping[str, Mapping[str, int]]  # side -> tests by outcome
    notes: tuple[str, ...]
    report: str  # path of gate.md

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["verdict"] = self.verdict.value
        return data


@dataclasses.dataclass(frozen=True)
class WatchResult:
    """One run of the watch. ``verdict`` is set only when ``status`` is :attr:`Status.VERDICT`."""

    date: str  # UTC, YYYY-MM-DD
    started: str  # UTC, ISO 8601
    command: str
    status: Status
    baseline: Pins | None = None  # the default pins
    candidate: Pins | None = None  # the newest releases (plus the baseline's extra pins)
    updates: tuple[PackageUpdate, ...] = ()
    verdict: Verdict | None = None
    gated: bool = False  # False: the gate was not run (nothing new, or an error before it)
    gate: GateEvidence | None = None
    error: str | None = None
    finished: str | None = None
    seconds: float | None = None

    def __post_init__(self):
        if (self.verdict is None) == (self.status is Status.VERDICT):
            want = "a verdict" if self.status is Status.VERDICT else "verdict=None"
            raise ValueError(f"a {self.status.value!r} result needs {want}, got {self.verdict}")

    @property
    def exit_code(self) -> int:
        """0 same, 1 changed, 2 broken; 2 without a verdict (error, or still running)."""
        return self.verdict.exit_code if self.verdict else EXIT_ERROR

    @property
    def new(self) -> tuple[str, ...]:
        """The distributions with a release newer than the default pin."""
        return tuple(u.name for u in self.updates if u.change is Change.NEWER)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "date": self.date,
            "started": self.started,
            "finished": self.finished,
            "seconds": None if self.seconds is None else round(self.seconds, 1),
            "command": self.command,
            "status": self.status.value,
            "verdict": self.verdict.value if self.verdict else None,
            "exit_code": self.exit_code,
            "baseline": str(self.baseline) if self.baseline else None,
            "candidate": str(self.candidate) if self.candidate else None,
            "new": list(self.new),
            "updates": [u.to_json() for u in self.updates],
            "gated": self.gated,
            "gate": self.gate.to_json() if self.gate else None,
            "error": self.error,
        }
