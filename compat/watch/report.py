"""Write ``watch.json`` and ``watch.md`` atomically (torch-free).

``watch.json`` (schema ``peft-cache-compat/watch`` v1) carries ``status``
(``running`` / ``verdict`` / ``error``) and ``verdict`` (``same`` / ``changed`` /
``broken``, or ``null`` without a verdict), so CI reads the verdict from the
file. The Markdown's first line says the same thing, dated.

>>> from compat.watch.result import Status, WatchResult
>>> r = WatchResult(date="2026-11-30", started="2026-11-30T06:00:00+00:00", command="nox -s watch",
...                 status=Status.ERROR, error="transformers: the package index did not answer")
>>> render_markdown(r).splitlines()[0]
'## Release watch 2026-11-30: ERROR (no verdict)'
"""

from __future__ import annotations

import json
from pathlib import Path

from compat.tools.outputs import atomic_write_text
from compat.watch.result import Change, GateEvidence, Status, WatchResult

__all__ = ["render_markdown", "write_reports"]

_ICON = {"same": "✅", "changed": "⚠️", "broken": "❌"}
_CHANGE = {Change.SAME: "same", Change.NEWER: "**new**", Change.OLDER: "older than the pin"}


def write_reports(result: WatchResult, directory: str | Path) -> tuple[Path, Path]:
    """Write ``watch.json`` then ``watch.md`` into ``directory``; returns both paths."""
    directory = Path(directory)
    json_path, md_path = directory / "watch.json", directory / "watch.md"
    atomic_write_text(json_path, json.dumps(result.to_json(), indent=2) + "\n")
    atomic_write_text(md_path, render_markdown(result))
    return json_path, md_path


def _esc(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _counts(counts: dict[str, int] | object) -> str:
    return ", ".join(f"{v} {k}" for k, v in sorted(dict(counts).items())) or "none"


def _versions_table(result: WatchResult) -> list[str]:
    lines = ["| package | default pin | newest on the index | |", "|---|---|---|---|"]
    lines += [f"| {u.name} | {u.pinned} | {u.newest} | {_CHANGE[u.change]} |" for u in result.updates]
    return [*lines, ""]


def _evidence(gate: GateEvidence) -> list[str]:
    lines = [f"**Gate**: {_ICON[gate.verdict.value]} **{gate.verdict.value}** "
             f"(the gate exited {gate.exit_code}). {gate.recorded} golden(s) recorded on the default pins; "
             f"replayed on the newest: {_counts(gate.replay_counts)}. Findings: {_counts(gate.findings)}."]
    if gate.adapter_ignored:
        lines += ["", f"**{len(gate.adapter_ignored)} generation(s) with the adapter equal the base model's own "
                      "generation without it** (the prefix/prompt is dropped): "
                      + ", ".join(f"`{_esc(w)}`" for w in gate.adapter_ignored[:30])
                      + (f" and {len(gate.adapter_ignored) - 30} more" if len(gate.adapter_ignored) > 30 else "") + "."]
    if gate.suites:
        lines += ["", "**Suites**: " + "; ".join(f"{side}: {_counts(c)}" for side, c in gate.suites.items())]
    if gate.top:
        lines += ["", f"| severity | kind | where | evidence ({len(gate.top)} of {sum(gate.findings.values())}) |",
                  "|---|---|---|---|"]
        lines += [f"| {f.severity} | {f.kind} | `{_esc(f.where)}` | {_esc(f.detail)[:300]} |" for f in gate.top]
    if gate.notes:
        lines += ["", "**Notes from the gate**", *(f"- {_esc(n)}" for n in gate.notes)]
    return [*lines, "", f"Full evidence: `{gate.report}` and `gate.json` next to it.", ""]


def render_markdown(result: WatchResult) -> str:
    """The dated Markdown report (fit for ``$GITHUB_STEP_SUMMARY``)."""
    head = f"## Release watch {result.date}: "
    if result.status is Status.RUNNING:
        return (head + "RUNNING (no verdict yet)\n\nStarted " + result.started
                + ". If this is still here after the job ended, the watch was interrupted: it gave no verdict.\n")
    lines = [head + ("ERROR (no verdict)" if result.verdict is None else
                     f"{_ICON[result.verdict.value]} **{result.verdict.value}** (exit {result.exit_code})"), ""]
    if result.updates:
        lines += _versions_table(result)
    if result.baseline and result.candidate:
        lines += [f"`{result.baseline}` → `{result.candidate}`", ""]
    if result.error:
        lines += ["```", result.error, "```", "",
                  "The watch could not say whether the newest releases change anything (exit 2).", ""]
    elif not result.gated:
        lines += ["The newest releases on the index are the default pins: nothing new, nothing to gate "
                  "(no environment built).", ""]
    if result.gate:
        lines += _evidence(result.gate)
    if result.seconds is not None:
        lines.append(f"Started {result.started}, took {result.seconds:.0f} s.")
    lines.append(f"Reproduce: `{result.command}`")
    return "\n".join(lines) + "\n"
