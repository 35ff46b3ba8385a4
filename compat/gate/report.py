"""Write ``reports/gate.json`` and ``reports/gate.md`` atomically (torch-free).

Three kinds of report, told apart by ``status`` in the JSON and by the first
line of the Markdown, so a report can never be mistaken for a verdict it is not:

* ``"status": "running"``: written when the gate starts, replacing any older
  report. A run that is killed leaves this behind, never a stale verdict.
* ``"status": "error"``: bad input or an unusable environment. There is no
  ``verdict`` key at all; the Markdown starts with ``ERROR (no verdict)``.
* ``"status": "verdict"``: ``verdict`` is ``same``, ``changed`` or ``broken``.

Each file is written to a temporary name in the same directory and renamed
over the old one (:func:`compat.tools.outputs.atomic_write_text`), so a reader sees a whole
file or nothing new; a write that fails raises one ``OutputError`` line and leaves no partial file.

>>> md = render_markdown({"status": "error", "error": "--model /x: no such directory",
...                       "from": "transformers==1 peft==2", "to": "?"})
>>> md.splitlines()[0]
'## Upgrade gate: ERROR (no verdict)'
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from compat.tools.outputs import atomic_write_text

__all__ = ["SCHEMA", "render_markdown", "write_reports"]

SCHEMA = 1
MAX_ROWS = 40
_ICON = {"same": "✅", "changed": "⚠️", "broken": "❌"}


def write_reports(report: dict[str, Any], directory: Path) -> tuple[Path, Path]:
    """Write ``gate.json`` then ``gate.md`` into ``directory``; returns both paths."""
    report = {"schema": SCHEMA, **report}
    if report["status"] != "verdict":
        report.pop("verdict", None)
    directory = Path(directory)
    json_path, md_path = directory / "gate.json", directory / "gate.md"
    atomic_write_text(json_path, json.dumps(report, indent=2, default=str) + "\n")
    atomic_write_text(md_path, render_markdown(report))
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
    lines.append("")
    lines += _replay_tables(report.get("replay") or {})
    suite_findings = [f for f in report.get("findings", []) if f["kind"] == "suite"]
    other = [f for f in report.get("findings", []) if f["kind"] == "replay" and f["where"] == "candidate environment"]
    for f in other:
        lines += [f"**{f['severity']}**: {_esc(f['detail'])[:600]}", ""]
    if suite_findings:
        lines += [f"### Suite tests that passed on the baseline and not on the candidate ({len(suite_findings)})", "",
                  "| severity | test | candidate |", "|---|---|---|"]
        for f in suite_findings[:MAX_ROWS]:
            lines.append(f"| {f['severity']} | `{_esc(f['where'])}` | {_esc(f['detail'])[:300]} |")
        if len(suite_findings) > MAX_ROWS:
            lines.append(f"| … | {len(suite_findings) - MAX_ROWS} more | see gate.json |")
        lines.append("")
    if not report.get("findings"):
        tied = any(d.get("near_ties") for c in (report.get("replay") or {}).get("cases", [])
                   for d in c.get("outputs", []))
        lines += ["No differences beyond tolerance; token ids identical"
                  + (" up to the near ties listed above." if tied else "."), ""]
    not_compared = report.get("not_compared", [])
    if not_compared:
        lines += ["", f"<details><summary>Not compared ({len(not_compared)})</summary>", ""]
        lines += [f"- `{_esc(c['id'])}`: " + (_esc(c["reason"]) if str(c["reason"]).startswith(c["status"])
                                                 else f"{c['status']}: {_esc(c['reason'])}")[:300]
                  for c in not_compared]
        lines += ["", "</details>"]
    notes = report.get("notes", [])
    if notes:
        lines += ["", "**Notes**"] + [f"- {_esc(n)}" for n in notes]
    timings = report.get("timings", {})
    if timings:
        lines += ["", "Timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items())]
    reproduce = report.get("reproduce") or report.get("command")
    if reproduce:
        lines += ["", f"Reproduce: `{reproduce}`"]
    return "\n".join(lines) + "\n"


def _unchanged_cell(diffs: list[dict[str, Any]], same: str) -> str | None:
    """The cell text when nothing changed (or nothing ran); None when something changed."""
    if not diffs:
        return "–"
    if any(d["status"] == "error" for d in diffs):
        return "raised"
    if any(d["status"] == "changed" for d in diffs):
        return None
    if any(d["status"] == "not-compared" for d in diffs):
        return "not compared (raised on the baseline)"
    return same


def _float_cell(diffs: list[dict[str, Any]]) -> str:
    same = "same (bitwise)" if all(d.get("bitwise") for d in diffs) else "within tolerance"
    text = _unchanged_cell(diffs, same)
    if text is not None:
        return text
    changed = [d for d in diffs if d["status"] == "changed"]
    worst = max(changed, key=lambda d: d.get("max_abs", float("inf")))
    if worst.get("reason"):
        return _esc(worst["reason"])
    return f"**max abs {worst['max_abs']:.3g}**, rel {worst['max_rel']:.3g} at {worst['where']}"


def _token_cell(diffs: list[dict[str, Any]], groups: int) -> str:
    text = _unchanged_cell(diffs, "same")
    if text is not None:
        return text
    changed = [d for d in diffs if d["status"] == "changed"]
    first = min(changed, key=lambda d: d.get("first_step", 0))
    if "golden_token" not in first:
        return _esc(first.get("reason", "changed"))
    where = f"{first['output'].split('.')[0]} " if groups > 1 else ""
    text = f"**{where}step {first['first_step']}**: {first['golden_token']}→{first['candidate_token']}"
    if any(d.get("candidate_equals_base_model") for d in changed):
        text += " (= base model without adapter)"
    return text


def _replay_tables(replay: dict[str, Any]) -> list[str]:
    """One row per case that differs: logits (adapter, base model) and the first differing step."""
    cases = replay.get("cases", [])
    raised = []
    for c in cases:
        if c["status"] == "error" and not c.get("outputs"):
            raised.append((c["id"], "(loading / whole case)", c.get("reason", "")))
        errs = {d["output"]: d["reason"] for d in c.get("outputs", []) if d["status"] == "error"}
        raised += [(c["id"], o, r) for o, r in errs.items()
                   if not (o.endswith("_scores") and errs.get(o[: -len("_scores")]) == r)]
    changed = [c for c in cases if any(d["status"] == "changed" for d in c.get("outputs", []))]
    lines: list[str] = []
    if raised:
        lines += [f"### Raised on the candidate, not on the baseline ({len(raised)})", "",
                  "| case | output | exception |", "|---|---|---|"]
        lines += [f"| `{_esc(i)}` | {_esc(o)} | {_esc(r)[:400]} |" for i, o, r in raised[:MAX_ROWS]]
        if len(raised) > MAX_ROWS:
            lines.append(f"| … | {len(raised) - MAX_ROWS} more | see gate.json |")
        lines.append("")
    if changed:
        replayed = sum(c["status"] in ("same", "changed", "error") for c in cases)
        lines += [f"### Numbers that changed ({len(changed)} of {replayed} replayed cases)", "",
                  "| case | logits with adapter | base-model logits | greedy | beam | sampling |",
                  "|---|---|---|---|---|---|"]
        for case in changed[:MAX_ROWS]:
            outs = case.get("outputs", [])
            groups = len({d["output"].split(".")[0] for d in outs})

            def pick(suffix: str, outs: list[dict[str, Any]] = outs) -> list[dict[str, Any]]:
                return [d for d in outs if d["output"].endswith("." + suffix)]

            lines.append(
                f"| `{_esc(case['id'])}` | {_float_cell(pick('logits'))} | {_float_cell(pick('base_logits'))} | "
                f"{_token_cell(pick('greedy'), groups)} | {_token_cell(pick('beam'), groups)} | "
                f"{_token_cell(pick('sample'), groups)} |")
        if len(changed) > MAX_ROWS:
            lines.append(f"| … | {len(changed) - MAX_ROWS} more | see gate.json | | | |")
        lines += ["", "Steps count generated tokens from 0; `a→b`: the baseline's token, then the candidate's; "
                  "\"= base model without adapter\": the candidate's generation is exactly the base model's own.", ""]
    return lines + _near_tie_table(cases)


def _near_tie_table(cases: list[dict[str, Any]]) -> list[str]:
    """Rows compared only up to a near tie (half precision, :mod:`compat.tolerance`): not counted."""
    ties = [(c["id"], d["output"], tie) for c in cases for d in c.get("outputs", []) for tie in d.get("near_ties", [])]
    if not ties:
        return []
    lines = [f"### Near ties: compared up to the tie, not counted ({len(ties)})", "",
             "| case | output | row and why |", "|---|---|---|"]
    lines += [f"| `{_esc(i)}` | {_esc(o)} | {_esc(t)} |" for i, o, t in ties[:MAX_ROWS]]
    if len(ties) > MAX_ROWS:
        lines.append(f"| … | {len(ties) - MAX_ROWS} more | see gate.json |")
    return [*lines, ""]


def _suite_summary(info: dict[str, Any]) -> str:
    if info.get("status") not in ("pass", "fail"):
        return f"{info.get('status')} ({info.get('message', '')})"
    counts = dict(info.get("counts") or {})
    for test in info.get("tests", {}).values():
        counts[test["outcome"]] = counts.get(test["outcome"], 0) + 1
    return ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
