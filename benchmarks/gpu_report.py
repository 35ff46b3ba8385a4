"""Turn the JUnit files of GPU suite runs (benchmarks/gpu_suites.sh) into one JSON per run for the
repository (docs/gpu/): counts, every test that did not pass with its message's first lines, the
largest ``max_abs_diff`` per check, and every recorded near tie (``token_near_ties``).

    python benchmarks/gpu_report.py OUTDIR junit-*.xml
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from compat.suiterun.outcomes import counts, parse_junit


def summary(path: Path) -> dict:
    tests = parse_junit(path)
    out: dict = {"junit": path.name, "counts": counts(tests), "axes": sorted({t.properties.get("axes", "")
                                                                               for t in tests} - {""}),
                 "not_passed": [], "max_abs_diff": {}, "near_ties": []}
    for t in tests:
        if t.outcome in ("failed", "error"):
            out["not_passed"].append({"id": t.nodeid, "outcome": t.outcome,
                                      "message": "\n".join(t.message.splitlines()[:6])[:1500]})
        if "max_abs_diff" in t.properties:
            check = t.check or t.nodeid
            value = float(t.properties["max_abs_diff"])
            if value >= out["max_abs_diff"].get(check, {}).get("value", -1.0):
                out["max_abs_diff"][check] = {"value": value, "test": t.nodeid}
        if "token_near_ties" in t.properties:
            out["near_ties"].append({"id": t.nodeid, "note": t.properties["token_near_ties"]})
    return out


def main(argv: list[str]) -> int:
    out_dir = Path(argv[0])
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in argv[1:]:
        data = summary(Path(name))
        target = out_dir / (Path(name).stem.replace("junit-", "suites-") + ".json")
        target.write_text(json.dumps(data, indent=1, sort_keys=True))
        print(f"{target}: {data['counts']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
