"""Run the upgrade gate through its own entry point and read its verdict back (torch-free).

The watch does not re-implement the gate: it calls :func:`compat.gate.cli.main`
(what ``nox -s gate`` runs) with ``--from`` = the default pins and ``--to`` = the
newest releases, and then reads ``gate.json``, the file the gate always writes,
as the source of the verdict. The runner is injectable (any ``argv -> exit code``).

>>> from compat.gate.pins import Pins
>>> gate_argv(Pins("5.23.0", "0.21.2"), Pins("5.24.0", "0.21.2"), "reports", ["--no-suites"])
... # doctest: +NORMALIZE_WHITESPACE
['--from', 'transformers==5.23.0', 'peft==0.21.2', '--to', 'transformers==5.24.0', 'peft==0.21.2',
 '--reports', 'reports', '--no-suites']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from compat.gate.pins import Pins
from compat.tools.jsonfiles import JsonFileError, read_json_object
from compat.watch.errors import WatchError
from compat.watch.result import Finding, GateEvidence, Verdict

__all__ = ["GATE_OWNED", "GateRunner", "call_gate", "gate_argv", "read_gate_report", "top_findings"]

#: ``argv -> exit code``; the default is :func:`compat.gate.cli.main`.
GateRunner = Callable[[list[str]], int]

#: Gate options the watch sets itself (argparse dest -> option); they cannot be passed through.
GATE_OWNED = {"from_pins": "--from", "to_pins": "--to", "from_python": "--from-python",
              "to_python": "--to-python", "reports": "--reports"}

#: How many findings the watch report repeats (the gate's reports have all of them).
TOP_FINDINGS = 10


def default_runner(argv: list[str]) -> int:
    """The gate's own command-line entry point, in this process."""
    from compat.gate.cli import main

    return main(argv)


def gate_argv(baseline: Pins, candidate: Pins, reports: str | Path, extra: Sequence[str] = ()) -> list[str]:
    """The gate's command line: default pins -> newest releases, reports next to the watch's."""
    return ["--from", *baseline.requirements(), "--to", *candidate.requirements(),
            "--reports", str(reports), *extra]


def call_gate(runner: GateRunner, argv: list[str]) -> int:
    """Run the gate; its ``argparse`` exit (bad options) becomes a :class:`WatchError`."""
    try:
        return int(runner(argv))
    except SystemExit as exc:
        raise WatchError(f"the gate refused its options {' '.join(argv)} (exit {exc.code}); "
                         "see 'python -m compat.gate --help'") from None


def _load(path: Path) -> dict[str, Any]:
    try:
        return read_json_object(path)
    except JsonFileError as exc:
        if exc.missing:
            raise WatchError(f"the gate wrote no report at {path}; expected gate.json with its verdict") from None
        raise WatchError(f"cannot read the gate's report: {exc}") from None


def _suite_counts(suites: dict[str, Any]) -> dict[str, dict[str, int]]:
    return {side: dict(info.get("counts") or {}) if isinstance(info, dict) else {}
            for side, info in suites.items()}


def top_findings(findings: Sequence[Finding], limit: int = TOP_FINDINGS) -> tuple[Finding, ...]:
    """Up to ``limit`` findings taken in turn from each severity/kind group, in the gate's order.

    The gate lists the most severe first; taking turns keeps, e.g., a replay's
    changed generations visible next to hundreds of suite failures.

    >>> fs = [Finding("broken", "suite", f"s{i}", "") for i in range(5)] + [Finding("changed", "replay", "r0", "")]
    >>> [f.where for f in top_findings(fs, 3)]
    ['s0', 'r0', 's1']
    """
    groups: dict[str, list[Finding]] = {}
    for f in findings:
        groups.setdefault(f.group, []).append(f)
    picked: list[Finding] = []
    for rank in range(limit):
        picked += [g[rank] for g in groups.values() if rank < len(g)]
    return tuple(picked[:limit])


def read_gate_report(path: Path, exit_code: int) -> GateEvidence:
    """The verdict and a summary of the evidence from ``gate.json``; no verdict -> :class:`WatchError`."""
    data = _load(path)
    status = data.get("status")
    if status == "error":
        raise WatchError(f"the gate gave no verdict: {data.get('error', 'no message')}")
    if status != "verdict":
        raise WatchError(f"{path}: status {status!r} (the gate did not finish); expected a verdict")
    try:
        verdict = Verdict(data.get("verdict"))
    except ValueError:
        raise WatchError(f"{path}: verdict {data.get('verdict')!r}; expected one of "
                         f"{', '.join(v.value for v in Verdict)}") from None
    findings = [Finding(f["severity"], f["kind"], f["where"], f["detail"]) for f in data.get("findings") or []]
    by_group: dict[str, int] = {}
    for f in findings:
        by_group[f.group] = by_group.get(f.group, 0) + 1
    return GateEvidence(
        verdict=verdict,
        exit_code=exit_code,
        recorded=int(data.get("recorded", 0)),
        replay_counts=dict(data.get("replay_counts") or {}),
        findings=by_group,
        adapter_ignored=tuple(f["where"] for f in data.get("findings") or []
                              if (f.get("evidence") or {}).get("candidate_equals_base_model")),
        top=top_findings(findings),
        suites=_suite_counts(data.get("suites") or {}),
        notes=tuple(data.get("notes") or ()),
        report=str(path.with_suffix(".md")),
    )
