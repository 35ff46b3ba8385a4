"""``python -m compat.watch.check reports/watch.json``: the CI step that fails loudly.

Reads the verdict from ``watch.json`` (not from an exit code: ``nox`` reports
every failure as 1). Exit 0 only for ``same``; ``changed``, ``broken``, an error
report, a run that never finished (``running``), or a missing, unreadable or
foreign file exit 1 with a GitHub ``::error::`` line naming what was found.

>>> import json, pathlib, tempfile
>>> path = pathlib.Path(tempfile.mkdtemp()) / "watch.json"
>>> _ = path.write_text(json.dumps({"schema": "peft-cache-compat/watch", "schema_version": 1,
...                                 "status": "verdict", "verdict": "same", "new": []}))
>>> main([str(path)])
watch: same (new: nothing)
0
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from compat.watch.result import SCHEMA, SCHEMA_VERSION, Verdict

__all__ = ["main", "read_verdict"]


def read_verdict(path: Path) -> tuple[str, str]:
    """``(verdict or reason, detail)`` from a ``watch.json``; never raises for a bad file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "missing", f"{path} does not exist: the watch did not run or wrote nothing"
    except (OSError, ValueError) as exc:
        return "unreadable", f"{path}: {exc}"
    if not isinstance(data, dict) or data.get("schema") != SCHEMA or data.get("schema_version") != SCHEMA_VERSION:
        found = (data.get("schema"), data.get("schema_version")) if isinstance(data, dict) else type(data).__name__
        return "foreign", f"{path}: expected schema {SCHEMA!r} v{SCHEMA_VERSION}, found {found}"
    if data.get("status") != "verdict":
        return str(data.get("status")), str(data.get("error") or "no verdict")
    new = ", ".join(data.get("new") or []) or "nothing"
    return str(data.get("verdict")), f"new: {new}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m compat.watch.check",
                                description="Exit 0 only when watch.json holds the verdict 'same'.")
    p.add_argument("report", type=Path, nargs="?", default=Path("reports/watch.json"))
    ns = p.parse_args(argv)
    verdict, detail = read_verdict(ns.report)
    if verdict == Verdict.SAME.value:
        print(f"watch: same ({detail})")
        return 0
    print(f"::error title=release watch {verdict}::{detail} (see the job summary and the watch-report artifact)")
    return 1


if __name__ == "__main__":
    sys.exit(main())
