"""Merged reports from per-cell results: ``matrix.json``, ``matrix.md`` and ``matrix.html``.

``matrix.md`` is GitHub-flavoured Markdown (fit for ``$GITHUB_STEP_SUMMARY``
or a PR comment); ``matrix.html`` is one self-contained page (no network) with
a heatmap of cells x family/method, click-through to failing tests, and each
cell's installed versions. jinja2 is imported only when HTML is written.

>>> cell = CellResult.from_json({"cell": {"name": "t5.23.0-p0.21.2", "transformers": "5.23.0",
...         "peft": "0.21.2", "expect": None, "reason": "", "tags": []}, "status": "pass", "message": "",
...         "counts": {"passed": 2, "failed": 0, "error": 0, "na": 1, "skipped": 0, "xfailed": 0,
...         "xpassed": 0, "ran": 2, "total": 3}, "durations": {"total": 9.5}, "tests": [],
...         "installed": {}, "unexpected": False})
>>> print(markdown([cell]).splitlines()[2])
| Cell | transformers | peft | Status | Passed | Failed | N/A | Time |
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import html
import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from compat.matrix.cellresult import CellResult
from compat.matrix.store import (
    CELL_SCHEMA,
    SCHEMA_VERSION,
    CellFileError,
    atomic_write_text,
    check_cell_result,
    find_cell_results,
    read_json_file,
)
from compat.suiterun.outcomes import TestResult

__all__ = [
    "MERGED_SCHEMA",
    "Found",
    "MergeError",
    "heatmap",
    "known_issues",
    "load_results",
    "markdown",
    "merged",
    "summary",
    "write_reports",
]

MERGED_SCHEMA = "peft-cache-compat/matrix"

_ICON = {
    "pass": "✅ pass", "fail": "❌ fail", "xfail": "☑️ xfail", "xpass": "⚠️ xpass",
    "not-applicable": "➖ n/a",
}


class MergeError(ValueError):
    """Some files could not be merged; ``problems`` has one line per file, each starting with its path."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


@dataclasses.dataclass
class Found:
    """What :func:`load_results` found: the cell results, and JSON files that are not cell results."""

    results: list[CellResult]
    ignored: list[Path]


def _is_cell_file(path: Path, data) -> bool:
    """A file in a ``cells/`` folder, or one that says it is a cell result, must be a usable one."""
    if path.parent.name == "cells":
        return True
    return isinstance(data, dict) and (data.get("schema") == CELL_SCHEMA or "cell" in data)


def load_results(folders) -> Found:
    """Per-cell results found under ``folders`` (see :func:`~compat.matrix.store.find_cell_results`).

    Every file that is unreadable (empty, truncated, not UTF-8, not JSON) or that should be a cell
    result and is not (a file under ``cells/``, or one with the cell schema or a ``cell`` key) is a
    problem: :class:`MergeError` lists them all, each with its path. Merged reports
    (``matrix.json``, by their schema, not their name) are skipped; other JSON documents (e.g.
    ``gate.json``) are returned in ``ignored``. The same cell found twice (e.g. two artifact
    folders) keeps the later-finished result.
    """
    by_name: dict[str, CellResult] = {}
    problems: list[str] = []
    ignored: list[Path] = []
    try:
        paths = find_cell_results(folders)
    except CellFileError as exc:
        raise MergeError([str(exc)]) from None
    for path in paths:
        try:
            data = read_json_file(path)
            if isinstance(data, dict) and data.get("schema") == MERGED_SCHEMA:
                continue
            if not _is_cell_file(path, data):
                ignored.append(path)
                continue
            result = check_cell_result(data, path)
        except CellFileError as exc:
            problems.append(str(exc))
            continue
        if result.name not in by_name or result.finished >= by_name[result.name].finished:
            by_name[result.name] = result
    if problems:
        raise MergeError(problems)
    return Found(_ordered(by_name.values()), ignored)


def _version_key(v: str):
    from packaging.version import InvalidVersion, Version

    try:
        return Version(v)
    except InvalidVersion:
        return Version("0")


def _ordered(results: Iterable[CellResult]) -> list[CellResult]:
    return sorted(
        results,
        key=lambda r: (_version_key(r.cell["transformers"]), _version_key(r.cell["peft"]), r.name),
    )


def summary(results: list[CellResult], *, strict: bool = False) -> dict[str, Any]:
    """Status counts, and the cells that make the run fail (unexpected failures; xpass if ``strict``)."""
    statuses = Counter(r.status.value for r in results)
    failing = [r.name for r in results if r.unexpected or (strict and r.status == "xpass")]
    return {"cells": len(results), "statuses": dict(sorted(statuses.items())), "failing_cells": failing,
            "ok": not failing}


def merged(results: list[CellResult], *, strict: bool = False) -> dict[str, Any]:
    """The ``matrix.json`` document."""
    return {
        "schema": MERGED_SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "generated": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "summary": summary(results, strict=strict),
        "cells": [r.to_json() for r in results],
    }


def _status_label(r: CellResult) -> str:
    label = _ICON.get(r.status.value, f"💥 {r.status}")
    if not r.unexpected and r.status.startswith("error") and r.expected:
        label += " (declared)"
    return label


def _cut(text: str, n: int = 300) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(results: list[CellResult], *, strict: bool = False, title: str = "transformers × peft matrix") -> str:
    """GitHub-flavoured summary: one row per cell, then failures, declarations and n/a reasons."""
    lines = [f"## {title}", "", *_cell_table(results, summary(results, strict=strict))]
    lines += _known_section(results)
    lines += _failures_section(results)
    lines += _skips_section(results)
    return "\n".join(lines) + "\n"


def _cell_table(results: list[CellResult], s: dict[str, Any]) -> list[str]:
    """One row per cell, then the run's result in one line."""
    lines = ["| Cell | transformers | peft | Status | Passed | Failed | N/A | Time |",
             "|---|---|---|---|---:|---:|---:|---:|"]
    for r in results:
        c, cell = r.counts, r.cell
        lines.append(
            f"| `{cell['name']}` | {cell['transformers']} | {cell['peft']} | {_status_label(r)} | "
            f"{c['passed']} | {c['failed'] + c['error']} | {c['na']} | {r.durations.get('total', 0):.0f} s"
            f"{_reused_note(r)} |"
        )
    total = sum(r.durations.get("total", 0) for r in results)
    verdict = "OK" if s["ok"] else f"FAILED: {', '.join(s['failing_cells'])}"
    counts = ", ".join(f"{v} {k}" for k, v in s["statuses"].items())
    reused = sum(1 for r in results if r.reused)
    again = f" {reused} of them reused from stored runs (`--incremental`: inputs unchanged), not run." if reused else ""
    return [*lines, "", f"**{s['cells']} cells: {counts}.** Run result: **{verdict}**. "
                        f"Cell time summed: {total:.0f} s.{again}", ""]


def _reused_note(r: CellResult) -> str:
    """Where a cell was not run but reused from a stored run (``--incremental``): say so, with its key."""
    if not r.reused:
        return ""
    return f" (reused: stored run `{r.reused.get('key')}` of {r.reused.get('finished') or '?'})"


def _failures_section(results: list[CellResult]) -> list[str]:
    """Every cell that did not pass: why, its declaration, and its failing tests (folded)."""
    problems = [r for r in results if r.status not in ("pass", "not-applicable")]
    if not problems:
        return []
    lines = ["### Failures and errors", ""]
    for r in problems:
        cell = r.cell
        head = f"`{cell['name']}`: {_status_label(r)} — {_md_cell(_cut(r.message, 400))}"
        bad = [t for t in r.tests if t.outcome in ("failed", "error")]
        if cell.get("expect"):
            head += f" _(declared {cell['expect']}: {_md_cell(cell['reason'])})_"
        if not bad:
            lines += [f"- {head}"]
            continue
        lines += [f"<details><summary>{html.escape(head)}</summary>", ""]
        for t in bad[:50]:
            lines.append(f"- `{t.nodeid}`: {_md_cell(_cut(t.message, 240))}")
        if len(bad) > 50:
            lines.append(f"- … and {len(bad) - 50} more")
        lines += ["", "</details>", ""]
    return [*lines, ""]


def _skips_section(results: list[CellResult]) -> list[str]:
    """Not-applicable and other skips over all cells: reason x count."""
    na: Counter[tuple[str, str]] = Counter()
    for r in results:
        for t in r.tests:
            if t.outcome in ("na", "skipped"):
                na[(t.outcome.value, _cut(t.message, 160))] += 1
    if not na:
        return []
    lines = ["<details><summary>Not applicable / skipped (reason × count over all cells)</summary>", "",
             "| Kind | Reason | Tests |", "|---|---|---:|"]
    for (kind, reason), n in na.most_common():
        lines.append(f"| {'n/a' if kind == 'na' else '**skipped**'} | {_md_cell(reason)} | {n} |")
    return [*lines, "", "</details>", ""]


def known_issues(results: list[CellResult]) -> list[dict[str, Any]]:
    """Every known issue met in ``results``: its declaration, the cells where it reproduced
    (with the number of failing tests it covered) and those where it did not."""
    issues: dict[str, dict[str, Any]] = {}
    for r in results:
        for k in r.known:
            declared = {f: getattr(k, f) for f in ("id", "reason", "transformers", "peft", "source")}
            entry = issues.setdefault(k.id, {**declared, "tests": list(k.tests), "reproduced": {},
                                             "not_reproduced": []})
            if k.failures:
                entry["reproduced"][r.name] = k.failures
            elif r.raw is not None and r.raw.status in ("pass", "fail"):  # an error cell ran nothing to judge
                entry["not_reproduced"].append(r.name)
    return sorted(issues.values(), key=lambda e: e["id"])


def _known_section(results: list[CellResult]) -> list[str]:
    issues = known_issues(results)
    if not issues:
        return []
    lines = ["### Known upstream issues", "",
             "| Issue | Range | Reproduced in (failing tests covered) | Did not reproduce in | Evidence |",
             "|---|---|---|---|---|"]
    for e in issues:
        rng = " ".join(f"{k} `{e[k]}`" for k in ("transformers", "peft") if e[k])
        seen = ", ".join(f"`{c}` ({n})" for c, n in e["reproduced"].items()) or "—"
        missed = ", ".join(f"`{c}`" for c in e["not_reproduced"]) or "—"
        lines.append(f"| `{e['id']}` | {rng} | {seen} | {missed} | {_md_cell(_cut(e['reason'], 600))} |")
    return [*lines, ""]


def heatmap(results: list[CellResult]) -> tuple[list[str], list[dict[str, Any]]]:
    """Columns (``family/method`` groups) and rows (per cell: status per group, with test lists).

    An id counts as ``family-method-check`` when its family occurs with at least two methods and
    its method with at least two families (so ``arity-1-...`` shim ids do not become columns);
    every other test is grouped by its module.
    """
    methods_of: defaultdict[str, set[str]] = defaultdict(set)
    families_of: defaultdict[str, set[str]] = defaultdict(set)
    for r in results:
        for t in r.tests:
            if t.family:
                methods_of[t.family].add(t.method)
                families_of[t.method].add(t.family)

    def group_of(t: TestResult) -> str:
        if t.family and len(methods_of[t.family]) > 1 and len(families_of[t.method]) > 1:
            return f"{t.family}/{t.method}"
        return t.nodeid.split("::")[0]

    groups = sorted({group_of(t) for r in results for t in r.tests})
    rows = []
    for r in results:
        by_group: dict[str, list[TestResult]] = defaultdict(list)
        for t in r.tests:
            by_group[group_of(t)].append(t)
        cells = {}
        for g in groups:
            tests = by_group.get(g, [])
            outcomes = Counter(t.outcome.value for t in tests)
            if not tests:
                state = "none"
            elif outcomes["failed"] or outcomes["error"]:
                state = "fail"
            elif outcomes["passed"] or outcomes["xfailed"] or outcomes["xpassed"]:
                state = "pass-na" if outcomes["na"] or outcomes["skipped"] else "pass"
            else:
                state = "na"
            maxima: dict[str, float] = {}
            for t in tests:
                if t.outcome == "passed":
                    for key, value in t.properties.items():
                        if key.startswith("max_") and isinstance(value, (int, float)):
                            maxima[key] = max(maxima.get(key, value), value)
            cells[g] = {"state": state, "counts": dict(outcomes), "tests": tests,
                        "passed_props": {k: float(f"{v:.3g}") for k, v in sorted(maxima.items())}}
        rows.append({"result": r, "groups": cells})
    return groups, rows


#: The page's template (package data). A backslash at a line's end joins the next line to it (the
#: page has no line break there).
_TEMPLATE = Path(__file__).with_name("matrix.html.j2")


def _template_text() -> str:
    return _TEMPLATE.read_text(encoding="utf-8").replace("\\\n", "")


def html_report(results: list[CellResult], doc: dict[str, Any], title: str = "transformers × peft matrix") -> str:
    """The self-contained HTML page (needs jinja2: ``pip install .[report]``)."""
    try:
        import jinja2
    except ImportError:
        raise SystemExit("compat.matrix: matrix.html needs jinja2 (pip install 'peft-cache-compat[report]')") from None
    groups, rows = heatmap(results)
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(_template_text()).render(title=title, doc=doc, groups=groups, rows=rows)


def write_reports(results: list[CellResult], out: Path, *, strict: bool = False) -> dict[str, Any]:
    """Write ``matrix.json``, ``matrix.md`` and ``matrix.html`` into ``out``; returns the merged doc."""
    out = Path(out)
    results = _ordered(results)
    doc = merged(results, strict=strict)
    atomic_write_text(out / "matrix.json", json.dumps(doc, indent=1, sort_keys=True))
    atomic_write_text(out / "matrix.md", markdown(results, strict=strict))
    atomic_write_text(out / "matrix.html", html_report(results, doc))
    return doc
