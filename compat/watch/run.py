"""One run of the release watch: resolve the newest releases, gate them against the default pins.

Steps, each its own function: read the default pins; ask the index for the newest
transformers and peft (:mod:`compat.watch.newest`); if both equal the pins,
the verdict is ``same`` with nothing to gate (no environment is built); else run
the gate from the pins to the newest (:mod:`compat.watch.gatecall`) and take its
verdict. Reports (:mod:`compat.watch.report`) are written when the run starts
(``running``) and when it ends, so a killed run never leaves a stale verdict.
The resolver, the gate runner and the clock are injectable.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path

from compat.gate.errors import GateError
from compat.gate.pins import REQUIRED, Pins, parse_pins
from compat.watch.errors import WatchError
from compat.watch.gatecall import GateRunner, call_gate, gate_argv, read_gate_report
from compat.watch.newest import Resolver
from compat.watch.report import write_reports
from compat.watch.result import Change, PackageUpdate, Status, Verdict, WatchResult

__all__ = ["Clock", "newest_updates", "parse_default_pins", "run_watch", "utc_now"]

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def parse_default_pins(pins: Sequence[str]) -> Pins:
    """The default pins (``compat.toolchain.default_pins``) as :class:`Pins`, or :class:`WatchError`."""
    try:
        return parse_pins(list(pins), "default pins ([tool.peft-cache-compat.default-pins] or PCC_PINS)")
    except GateError as exc:
        raise WatchError(str(exc)) from None


def newest_updates(baseline: Pins, resolve: Resolver) -> tuple[PackageUpdate, ...]:
    """Each gate axis (transformers, peft): its pin and the newest release the resolver reports."""
    return tuple(PackageUpdate(name, getattr(baseline, name), resolve(name)) for name in REQUIRED)


def _candidate(baseline: Pins, updates: Sequence[PackageUpdate]) -> Pins:
    """The newest releases, with the baseline's extra pins kept so only transformers/peft move."""
    newest = {u.name: u.newest for u in updates}
    return Pins(newest["transformers"], newest["peft"], baseline.extra)


def run_watch(
    pins: Sequence[str],
    *,
    resolve: Resolver,
    reports: str | Path,
    gate: GateRunner,
    gate_args: Sequence[str] = (),
    command: str = "nox -s watch",
    clock: Clock = utc_now,
) -> WatchResult:
    """Run the watch, write ``watch.{json,md}`` into ``reports`` and return the result."""
    started_at = clock()
    t0 = time.perf_counter()
    head = {"date": started_at.date().isoformat(), "started": started_at.isoformat(timespec="seconds"),
            "command": command}
    write_reports(WatchResult(**head, status=Status.RUNNING), reports)
    fields: dict = {}
    try:
        fields["baseline"] = baseline = parse_default_pins(pins)
        fields["updates"] = updates = newest_updates(baseline, resolve)
        fields["candidate"] = candidate = _candidate(baseline, updates)
        if all(u.change is Change.SAME for u in updates):
            fields.update(status=Status.VERDICT, verdict=Verdict.SAME)
        else:
            argv = gate_argv(baseline, candidate, reports, gate_args)
            fields["gated"] = True
            evidence = read_gate_report(Path(reports) / "gate.json", call_gate(gate, argv))
            fields.update(status=Status.VERDICT, verdict=evidence.verdict, gate=evidence)
    except WatchError as exc:
        fields.update(status=Status.ERROR, error=str(exc))
    except KeyboardInterrupt:
        fields.update(status=Status.ERROR, verdict=None, error="interrupted")
        write_reports(WatchResult(**head, **fields), reports)
        raise
    except Exception as exc:
        traceback.print_exc()
        fields.update(status=Status.ERROR, verdict=None, error=f"internal error: {type(exc).__name__}: {exc}")
    finished = clock().isoformat(timespec="seconds")
    result = WatchResult(**head, **fields, finished=finished, seconds=time.perf_counter() - t0)
    write_reports(result, reports)
    return result
