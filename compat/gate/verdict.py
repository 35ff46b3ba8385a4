"""Turn the golden replay and the suites' outcomes into one verdict (torch-free).

* ``same`` (exit 0): every recorded golden replayed within tolerance (token ids
  exact) and no suite test regressed.
* ``changed`` (exit 1): numbers differ beyond tolerance (which output, how much,
  for generations the first differing step), or a suite test that passed now
  fails an assertion.
* ``broken`` (exit 2): the candidate raises where the baseline did not (loading
  the saved weights, forward, generate, a suite test's exception, a suite that
  could not run at all).

A verdict needs evidence: when the baseline recorded no golden at all the gate
raises :class:`~compat.gate.errors.GateError` (exit 2, an *error* report, no verdict).

>>> manifest = {"cases": [{"id": "gpt2-prefix", "status": "recorded"}]}
>>> replay = {"cases": [{"id": "gpt2-prefix", "status": "changed", "outputs": [
...     {"output": "g0.greedy", "status": "changed", "kind": "tokens", "first_step": 2, "row": 0,
...      "golden_token": 5, "candidate_token": 9}]}]}
>>> v = decide(manifest, replay)
>>> v["verdict"], v["exit_code"], v["findings"][0]["where"]
('changed', 1, 'gpt2-prefix g0.greedy')
"""

from __future__ import annotations

from typing import Any

from compat.gate.errors import GateError

__all__ = ["EXIT_CODES", "SEVERITY", "decide", "describe_output"]

EXIT_CODES = {"same": 0, "changed": 1, "broken": 2}
SEVERITY = {"same": 0, "changed": 1, "broken": 2}


def describe_output(diff: dict[str, Any]) -> str:
    """One line of evidence for a changed output.

    >>> describe_output({"output": "g0.logits", "kind": "float", "max_abs": 0.25, "max_rel": 0.01,
    ...                  "where": [0, 3, 17], "tolerance": "fp32 atol=1e-05 rtol=1e-05"})
    'max abs error 0.25, max rel error 0.01 at [0, 3, 17] (tolerance fp32 atol=1e-05 rtol=1e-05)'
    >>> describe_output({"kind": "tokens", "first_step": 0, "row": 1, "golden_token": 4,
    ...                  "candidate_token": 7, "rows_differing": 2})
    'first differing step 0 (row 1: token 4 became 7; 2 row(s) differ)'
    """
    if diff.get("reason"):
        return str(diff["reason"])
    if diff.get("kind") == "tokens":
        text = (f"first differing step {diff['first_step']} (row {diff['row']}: token "
                f"{diff['golden_token']} became {diff['candidate_token']}; "
                f"{diff.get('rows_differing', 1)} row(s) differ)")
        if diff.get("candidate_equals_base_model"):
            text += "; the candidate now generates exactly what the base model generates without the adapter"
        if diff.get("scores_max_abs") is not None:
            text += f"; greedy scores max abs error {diff['scores_max_abs']:.3g}"
        return text
    return (f"max abs error {diff['max_abs']:.3g}, max rel error {diff['max_rel']:.3g} at {diff['where']} "
            f"(tolerance {diff.get('tolerance', '?')})")


def _replay_findings(replay: dict[str, Any]) -> list[dict[str, Any]]:
    findings = []
    for case in replay.get("cases", []):
        if case["status"] == "error" and not case.get("outputs"):
            findings.append({"severity": "broken", "kind": "replay", "where": case["id"],
                             "detail": f"raised on the candidate, not on the baseline: {case['reason']}"})
            continue
        for diff in case.get("outputs", []):
            where = f"{case['id']} {diff['output']}"
            if diff["status"] == "error":
                findings.append({"severity": "broken", "kind": "replay", "where": where,
                                 "detail": f"raised on the candidate, not on the baseline: {diff['reason']}"})
            elif diff["status"] == "changed":
                findings.append({"severity": "changed", "kind": "replay", "where": where,
                                 "detail": describe_output(diff), "evidence": diff})
    return findings


def decide(
    manifest: dict[str, Any],
    replay: dict[str, Any] | None,
    *,
    replay_crash: str | None = None,
    suite_findings: list[dict[str, Any]] | None = None,
    suite_notes: list[str] | None = None,
) -> dict[str, Any]:
    """The verdict, its exit code, and every finding behind it (most severe first)."""
    recorded = _recorded(manifest)
    if replay is not None and replay_crash is None:
        _check_compared(replay)
    findings = _findings(recorded, replay, replay_crash) + list(suite_findings or [])
    findings.sort(key=lambda f: (-SEVERITY[f["severity"]], f["kind"], f["where"]))
    verdict = "same"
    for f in findings:
        if SEVERITY[f["severity"]] > SEVERITY[verdict]:
            verdict = f["severity"]
    counts: dict[str, int] = {}
    for case in (replay or {}).get("cases", []):
        counts[case["status"]] = counts.get(case["status"], 0) + 1
    return {
        "verdict": verdict,
        "exit_code": EXIT_CODES[verdict],
        "findings": findings,
        "replay_counts": counts,
        "recorded": len(recorded),
        "not_compared": _not_compared(manifest, replay),
        "notes": list(suite_notes or []),
    }


def _recorded(manifest: dict[str, Any]) -> list[str]:
    """The ids of the goldens the baseline recorded; :class:`GateError` when there are none (no evidence)."""
    recorded = [c["id"] for c in manifest.get("cases", []) if c["status"] == "recorded"]
    if not recorded:
        reasons = "; ".join(f"{c['id']}: {c['status']} ({c.get('reason', '')})" for c in manifest.get("cases", []))
        raise GateError("the baseline produced no usable golden, so there is nothing to compare: "
                        f"{reasons or 'no cases'}")
    return recorded


def _check_compared(replay: dict[str, Any]) -> None:
    """:class:`GateError` when no golden could be compared at all (no evidence)."""
    compared = [c for c in replay.get("cases", []) if c["status"] in ("same", "changed", "error")]
    if not compared:
        reasons = "; ".join(f"{c['id']}: {c.get('reason', c['status'])}" for c in replay.get("cases", []))
        raise GateError(f"no golden could be compared (every output with the adapter raised on the "
                        f"baseline): {reasons[:800]}")


def _findings(recorded: list[str], replay: dict[str, Any] | None, replay_crash: str | None) -> list[dict[str, Any]]:
    """What the replay says: a crash of the candidate, each changed or raising output, each golden not replayed."""
    if replay_crash is not None:
        return [{"severity": "broken", "kind": "replay", "where": "candidate environment",
                 "detail": f"the replay could not run on the candidate: {replay_crash}"}]
    if replay is None:
        return []
    findings = _replay_findings(replay)
    replayed = {c["id"] for c in replay.get("cases", [])}
    findings += [{"severity": "broken", "kind": "replay", "where": case_id,
                  "detail": "recorded on the baseline but not replayed on the candidate"}
                 for case_id in recorded if case_id not in replayed]
    return findings


def _not_compared(manifest: dict[str, Any], replay: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Cases with no comparison: not recorded on the baseline, or raising there on replay."""
    return [
        {"id": c["id"], "status": c["status"], "reason": c.get("reason", "")}
        for c in manifest.get("cases", []) if c["status"] != "recorded"
    ] + [
        {"id": c["id"], "status": "baseline error", "reason": c.get("reason", "")}
        for c in (replay or {}).get("cases", []) if c["status"] == "not-compared" and "outputs" in c
    ]
