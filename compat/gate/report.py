"""Write ``reports/gate.json`` and ``reports/gate.md`` atomically (torch-free).

Three kinds of report, told apart by ``status`` in the JSON and by the first
line of the Markdown, so a report can never be mistaken for a verdict it is not:

* ``"status": "running"``: written when the gate starts, replacing any older
  report. A run that is killed leaves this behind, never a stale verdict.
* ``"status": "error"``: bad input or an unusable environment. There is no
  ``verdict`` key at all; the Markdown starts with ``ERROR (no verdict)``.
* ``"status": "verdict"``: ``verdict`` is ``same``, ``changed`` or ``broken``.

Each file is written to a temporary name in the same directory and renamed
over the old one (``os.replace``), so a reader sees a whole file or nothing new.

>>> md = render_markdown({"status": "error", "error": "--model /x: no such directory",
...                       "from": "transformers==1 peft==2", "to": "?"})
>>> md.splitlines()[0]
'## Upgrade gate: ERROR (no verdict)'
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["SCHEMA", "render_markdown", "write_reports"]

SCHEMA = 1
MAX_ROWS = 40
_ICON = {"same": "✅", "changed": "⚠️", "broken": "❌"}


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_reports(report: dict[str, Any], directory: Path) -> tuple[Path, Path]:
    """Write ``gate.json`` then ``gate.md`` into ``directory``; returns both paths."""
    report = {"schema": SCHEMA, **report}
    if report["status"] != "verdict":
        report.pop("verdict", None)
    directory = Path(directory)
    json_path, md_path = directory / "gate.json", directory / "gate.md"
    _atomic_write(json_path, json.dumps(report, indent=2, default=str) + "\n")
    _atomic_write(md_path, render_markdown(report))
    return json_path, md_path


def _esc(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _versions(side: dict[str, Any] | None) -> str:
    if not side:
        return "?"
    v = side.get("versions") or {}
    keys = ("transformers", "peft", "torch")
    return ", ".join(f"{k} {v[k]}" for k in keys if v.get(k)) or side.get("pins", "?")


def render_markdown(report: dict[str, Any]) -> str:
    """The Markdown report (fit for a PR comment or ``$GITHUB_STEP_SUMMARY``)."""
    status = report["status"]
    lines: list[str] = []
    if status == "running":
        lines += ["## Upgrade gate: RUNNING (no verdict yet)", "",
                  f"Started {report.get('started', '?')}: `{report.get('from', '?')}` → `{report.get('to', '?')}`.",
                  "If this is still here after the job ended, the gate was interrupted: it gave no verdict."]
        return "\n".join(lines) + "\n"
    if status == "error":
        lines += ["## Upgrade gate: ERROR (no verdict)", "",
                  f"`{report.get('from', '?')}` → `{report.get('to', '?')}`", "",
                  "```", str(report.get("error", "")), "```", "",
                  "The gate could not compare the two sides, so it says nothing about the upgrade. "
                  "Fix the input above and run it again (exit code 2)."]
        return "\n".join(lines) + "\n"
    verdict = report["verdict"]
    base, cand = report.get("baseline", {}), report.get("candidate", {})
    lines += [f"## Upgrade gate: {_ICON[verdict]} **{verdict}** (exit {report['exit_code']})", "",
              "| side | versions |", "|---|---|",
              f"| baseline (`--from`) | {_esc(_versions(base))} |",
              f"| candidate (`--to`) | {_esc(_versions(cand))} |", ""]
    golden = report.get("golden", {})
    counts = report.get("replay_counts", {})
    lines.append(
        f"**Golden replay** ({_esc(golden.get('what', ''))}): {report.get('recorded', 0)} golden(s) recorded on the "
        f"baseline; on the candidate: " + (", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "none replayed")
        + "."
    )
    suites = report.get("suites") or {}
    if suites:
        lines.append("")
        lines.append("**Suites**: " + "; ".join(
            f"{side}: {_suite_summary(info)}" for side, info in suites.items() if isinstance(info, dict)))
    findings = report.get("findings", [])
    lines.append("")
    if findings:
        lines += [f"### Findings ({len(findings)})", "", "| severity | where | evidence |", "|---|---|---|"]
        for f in findings[:MAX_ROWS]:
            lines.append(f"| {f['severity']} | `{_esc(f['where'])}` | {_esc(f['detail'])[:400]} |")
        if len(findings) > MAX_ROWS:
            lines.append(f"| … | {len(findings) - MAX_ROWS} more | see gate.json |")
    else:
        lines.append("No differences beyond tolerance; token ids identical.")
    not_compared = report.get("not_compared", [])
    if not_compared:
        lines += ["", f"<details><summary>Not compared ({len(not_compared)})</summary>", ""]
        lines += [f"- `{_esc(c['id'])}`: {c['status']}: {_esc(c['reason'])[:300]}" for c in not_compared]
        lines += ["", "</details>"]
    notes = report.get("notes", [])
    if notes:
        lines += ["", "**Notes**"] + [f"- {_esc(n)}" for n in notes]
    timings = report.get("timings", {})
    if timings:
        lines += ["", "Timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items())]
    if report.get("command"):
        lines += ["", f"Reproduce: `{report['command']}`"]
    return "\n".join(lines) + "\n"


def _suite_summary(info: dict[str, Any]) -> str:
    if info.get("status") not in ("pass", "fail"):
        return f"{info.get('status')} ({info.get('message', '')})"
    counts: dict[str, int] = {}
    for test in info.get("tests", {}).values():
        counts[test["outcome"]] = counts.get(test["outcome"], 0) + 1
    return ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
