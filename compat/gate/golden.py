"""Record goldens on the baseline and replay them on the candidate (in-env, torch).

Golden layout (one directory per producing version, as PEFT's regression tests do)::

    goldens/transformers-4.57.6_peft-0.18.1/
        golden.json                  # schema, producing versions, every case and its status
        artifacts/<family>/model/    # base model: config.json + model.safetensors
        artifacts/<case>/adapter/    # PEFT adapter: adapter_config.json + adapter_model.safetensors
        cases/<case>/outputs.safetensors

A golden is kept only when it is finite and reproducible: each case is loaded
from disk and run twice, and the two runs must agree bitwise (same process,
same kernels). Otherwise the case is *refused* with the reason, never compared.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from compat.gate.replay import Case, error_text, replay_case, run_case
from compat.tools.outputs import atomic_write_text

__all__ = [
    "SCHEMA",
    "GoldenRefused",
    "check_golden",
    "producer_versions",
    "record_cases",
    "replay_golden",
]

SCHEMA = 1
Runner = Callable[[Case, Path], dict[str, Any]]


class GoldenRefused(ValueError):
    """A golden that must not be saved: non-finite or not reproducible."""


def producer_versions() -> dict[str, str]:
    """Versions of the libraries that produce (or replay) the numbers."""
    import sys

    from compat.tools.versions import installed_here

    out: dict[str, str | None] = {"python": platform.python_version()}
    out.update(installed_here(("transformers", "peft", "torch", "tokenizers", "safetensors")))
    torch = sys.modules.get("torch")  # in-env processes have it imported; the name of the GPU, if one
    out["cuda_device"] = torch.cuda.get_device_name() if torch is not None and torch.cuda.is_available() else None
    return out


def check_golden(first: dict[str, Any], second: dict[str, Any]) -> None:
    """Raise :class:`GoldenRefused` unless both runs are finite and bitwise equal.

    Scores may hold ``-inf`` where generation masked a token (e.g. EOS before
    ``min_new_tokens``); NaN or ``+inf`` anywhere, or any non-finite logit, is refused.

    >>> import torch
    >>> t = {"g0.logits": torch.ones(2)}
    >>> check_golden(t, {"g0.logits": torch.ones(2)})
    >>> check_golden({"g0.logits": torch.tensor([1.0, float("nan")])}, t)
    Traceback (most recent call last):
    ...
    compat.gate.golden.GoldenRefused: non-finite golden: g0.logits has 1 NaN/inf value(s)
    """
    import torch

    tensors = {k: v for k, v in first.items() if not isinstance(v, str)}
    if not tensors:
        raise GoldenRefused("no output could be computed: " + "; ".join(sorted(set(first.values())))[:500])
    for name, value in tensors.items():
        if value.is_floating_point():
            if name.endswith("_scores"):
                bad = torch.isnan(value) | (value == float("inf"))
            else:
                bad = ~torch.isfinite(value)
            if bad.any():
                raise GoldenRefused(f"non-finite golden: {name} has {int(bad.sum())} NaN/inf value(s)")
    if sorted(first) != sorted(second):
        raise GoldenRefused(f"not reproducible: outputs {sorted(first)} then {sorted(second)}")
    for name in first:
        a, b = first[name], second[name]
        if isinstance(a, str) or isinstance(b, str):
            if not (isinstance(a, str) and isinstance(b, str)):
                raise GoldenRefused(f"not reproducible: {name} raised in only one of two identical runs")
            continue  # the same output raised both times: recorded as an error, not compared
        same = a.shape == b.shape and (
            torch.equal(torch.nan_to_num(a), torch.nan_to_num(b)) if a.is_floating_point() else torch.equal(a, b)
        )
        if not same:
            detail = ""
            if a.shape == b.shape and a.is_floating_point():
                detail = f" (max abs difference {float((a - b).abs().max()):.3g})"
            raise GoldenRefused(f"not reproducible: {name} differs between two identical runs{detail}")


def record_cases(
    cases: list[Case],
    out_dir: Path,
    *,
    not_applicable: dict[str, str] | None = None,
    runner: Runner = run_case,
) -> dict[str, Any]:
    """Run each case twice, save the outputs of those that pass :func:`check_golden`.

    Writes ``out_dir/golden.json`` and returns it. Case paths are relative to ``out_dir``.
    """
    from safetensors.torch import save_file

    out_dir = Path(out_dir)
    entries = []
    for name, reason in sorted((not_applicable or {}).items()):
        status = "error" if reason.startswith("error:") else "not-applicable"
        entries.append({"id": name, "status": status, "reason": reason})
    for case in cases:
        started = time.perf_counter()
        entry: dict[str, Any] = {"id": case.id, "case": case.to_json()}
        try:
            first = runner(case, out_dir)
            second = runner(case, out_dir)
            check_golden(first, second)
        except GoldenRefused as exc:
            entry.update(status="refused", reason=str(exc))
        except Exception as exc:
            entry.update(status="error", reason=error_text(exc))
        else:
            target = out_dir / "cases" / case.id
            target.mkdir(parents=True, exist_ok=True)
            save_file({k: v.contiguous() for k, v in first.items() if not isinstance(v, str)},
                      str(target / "outputs.safetensors"))
            entry.update(status="recorded", outputs=f"cases/{case.id}/outputs.safetensors",
                         output_errors={k: v for k, v in first.items() if isinstance(v, str)})
        entry["seconds"] = round(time.perf_counter() - started, 3)
        entries.append(entry)
    manifest = {"schema": SCHEMA, "producer": producer_versions(), "cases": entries}
    atomic_write_text(out_dir / "golden.json", json.dumps(manifest, indent=2))  # never a half manifest
    return manifest


def replay_golden(golden_dir: Path, *, runner: Runner = replay_case) -> dict[str, Any]:
    """Replay every recorded case of ``golden_dir`` here and compare with its golden."""
    from safetensors.torch import load_file

    from compat.gate.compare import compare_outputs

    golden_dir = Path(golden_dir)
    manifest = json.loads((golden_dir / "golden.json").read_text())
    if manifest.get("schema") != SCHEMA:
        raise ValueError(f"{golden_dir}/golden.json has schema {manifest.get('schema')}, expected {SCHEMA}")
    results = []
    for entry in manifest["cases"]:
        if entry["status"] != "recorded":
            results.append({"id": entry["id"], "status": "not-compared",
                            "reason": f"baseline {entry['status']}: {entry.get('reason', '')}"})
            continue
        case = Case.from_json(entry["case"])
        started = time.perf_counter()
        result: dict[str, Any] = {"id": case.id, "family": case.family, "method": case.method}
        try:
            candidate = runner(case, golden_dir)
        except Exception as exc:
            result.update(status="error", reason=error_text(exc))
        else:
            golden = load_file(str(golden_dir / entry["outputs"]))
            baseline_errors = entry.get("output_errors", {})
            # generated ids start after the prompt (decoder-only) or after the decoder start token (seq2seq)
            prompt_lens = {g: 1 if case.task_type == "SEQ_2_SEQ_LM" else len(group["input_ids"][0])
                           for g, group in enumerate(case.inputs)}
            diffs = compare_outputs(golden, candidate, prompt_lens, dtype=case.dtype)
            for name, message in sorted(baseline_errors.items()):
                fixed = not isinstance(candidate.get(name, ""), str)
                diffs.append({"output": name, "status": "not-compared", "baseline_error": message,
                              "reason": "raised on the baseline" + ("; runs on the candidate" if fixed else
                                                                    " and on the candidate")})
            statuses = {d["status"] for d in diffs}
            adapter_compared = [d for d in diffs if d["status"] != "not-compared"
                                and not d["output"].split(".", 1)[1].startswith("base_")]
            if "error" in statuses:
                status = "error"
            elif "changed" in statuses:
                status = "changed"
            elif not adapter_compared:
                status = "not-compared"
                result["reason"] = "every output with the adapter raised on the baseline: " + "; ".join(
                    sorted(set(baseline_errors.values())))[:400]
            else:
                status = "same"
            result.update(status=status, outputs=diffs)
        result["seconds"] = round(time.perf_counter() - started, 3)
        results.append(result)
    return {"schema": SCHEMA, "golden_producer": manifest["producer"],
            "replayer": producer_versions(), "cases": results}
