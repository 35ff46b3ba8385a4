"""One matrix cell's result, typed: what was asked, what ran, what it came to.

Written to ``cells/<cell>.json`` by :mod:`compat.matrix.store` (schema
``peft-cache-compat/matrix-cell``, version 2: the layout the tool has written since 2026-11; the
typed form changed nothing on disk, so every stored cell loads as it is). Fields this version does
not know (a later tool's) are kept in ``extra`` and written back unchanged.

>>> r = CellResult.from_json({"cell": {"name": "c", "transformers": "5.23.0", "peft": "0.21.2"},
...                           "status": "fail", "tests": [{"nodeid": "t.py::a", "outcome": "failed"}],
...                           "counts": {}, "durations": {}, "installed": {}, "freeze": []})
>>> r.status, r.unexpected, r.tests[0].outcome, r.name
('fail', True, 'failed', 'c')
>>> CellResult.from_json(r.to_json()) == r
True
"""

from __future__ import annotations

import dataclasses
from typing import Any

from compat.suiterun.outcomes import FAILING, Status, TestResult

__all__ = ["CELL_SCHEMA", "SCHEMA_VERSION", "CellResult", "KnownSeen", "RawOutcome"]

CELL_SCHEMA = "peft-cache-compat/matrix-cell"
SCHEMA_VERSION = 2  # 2: raw outcome, run_fingerprint and known issues stored (--resume judges again)


@dataclasses.dataclass(frozen=True)
class RawOutcome:
    """The run's status before the cell's declarations were applied (``--resume`` judges it again)."""

    status: Status
    message: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", Status(self.status))


@dataclasses.dataclass(frozen=True)
class KnownSeen:
    """A known issue in the cell's range (its declaration) and how many failing tests it covered here."""

    id: str
    reason: str = ""
    tests: tuple[str, ...] = ()
    transformers: str = ""
    peft: str = ""
    source: str = ""
    match: str = ""
    failures: int = 0

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "tests": list(self.tests)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> KnownSeen:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{**{k: v for k, v in data.items() if k in known}, "tests": tuple(data.get("tests", ()))})


#: Keys serialised by hand (nested types); every other field is written as it is.
_NESTED = ("status", "raw", "known", "tests")
#: Keys written but not read back: the schema, and what follows from the other fields.
_DERIVED = ("schema", "schema_version", "unexpected")


@dataclasses.dataclass
class CellResult:
    """Everything a cell's JSON holds; the reports read this, never the raw dict."""

    cell: dict[str, Any]  # the cell as declared (compat.matrix.config.Cell.to_json)
    status: Status
    message: str = ""
    expected: bool = False  # a declaration covers this outcome
    raw: RawOutcome | None = None
    known: list[KnownSeen] = dataclasses.field(default_factory=list)
    explained: dict[str, list[str]] = dataclasses.field(default_factory=dict)  # failing test -> issue ids
    tests: list[TestResult] = dataclasses.field(default_factory=list)
    counts: dict[str, int] = dataclasses.field(default_factory=dict)
    durations: dict[str, float] = dataclasses.field(default_factory=dict)
    installed: dict[str, str | None] = dataclasses.field(default_factory=dict)
    freeze: list[str] = dataclasses.field(default_factory=list)
    files: dict[str, str | None] = dataclasses.field(default_factory=dict)
    probe: dict[str, Any] | None = None
    started: str = ""
    finished: str = ""
    cell_fingerprint: str = ""
    run_fingerprint: str = ""
    suite_digest: str = ""
    matrix: str = ""
    suite: list[str] = dataclasses.field(default_factory=list)
    suite_missing: list[str] = dataclasses.field(default_factory=list)
    suite_profile: str = ""
    suite_profile_description: str = ""
    suite_axes: dict[str, Any] = dataclasses.field(default_factory=dict)
    torch_spec: str = ""
    host: dict[str, Any] = dataclasses.field(default_factory=dict)
    env_reused: bool | None = None
    command: list[str] = dataclasses.field(default_factory=list)
    pytest_exit_code: int | None = None
    reused: dict[str, str] | None = None  # --incremental: the stored run this was reused from (key, file, when)
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)  # fields of a later schema, kept as read

    def __post_init__(self) -> None:
        self.status = Status(self.status)

    @property
    def name(self) -> str:
        return str(self.cell["name"])

    @property
    def unexpected(self) -> bool:
        """A failing status no declaration covers: it fails the run."""
        return self.status in FAILING and not self.expected

    def to_json(self) -> dict[str, Any]:
        """The cell's JSON document (schema name and version included)."""
        plain = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                 if f.name not in (*_NESTED, "extra")}
        return {
            **self.extra, **plain, "schema": CELL_SCHEMA, "schema_version": SCHEMA_VERSION,
            "status": self.status.value, "unexpected": self.unexpected,
            "raw": None if self.raw is None else {"status": self.raw.status.value, "message": self.raw.message},
            "known": [k.to_json() for k in self.known], "tests": [t.to_json() for t in self.tests],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CellResult:
        """A result from its JSON document (checked by :func:`compat.matrix.store.check_cell_result`)."""
        names = {f.name for f in dataclasses.fields(cls)}
        plain = {k: v for k, v in data.items() if k in names and k not in (*_NESTED, "extra")}
        raw = data.get("raw")
        extra = {k: v for k, v in data.items() if k not in names and k not in _DERIVED}
        return cls(
            **plain, status=data["status"], extra=extra,
            raw=RawOutcome(raw["status"], raw.get("message", "")) if isinstance(raw, dict) else None,
            known=[KnownSeen.from_json(k) for k in data.get("known") or []],
            tests=[TestResult.from_json(t) for t in data.get("tests", [])],
        )
