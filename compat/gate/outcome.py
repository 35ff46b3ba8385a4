"""The verdict as ``reports/gate.json`` records it: what CI decides on, never an exit code.

An exit code can be lost on the way (``nox`` turns every failure into 1), and a killed gate has
none; the report always says what happened. ``python -m compat.gate.outcome [reports/gate.json]``
prints one word on stdout -- ``same``, ``changed``, ``broken`` or ``error`` -- and the reason on
stderr; it exits 0 whenever it could tell (``error`` included), so the caller branches on the word.

>>> import json, tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "gate.json"
>>> _ = path.write_text(json.dumps({"status": "verdict", "verdict": "changed", "exit_code": 1}))
>>> read_outcome(path).verdict
'changed'
>>> _ = path.write_text(json.dumps({"status": "running", "started": "2026-11-30T10:00:00+00:00"}))
>>> read_outcome(path)  # doctest: +NORMALIZE_WHITESPACE
Outcome(verdict='error',
        reason='the gate did not finish (the report still says running, started 2026-11-30T10:00:00+00:00)')
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from compat.gate.verdict import EXIT_CODES

__all__ = ["Outcome", "main", "read_outcome"]


@dataclasses.dataclass(frozen=True)
class Outcome:
    """``verdict``: ``same``/``changed``/``broken``, or ``error`` when there is none; ``reason``: why."""

    verdict: str
    reason: str


def read_outcome(path: str | Path) -> Outcome:
    """What ``gate.json`` at ``path`` says; a missing, unreadable or unfinished report is ``error``."""
    path = Path(path)
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Outcome("error", f"no gate report at {path}: the gate did not start")
    except (OSError, ValueError) as exc:
        return Outcome("error", f"{path}: unreadable gate report: {exc}")
    if not isinstance(report, dict):
        return Outcome("error", f"{path}: not a gate report (a JSON {type(report).__name__})")
    status = report.get("status")
    if status == "verdict" and report.get("verdict") in EXIT_CODES:
        return Outcome(report["verdict"], f"the gate decided {report['verdict']}")
    if status == "error":
        first = str(report.get("error", "")).strip().splitlines()[:1]
        return Outcome("error", f"no verdict: {first[0] if first else 'unknown error'}")
    if status == "running":
        return Outcome("error", f"the gate did not finish (the report still says running, started "
                                f"{report.get('started', '?')})")
    return Outcome("error", f"{path}: status {status!r} with verdict {report.get('verdict')!r} is not a gate "
                            f"result (expected status 'verdict' and one of {', '.join(EXIT_CODES)})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m compat.gate.outcome", description=__doc__.split("\n\n")[0])
    parser.add_argument("report", nargs="?", default="reports/gate.json", help="default: %(default)s")
    outcome = read_outcome(parser.parse_args(argv).report)
    print(outcome.verdict)
    print(f"gate outcome: {outcome.verdict}: {outcome.reason}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
