"""Detection power of the shim's own tests: a mutmut run per transformers version, kills merged.

For each (transformers, peft) pair in :data:`PAIRS` this builds an isolated environment
(:func:`compat.envs.build_env`, the pinned CPU torch, plus the ``mutation`` extra of
pyproject.toml, i.e. mutmut), copies ``compat/``, ``tests/`` and ``pyproject.toml`` into a
private work folder and runs ``mutmut run`` there. mutmut reads ``[tool.mutmut]`` from that
pyproject.toml: which shim modules it mutates and which tests it runs (it runs, per mutant,
only the tests that reached the mutated function in its own stats run).

mutmut names each mutant ``module.x_function__mutmut_N``; the name depends only on the
source and the mutmut version, so the same name on two versions is the same mutant. A mutant
counts as killed when any version's tests killed it (a mutant in a branch that only another
version takes can only be killed there). Written (figures, not assertions):

* ``reports/mutation.json``: per version, per mutant, mutmut's status; the merged score per
  module; every mutant not killed anywhere with its diff;
* ``reports/mutation.md``: the same as tables.

    nice -n 10 nox -s mutation                 # every pair in PAIRS
    nice -n 10 nox -s mutation -- --pair 5.23.0:0.21.2 --max-children 2

The run is long (see docs/mutation.md for its cost); CI does not run it.
"""

from __future__ import annotations

import argparse
import dataclasses
import filecmp
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from compat.envs import Env, EnvSpec, InstallError, build_env  # noqa: E402  (no torch import)
from compat.matrix.known import KnownIssue, glob_match, load_catalogue  # noqa: E402
from compat.tools.children import OFFLINE_ENV  # noqa: E402
from compat.tools.outputs import atomic_write_text  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
import mutation_reasons  # noqa: E402

#: (transformers, peft), oldest first (what ``--cascade`` runs in that order): before Cache
#: classes (4.35), DynamicCache without EncoderDecoderCache and a one-layer StaticCache (4.38),
#: generate resetting cache_position in its decoding loops (4.39),
#: Gemma-2 taking only its own HybridCache (4.42), the tuple/Cache transition era (4.46), the
#: last 4.x (4.57, layered caches), 5.23 and 5.24 (the forward's cache keyword is `cache`); each
#: with a peft that imports on it.
PAIRS: tuple[tuple[str, str], ...] = (
    ("4.35.2", "0.13.2"),
    ("4.38.0", "0.13.2"),
    ("4.39.0", "0.13.2"),
    ("4.42.0", "0.13.2"),
    ("4.46.3", "0.13.2"),
    ("4.57.6", "0.18.1"),
    ("5.23.0", "0.21.2"),
    ("5.24.0", "0.21.2"),
)

#: mutmut's exit codes that mean the tests caught the mutant (mutmut.stats.status_by_exit_code).
DETECTED = ("killed", "timeout", "segfault")

_COPIED = ("compat", "tests", "pyproject.toml")

#: The catalogue of upstream failures (docs/matrix.md): a test it declares for a pair fails there
#: whatever the shim does, so it is left out of that pair's run (and listed in the report).
CATALOGUE = ROOT / "matrices" / "known-issues.toml"

# Run with the version environment's python inside a finished work folder: every mutant's
# status (mutmut's own mapping of its exit codes) and, for those not killed, its diff.
_READ_RESULTS = """
import json, sys
from pathlib import Path
from mutmut.stats import status_by_exit_code
from mutmut.mutation.diff_apply import get_diff_for_mutant
out = {}
for meta in sorted(Path("mutants").rglob("*.py.meta")):
    source = meta.relative_to("mutants").with_suffix("")
    codes = json.loads(meta.read_text())["exit_code_by_key"]
    for name, code in sorted(codes.items()):
        status = status_by_exit_code[code]
        diff = None if status in sys.argv[1:] else get_diff_for_mutant(name, path=source)
        out[name] = {"module": str(source), "status": status, "diff": diff}
print(json.dumps(out))
"""


@dataclasses.dataclass(frozen=True)
class Pair:
    transformers: str
    peft: str

    @property
    def label(self) -> str:
        return f"transformers {self.transformers} + peft {self.peft}"

    @property
    def key(self) -> str:
        return f"tf{self.transformers}-peft{self.peft}"


@dataclasses.dataclass
class VersionRun:
    pair: Pair
    seconds: float | None  # None: reused from an earlier invocation that did not record it
    mutants: dict[str, dict]  # name -> {"module", "status", "diff"}
    left_out: dict[str, str]  # test id -> the known issue that fails it on this pair


def mutation_requirements() -> list[str]:
    """The ``mutation`` extra of pyproject.toml (the mutation tool, pinned once there)."""
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return list(tomllib.load(fh)["project"]["optional-dependencies"]["mutation"])


def build(pair: Pair, root: Path, log: Path) -> Env:
    spec = EnvSpec(f"mut-{pair.key}", [f"transformers=={pair.transformers}", f"peft=={pair.peft}",
                                        *mutation_requirements()])
    return build_env(spec, root, log_path=log, reuse=True)


def prepare_workdir(work: Path) -> None:
    """A fresh copy of the sources and tests mutmut mutates and runs (its ``mutants/`` lives there)."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis")
    for name in _COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, work / name, ignore=ignore)
        else:
            shutil.copy2(src, work / name)


def _selected_paths() -> list[str]:
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return list(tomllib.load(fh)["tool"]["mutmut"]["pytest_add_cli_args_test_selection"])


def known_failures(pair: Pair, env: Env, work: Path, environ: dict[str, str]) -> dict[str, str]:
    """Test id -> id of the catalogued upstream issue that fails it on ``pair`` (collected there)."""
    issues: list[KnownIssue] = [k for k in load_catalogue(CATALOGUE) if k.applies(pair.transformers, pair.peft)]
    if not issues:
        return {}
    proc = subprocess.run([str(env.python), "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                           *_selected_paths()], cwd=work, env=environ, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"mutation: collecting the tests on {pair.label} failed: {proc.stdout[-2000:]}")
    ids = [line for line in proc.stdout.splitlines() if "::" in line]
    out = {}
    for nodeid in ids:
        issue = next((k for k in issues if any(glob_match(nodeid, t) for t in k.tests)), None)
        if issue is not None:
            out[nodeid] = issue.id
    return out


def _environ(env: Env) -> dict[str, str]:
    environ = env.environ()
    environ.update(OFFLINE_ENV)
    environ.update({"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": ""})
    return environ


def read_results(pair: Pair, env: Env, work: Path) -> dict[str, dict]:
    """Every mutant in ``work/mutants`` with mutmut's status (and a diff where not detected)."""
    read = subprocess.run([str(env.python), "-c", _READ_RESULTS, *DETECTED], cwd=work, env=_environ(env),
                          capture_output=True, text=True, check=False)
    if read.returncode != 0:
        raise SystemExit(f"mutation: cannot read mutmut's results for {pair.label}: {read.stderr.strip()[-2000:]}")
    mutants = json.loads(read.stdout)
    if not mutants:
        raise SystemExit(f"mutation: mutmut produced no mutants on {pair.label} (log: {work / 'mutmut-run.log'})")
    return mutants


def _check_all_run(pair: Pair, mutants: dict[str, dict], skipped: set[str], work: Path) -> None:
    unchecked = {n for n, m in mutants.items() if m["status"] == "not checked"}
    if unchecked != skipped:
        odd = sorted(unchecked ^ skipped)
        raise SystemExit(f"mutation: {len(odd)} mutants were not checked as asked on {pair.label}, e.g. {odd[0]} "
                         f"(log: {work / 'mutmut-run.log'})")


def run_pair(pair: Pair, env: Env, work: Path, *, max_children: int, skip: set[str],
             every: dict[str, dict]) -> VersionRun:
    """mutmut in ``work`` (already a copy of the sources, :func:`prepare_workdir`) with ``env``, on every
    mutant but those in ``skip`` (already killed on another version, ``--cascade``; ``every``: all the
    mutants' names, from that version's run: the same sources give the same names)."""
    environ = _environ(env)
    left_out = known_failures(pair, env, work, environ)
    environ["PYTEST_ADDOPTS"] = " ".join(f"--deselect {shlex.quote(t)}" for t in left_out)
    names = sorted(set(every) - skip) if skip else []
    if skip and not names:  # every mutant already killed: nothing to run here
        return VersionRun(pair, 0.0, {n: {**m, "status": "not checked"} for n, m in every.items()}, left_out)
    log = work / "mutmut-run.log"
    started = time.perf_counter()
    if not skip or names:
        with open(log, "w", encoding="utf-8") as out:
            proc = subprocess.run([str(env.path / "bin" / "mutmut"), "run", "--max-children", str(max_children),
                                   *names], cwd=work, env=environ, stdout=out, stderr=subprocess.STDOUT, check=False)
        if proc.returncode != 0:
            raise SystemExit(f"mutation: mutmut run on {pair.label} exited {proc.returncode} (log: {log})")
    seconds = time.perf_counter() - started
    mutants = read_results(pair, env, work)
    _check_all_run(pair, mutants, skip & set(mutants), work)
    (work / "timing.json").write_text(json.dumps({"seconds": seconds, "left_out": left_out, "skipped": len(skip)}))
    return VersionRun(pair, seconds, mutants, left_out)


def reusable(work: Path) -> bool:
    """Whether ``work`` holds a finished run on exactly the current sources and tests (``--reuse``)."""
    if not (work / "mutants").is_dir():
        return False
    ignore = ["__pycache__", ".hypothesis", ".pytest_cache"]
    for name in _COPIED:
        src, copy = ROOT / name, work / name
        if src.is_file():
            if not copy.is_file() or not filecmp.cmp(src, copy, shallow=False):
                return False
            continue
        pending = [filecmp.dircmp(src, copy, ignore=ignore)]
        while pending:
            cmp = pending.pop()
            _, mismatch, errors = filecmp.cmpfiles(cmp.left, cmp.right, cmp.common_files, shallow=False)
            if cmp.left_only or cmp.right_only or mismatch or errors:
                return False
            pending.extend(cmp.subdirs.values())
    return True


def reuse_pair(pair: Pair, env: Env, work: Path) -> VersionRun:
    """A finished run's results, read again (its timing where this script recorded it)."""
    mutants = read_results(pair, env, work)
    timing_path = work / "timing.json"
    timing = json.loads(timing_path.read_text()) if timing_path.is_file() else {}
    skipped = {n for n, m in mutants.items() if m["status"] == "not checked"}
    if len(skipped) != timing.get("skipped", 0):
        raise SystemExit(f"mutation: {work} holds {len(skipped)} unchecked mutants: an unfinished run; "
                         "run without --reuse")
    left_out = timing.get("left_out")
    if left_out is None:
        left_out = known_failures(pair, env, work, _environ(env))
    return VersionRun(pair, timing.get("seconds"), mutants, left_out)


def _score(statuses: list[str]) -> dict:
    statuses = [s for s in statuses if s != "not checked"]  # --cascade: killed on an earlier version
    killed = sum(s in DETECTED for s in statuses)
    total = len(statuses)
    return {"killed": killed, "total": total, "percent": round(100.0 * killed / total, 1) if total else None}


def merge(runs: list[VersionRun]) -> dict:
    """Per module and overall: each version's score and the merged one (killed on any version)."""
    names = set(runs[0].mutants)
    for run in runs[1:]:
        if set(run.mutants) != names:
            odd = sorted(names ^ set(run.mutants))
            raise SystemExit(f"mutation: {runs[0].pair.label} and {run.pair.label} made different mutants "
                             f"(e.g. {odd[0]}): the sources or the mutmut version differ")
    modules = sorted({m["module"] for m in runs[0].mutants.values()})
    table: dict[str, dict] = {}
    for module in [*modules, "all"]:
        in_module = sorted(n for n, m in runs[0].mutants.items() if module in ("all", m["module"]))
        row = {run.pair.key: _score([run.mutants[n]["status"] for n in in_module]) for run in runs}
        merged = ["killed" if any(run.mutants[n]["status"] in DETECTED for run in runs) else "survived"
                  for n in in_module]
        row["merged"] = _score(merged)
        table[module] = row
    survivors = {}
    for name in sorted(names):
        if any(run.mutants[name]["status"] in DETECTED for run in runs):
            continue
        first = runs[0].mutants[name]
        survivors[name] = {"module": first["module"],
                           "status": {run.pair.key: run.mutants[name]["status"] for run in runs},
                           "diff": next(run.mutants[name]["diff"] for run in runs)}
    return {"scores": table, "survivors": survivors}


def _cell(score: dict) -> str:
    """``killed/total (percent %)``; ``-`` for a version given no mutant of that module (``--cascade``)."""
    return "-" if not score["total"] else f"{score['killed']}/{score['total']} ({score['percent']}%)"


def render_markdown(report: dict, classification: mutation_reasons.Classification) -> str:
    keys = [v["key"] for v in report["versions"]]
    lines = [
        f"# Mutation score of the shim's tests ({report['date']})",
        "",
        f"mutmut {report['mutmut']}; sources at {report['commit']}; command: `{report['command']}`.",
        "A mutant counts as killed when the tests killed it on any version (merged).",
        "",
        "| version | wall time | tests left out (a catalogued upstream failure on that pair) |",
        "| --- | --- | --- |",
        *[f"| {v['label']} | " + ("not recorded" if v["seconds"] is None else f"{v['seconds']:.0f} s") + " | "
          + (", ".join(f"`{t}` ({k})" for t, k in v["left_out"].items()) or "none") + " |"
          for v in report["versions"]],
        "",
        "| module | " + " | ".join(keys) + " | merged |",
        "| --- |" + " --- |" * (len(keys) + 1),
    ]
    for module, row in report["scores"].items():
        cells = [_cell(row[k]) for k in [*keys, "merged"]]
        lines.append(f"| {module} | " + " | ".join(cells) + " |")
    lines += ["", f"## Not killed on any version ({len(report['survivors'])}), and why", "",
              "Reasons from `benchmarks/mutation-survivors/*.toml` (`benchmarks/mutation_reasons.py`).", "",
              *mutation_reasons.render(classification), "", "## The survivors' diffs", ""]
    for name, info in report["survivors"].items():
        statuses = ", ".join(f"{k}: {s}" for k, s in info["status"].items())
        lines += [f"### `{name}`", "", statuses, "", "```diff", info["diff"] or "", "```", ""]
    return "\n".join(lines) + "\n"


def source_revision() -> str:
    """The commit the sources were copied from, with ``+changes`` when the work tree differed from it."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                          check=False).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", *_COPIED], cwd=ROOT, capture_output=True,
                           text=True, check=False).stdout.strip()
    return (head or "unknown") + ("+changes" if dirty else "")


def parse_pair(text: str) -> Pair:
    tf_version, sep, peft_version = text.partition(":")
    if not sep or not tf_version or not peft_version:
        raise argparse.ArgumentTypeError(f"--pair {text!r}: expected TRANSFORMERS:PEFT, e.g. 5.23.0:0.21.2")
    return Pair(tf_version, peft_version)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nox -s mutation --", description=__doc__.split("\n\n")[0])
    parser.add_argument("--pair", type=parse_pair, action="append",
                        help="TRANSFORMERS:PEFT to run (repeatable; default: every pair in PAIRS)")
    parser.add_argument("--max-children", type=int, default=1, help="mutmut's parallel mutants (default 1)")
    parser.add_argument("--envs", type=Path, default=ROOT / ".nox" / "mutation-envs")
    parser.add_argument("--work", type=Path, default=ROOT / ".nox" / "mutation-work")
    parser.add_argument("--out", type=Path, default=ROOT / "reports")
    parser.add_argument("--date", default=time.strftime("%Y-%m-%d"))
    parser.add_argument("--cascade", action="store_true",
                        help="run each version after the first only on the mutants no earlier version killed "
                             "(the merged score is the same; later versions' own scores cover those mutants only)")
    parser.add_argument("--reuse", action="store_true",
                        help="reuse a version's finished work folder whose copied sources equal the current ones")
    args = parser.parse_args(argv)
    if args.max_children < 1:
        parser.error(f"--max-children {args.max_children}: expected 1 or more")
    pairs = args.pair or [Pair(*p) for p in PAIRS]
    revision = source_revision()
    reused = {pair for pair in pairs if args.reuse and reusable(args.work / pair.key)}
    for pair in pairs:  # one snapshot of the sources and tests for every version, taken before any runs
        if pair not in reused:
            prepare_workdir(args.work / pair.key)
    runs: list[VersionRun] = []
    for pair in pairs:
        try:
            env = build(pair, args.envs, args.work / f"{pair.key}.install.log")
        except InstallError as exc:
            raise SystemExit(f"mutation: {exc}") from None
        print(f"mutation: {pair.label}: environment {'reused' if env.reused else 'built'} ({env.path})", flush=True)
        if pair in reused:
            run = reuse_pair(pair, env, args.work / pair.key)
        else:
            skip = {n for r in runs for n, m in r.mutants.items() if m["status"] in DETECTED} if args.cascade else set()
            every = runs[0].mutants if runs else {}
            run = run_pair(pair, env, args.work / pair.key, max_children=args.max_children, skip=skip, every=every)
        done = _score([m["status"] for m in run.mutants.values()])
        took = "reused" if pair in reused else f"in {run.seconds:.0f} s"
        print(f"mutation: {pair.label}: {done['killed']}/{done['total']} killed {took}", flush=True)
        runs.append(run)
    merged = merge(runs)
    classification = mutation_reasons.classify(merged["survivors"], mutation_reasons.load())
    report = {
        "date": args.date,
        "command": "nox -s mutation -- " + " ".join(sys.argv[1:]) if sys.argv[1:] else "nox -s mutation",
        "mutmut": " ".join(mutation_requirements()),
        "commit": revision,
        "versions": [{"key": r.pair.key, "label": r.pair.label,
                      "seconds": None if r.seconds is None else round(r.seconds, 1),
                      "tried": sum(m["status"] != "not checked" for m in r.mutants.values()),
                      "left_out": r.left_out} for r in runs],
        **merged,
        "classification": {
            "equivalent": classification.count(mutation_reasons.Kind.EQUIVALENT),
            "unreachable": classification.count(mutation_reasons.Kind.UNREACHABLE),
            "unclassified": list(classification.unclassified),
            "stale": list(classification.stale),
            "reasons": {n: {"kind": r.kind.value, "why": r.why} for n, r in classification.reasons.items()},
        },
        "per_version": {r.pair.key: {n: m["status"] for n, m in sorted(r.mutants.items())} for r in runs},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "mutation.json", json.dumps(report, indent=1) + "\n")
    atomic_write_text(args.out / "mutation.md", render_markdown(report, classification))
    total = merged["scores"]["all"]["merged"]
    print(f"mutation: merged {total['killed']}/{total['total']} killed ({total['percent']}%); survivors: "
          f"{classification.count(mutation_reasons.Kind.EQUIVALENT)} equivalent, "
          f"{classification.count(mutation_reasons.Kind.UNREACHABLE)} unreachable, "
          f"{len(classification.unclassified)} unclassified; {len(classification.stale)} stale entries -> "
          f"{args.out / 'mutation.md'}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "")
    raise SystemExit(main())
