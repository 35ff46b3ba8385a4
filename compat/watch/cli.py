"""``python -m compat.watch`` / ``peft-cache-compat watch`` / ``nox -s watch``: the release watch.

    nox -s watch                              # default pins -> newest transformers + peft on the index
    nox -s watch -- --no-suites --work DIR    # options the watch does not know go to the gate

Writes ``reports/watch.{json,md}`` (and, when it gates, the gate's
``reports/gate.{json,md}``). Exit codes as the gate's: 0 ``same``, 1 ``changed``,
2 ``broken``, and 2 with an error report when no verdict could be given.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence

from compat import resources
from compat.toolchain import default_pins
from compat.watch.errors import WatchError
from compat.watch.gatecall import GATE_OWNED, GateRunner, default_runner
from compat.watch.newest import Resolver, uv_resolver
from compat.watch.report import write_reports
from compat.watch.result import Status, WatchResult
from compat.watch.run import Clock, run_watch, utc_now

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m compat.watch", allow_abbrev=False,
        description="Release watch: resolve the newest transformers and peft on the package index and run the "
                    "upgrade gate from the default pins ([tool.peft-cache-compat.default-pins], or PCC_PINS) to "
                    "them. Writes reports/watch.{json,md}. Exit 0 same, 1 changed, 2 broken; 2 with an error "
                    "report when there is no verdict. Any other option is passed to the gate "
                    "(python -m compat.gate --help), e.g. --no-suites, --work DIR, --timeout S.",
    )
    p.add_argument("--reports", default=str(resources.reports_dir()), metavar="DIR",
                   help="where watch.{json,md} and the gate's gate.{json,md} go (default: reports/)")
    return p


def check_gate_args(extra: Sequence[str]) -> list[str]:
    """Options for the gate, checked by the gate's own parser; the watch sets --from/--to/--reports."""
    from compat.gate.cli import build_parser as gate_parser

    parser = gate_parser()
    try:
        ns = parser.parse_args(list(extra))
    except SystemExit:
        raise WatchError(f"options not understood by the watch or the gate: {shlex.join(extra)}; "
                         "see 'python -m compat.watch --help'") from None
    owned = [option for dest, option in GATE_OWNED.items() if getattr(ns, dest) != parser.get_default(dest)]
    if owned:
        raise WatchError(f"{', '.join(owned)}: the watch sets this itself (from the default pins to the newest "
                         "releases, reports into --reports); remove it")
    return list(extra)


def main(
    argv: list[str] | None = None,
    *,
    resolve: Resolver | None = None,
    gate: GateRunner | None = None,
    clock: Clock = utc_now,
    prog: str | None = None,
) -> int:
    """Run the watch; ``prog``: how it was started (for the report's reproduce line), else nox."""
    argv = list(sys.argv[1:] if argv is None else argv)
    ns, extra = build_parser().parse_known_args(argv)
    if prog:
        command = " ".join([prog, shlex.join(argv)]) if argv else prog
    else:
        command = "nox -s watch" + (" -- " + shlex.join(argv) if argv else "")
    try:
        gate_args = check_gate_args(extra)
        resolve = resolve or uv_resolver()
    except WatchError as exc:
        now = clock()
        result = WatchResult(date=now.date().isoformat(), started=now.isoformat(timespec="seconds"),
                             command=command, status=Status.ERROR, error=str(exc))
        write_reports(result, ns.reports)
    else:
        result = run_watch(default_pins(), resolve=resolve, reports=ns.reports, gate=gate or default_runner,
                           gate_args=gate_args, command=command, clock=clock)
    if result.error:
        print(f"watch: error: {result.error}", file=sys.stderr)
    news = ", ".join(f"{u.name} {u.pinned} -> {u.newest}" for u in result.updates) or "nothing resolved"
    verdict = result.verdict.value if result.verdict else "no verdict"
    print(f"watch {result.date}: {news}: {verdict} (exit {result.exit_code}); "
          f"reports: {ns.reports}/watch.md, watch.json")
    return result.exit_code
