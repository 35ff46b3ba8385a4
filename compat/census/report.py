"""Census reports: ``census.json`` (the typed results plus a summary), ``census.md`` (counts,
heatmap table, findings, known issues, time distribution) and ``census.html`` (one
self-contained page: an architecture x method heatmap; jinja2, as the matrix's).

>>> from compat.census.results import ArchResult, MethodResult, Status
>>> a = ArchResult("llama", "llama", "causal", "LlamaForCausalLM", Status.PASS, "", 0.1, 0.5, 9,
...                (MethodResult("prefix", Status.PASS),))
>>> s = summary(Census("5.23.0", "0.21.2", "2.13.0", "now", 1.0, 2, (a,)))
>>> s["archs"], s["built"], s["arch_statuses"]
(1, 1, {'pass': 1})
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from pathlib import Path

from compat.census import outcomes
from compat.census.results import Census, Status
from compat.matrix.known import KnownIssue
from compat.tools.outputs import atomic_write_text

__all__ = ["markdown", "summary", "untriaged", "write_reports"]

_ICON = {"pass": "✅", "fail": "❌", "known": "☑️", "not-applicable": "➖", "not-buildable": "🧱"}
_TEMPLATE = Path(__file__).with_name("census.html.j2")


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def summary(c: Census) -> dict:
    """Counts per status (architectures and architecture x method), coverage and times."""
    archs = Counter(a.status.value for a in c.archs)
    cells = Counter(m.status.value for a in c.archs for m in a.methods)
    built = sum(a.status is not Status.NOT_BUILDABLE for a in c.archs)
    secs = [a.seconds for a in c.archs]
    known = sorted({k for a in c.archs for m in a.methods for ch in m.checks for k in ch.known})
    return {
        "archs": len(c.archs), "built": built,
        "built_pct": round(100.0 * built / len(c.archs), 1) if c.archs else 0.0,
        "arch_statuses": dict(sorted(archs.items())), "method_statuses": dict(sorted(cells.items())),
        "seconds": {"wall": round(c.wall_seconds, 1), "sum": round(sum(secs), 1),
                    "median": round(statistics.median(secs), 2) if secs else 0.0,
                    "p90": round(_quantile(secs, 0.9), 2), "max": round(max(secs, default=0.0), 2),
                    "slowest": [(a.arch, round(a.seconds, 1)) for a in sorted(c.archs, key=lambda a: -a.seconds)[:5]]},
        "known_seen": known,
        **_run_status(c),
    }


def _run_status(c: Census) -> dict[str, str]:
    """The census run's status in the words a matrix cell uses (:mod:`compat.census.outcomes`)."""
    issues = tuple(KnownIssue(**{**k, "tests": tuple(k["tests"])}) for k in c.known)
    run = outcomes.classification(c.archs, issues, (c.transformers, c.peft))
    return {"status": run.status.value, "status_message": run.message}


def _cut(text: str, n: int = 220) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= n else text[: n - 1] + "…"


def _methods(c: Census) -> list[str]:
    seen: list[str] = []
    for a in c.archs:
        for m in a.methods:
            if m.method not in seen:
                seen.append(m.method)
    return seen


def untriaged(c: Census) -> list[tuple[str, str, str]]:
    """Per architecture with failures no declaration explains: ``(arch, failing checks as
    method/check, the first such failure's message)`` (the check ids are ``census[arch-method-check]``)."""
    rows = []
    for a in c.archs:
        bad = [(m.method, ch) for m in a.methods for ch in m.checks if ch.status is Status.FAIL]
        if bad:
            checks = ", ".join(f"{method}/{ch.check}" for method, ch in bad)
            rows.append((a.arch, checks, bad[0][1].message))
    return rows


def markdown(c: Census) -> str:
    """The Markdown report."""
    s = summary(c)
    methods = _methods(c)
    lines = [f"## Architecture census: transformers {c.transformers} + peft {c.peft}", "",
             f"Generated {c.generated}; {s['archs']} architectures (causal-LM + seq2seq-LM auto mappings), "
             f"{s['built']} built tiny ({s['built_pct']} %); "
             f"wall time {s['seconds']['wall']} s with {c.workers} workers.",
             "", f"As a matrix cell with these outcomes: **{s['status']}** ({_cut(s['status_message'], 400)}).",
             "", "| status | architectures | architecture x method |", "|---|---:|---:|"]
    for st in Status:
        lines.append(f"| {_ICON[st.value]} {st.value} | {s['arch_statuses'].get(st.value, 0)} | "
                     f"{s['method_statuses'].get(st.value, 0)} |")
    t = s["seconds"]
    lines += ["", f"Time per architecture: median {t['median']} s, p90 {t['p90']} s, max {t['max']} s "
              f"(slowest: {', '.join(f'{a} {v} s' for a, v in t['slowest'])}); summed {t['sum']} s.", ""]
    lines += ["| architecture | class | " + " | ".join(methods) + " |", "|---|---|" + "---|" * len(methods)]
    for a in c.archs:
        by = {m.method: m.status.value for m in a.methods}
        if a.methods:
            cells = [_ICON.get(by.get(m, ""), "·") for m in methods]
        else:
            cells = [_ICON[a.status.value]] * len(methods)
        lines.append(f"| `{a.arch}` | {a.model_class} | " + " | ".join(cells) + " |")
    lines += ["", "### Not buildable", ""]
    lines += [f"- `{a.arch}`: {_cut(a.reason)}" for a in c.archs if a.status is Status.NOT_BUILDABLE] or ["- none"]
    lines += ["", "### Failures (untriaged unless a known issue is named)", ""]
    for a in c.archs:
        for m in a.methods:
            for ch in m.checks:
                if ch.status in (Status.FAIL, Status.KNOWN):
                    tag = f" — known: {', '.join(ch.known)}" if ch.known else ""
                    lines.append(f"- `census[{a.arch}-{m.method}-{ch.check}]`{tag}: {_cut(ch.message)}")
    lines += ["", "### Untriaged, by architecture", "",
              "| architecture | failing checks | first failure |", "|---|---|---|"]
    lines += [f"| `{a}` | {checks} | {_cut(msg, 300)} |" for a, checks, msg in untriaged(c)] or ["| none | | |"]
    lines += ["", "### Not applicable (reason x count)", "", "| reason | architecture x method |", "|---|---:|"]
    na = Counter(_cut(m.reason, 160) for a in c.archs for m in a.methods if m.status is Status.NOT_APPLICABLE)
    lines += [f"| {r} | {n} |" for r, n in na.most_common()]
    if c.known:
        lines += ["", "### Known upstream issues declared", "",
                  "| id | range | seen here | mechanism |", "|---|---|---|---|"]
        for k in c.known:
            rng = " ".join(f"{x} `{k[x]}`" for x in ("transformers", "peft") if k.get(x))
            seen = "yes" if k["id"] in s["known_seen"] else "no"
            lines.append(f"| `{k['id']}` | {rng} | {seen} | {_cut(k['reason'], 400)} |")
    return "\n".join(lines) + "\n"


def html(c: Census) -> str:
    """The self-contained HTML page (needs jinja2: ``pip install '.[report]'``)."""
    try:
        import jinja2
    except ImportError:
        raise SystemExit("compat.census: census.html needs jinja2 (pip install 'peft-cache-compat[report]')") from None
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(_TEMPLATE.read_text(encoding="utf-8")).render(
        c=c, s=summary(c), methods=_methods(c), icon=_ICON)


def write_reports(c: Census, out: Path) -> dict:
    """Write ``census.json``, ``census.md`` and ``census.html`` into ``out``; returns the summary."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    doc = {**c.to_json(), "summary": summary(c)}
    atomic_write_text(out / "census.json", json.dumps(doc, indent=1, sort_keys=True))
    atomic_write_text(out / "census.md", markdown(c))
    atomic_write_text(out / "census.html", html(c))
    return doc["summary"]
