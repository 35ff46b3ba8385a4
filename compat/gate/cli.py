"""``python -m compat.gate``: the upgrade gate's command line and orchestration (torch-free).

    python -m compat.gate --from transformers==4.57.6 peft==0.18.1 --to transformers==5.23.0 peft==0.21.2
    python -m compat.gate --to transformers==5.23.0 peft==0.21.2 --model DIR --adapter DIR [--prompts FILE]

Steps: check the input; build the two environments (:mod:`compat.envs`); record
goldens on the baseline (:mod:`compat.gate.inenv` ``record``); replay them on the
candidate (``replay``); run the equivalence suites on both; decide
(:mod:`compat.gate.verdict`); write ``reports/gate.{json,md}`` (:mod:`compat.gate.report`).
Exit 0 ``same``, 1 ``changed``, 2 ``broken``, and 2 with an *error* report when
no verdict could be given.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import shlex
import subprocess
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from compat import resources
from compat.gate import pins as pinlib
from compat.gate.errors import EXIT_ERROR, GateError
from compat.gate.report import write_reports
from compat.gate.suites import SideSuites, compare_suites, default_env, run_suites
from compat.gate.userinput import check_user_input
from compat.gate.verdict import decide
from compat.matrix.config import DEFAULT_SUITE
from compat.suiterun.outcomes import Outcome
from compat.tools.outputs import OutputError
from compat.tools.runlock import FolderBusyError, hold_folder, private_dir, sweep

__all__ = ["DEFAULT_SUITES", "DEVICES", "DTYPES", "REPRODUCE_PROG", "Side", "build_parser", "check_side_device", "main"]

DEVICES = ("cpu", "cuda")
DTYPES = ("float32", "bfloat16", "float16")

#: How the reports say to rerun a gate: the console command of any install (``nox -s gate`` exists
#: only in a checkout), with the same arguments.
REPRODUCE_PROG = "peft-cache-compat gate"

#: What a matrix cell runs (one definition: :data:`compat.matrix.config.DEFAULT_SUITE`).
DEFAULT_SUITES = list(DEFAULT_SUITE)


def _default_work() -> Path:
    root = os.environ.get("PCC_GATE_WORK")
    if root:
        return Path(root)
    return resources.user_cache_dir() / "gate"


def build_parser(prog: str = "python -m compat.gate") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Upgrade gate: does moving from one transformers/peft pair to another change "
                    "prompt-learning outputs? Verdict: same (exit 0), changed (1), broken (2); "
                    "bad input: exit 2 with an error report.",
    )
    p.add_argument("--from", dest="from_pins", nargs="+", metavar="PIN",
                   help="baseline: transformers==A peft==B [other==X ...] (default: the versions "
                        "installed where nox was started, $PCC_INVOKING_PYTHON)")
    p.add_argument("--to", dest="to_pins", nargs="+", metavar="PIN",
                   help="candidate: transformers==C peft==D (default: the newest releases on the index)")
    p.add_argument("--from-python", metavar="PYTHON",
                   help="use this existing interpreter as the baseline instead of building one")
    p.add_argument("--to-python", metavar="PYTHON",
                   help="use this existing interpreter as the candidate instead of building one")
    p.add_argument("--model", metavar="DIR", help="your base model (a save_pretrained directory; no hub)")
    p.add_argument("--adapter", metavar="DIR", help="your PEFT prompt-learning adapter directory")
    p.add_argument("--prompts", metavar="FILE", help="inputs for --model, one per line")
    p.add_argument("--families", nargs="+", metavar="F", help="zoo families to replay (default: all)")
    p.add_argument("--methods", nargs="+", metavar="M", help="prompt-learning methods (default: all)")
    p.add_argument("--max-new-tokens", type=int, default=6, help="tokens per generation (default 6)")
    p.add_argument("--suites", nargs="*", default=DEFAULT_SUITES, metavar="PATH",
                   help="equivalence suites run on both sides: folders or files under the data root's tests/ "
                        "(default: the matrix cell's; a few files for a quicker gate)")
    p.add_argument("--no-suites", action="store_true", help="skip the suites (said so in the report)")
    p.add_argument("--reports", default=None, metavar="DIR",
                   help="where gate.md and gate.json go (default: the checkout's reports/, from an install ./reports)")
    p.add_argument("--work", default=None, metavar="DIR",
                   help="environments, goldens and logs (default: $PCC_GATE_WORK or ~/.cache/peft-cache-compat/gate)")
    p.add_argument("--timeout", type=float, default=900,
                   help="seconds per step in an environment (> 0; default 900)")
    p.add_argument("--device", choices=DEVICES, default="cpu",
                   help="where goldens are recorded and replayed, and the suites run (default cpu; cuda needs "
                        "a CUDA torch on both sides: PCC_TORCH_SPEC=torch==X+cuNNN with PCC_TORCH_INDEX_URL, "
                        "or --from-python/--to-python)")
    p.add_argument("--dtype", choices=DTYPES, default="float32",
                   help="the models' dtype for goldens and suites (default float32; e.g. bfloat16 for a "
                        "checkpoint served in bf16); judged by compat.tolerance's policy for that dtype")
    return p


def _side_environ(environ: dict[str, str], ns: argparse.Namespace) -> dict[str, str]:
    """The axes every in-env step of a side runs on: the asked device and dtype, eager attention,
    tiny zoo (compat.testing.axes); a CPU gate hides the GPUs, a CUDA gate shows them."""
    env = dict(environ)
    env.update(PCC_DEVICE=ns.device, PCC_DTYPE=ns.dtype, PCC_ATTN="eager", PCC_SIZE="tiny")
    if ns.device == "cuda":
        env.pop("CUDA_VISIBLE_DEVICES", None)
    return env


def _with_this_compat(environ: dict[str, str], work: Path) -> dict[str, str]:
    """``environ`` with *this* ``compat`` first on ``PYTHONPATH`` (:func:`compat.resources.import_root`):
    a side built by the gate has none of its own, and an install gates with its own copy."""
    path = os.pathsep.join(p for p in (str(resources.import_root(work)), environ.get("PYTHONPATH")) if p)
    return {**environ, "PYTHONPATH": path}


_DEVICE_PROBE = ("import json, torch; print(json.dumps({'cuda': torch.version.cuda, "
                 "'available': torch.cuda.is_available(), 'version': torch.__version__}))")


def check_side_device(side: Side, device: str) -> None:
    """A gate that asked for CUDA must get CUDA on this side (:class:`GateError` otherwise, naming
    the side, what it has and what to do). A CPU gate asks nothing here: the environments it builds
    are already checked to hold the pinned CPU build (:meth:`compat.envs.Env.verify_torch`), and
    every replay checks its model is on the CPU (:func:`compat.gate.replay.check_device`)."""
    if device == "cpu":
        return
    try:
        proc = subprocess.run([side.python, "-c", _DEVICE_PROBE], env=side.environ, capture_output=True,
                              text=True, timeout=300, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GateError(f"--{side.role}: cannot run {side.python} to ask which device its torch has: {exc}") from None
    try:
        found = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise GateError(f"--{side.role}: torch does not import in {side.python}: {_tail(proc.stderr)}") from None
    if not (found["cuda"] and found["available"]):
        raise GateError(
            f"--device cuda: the --{side.role} side's torch {found['version']} "
            f"{'sees no GPU' if found['cuda'] else 'is a CPU build (torch.version.cuda=None)'}; build it with "
            "PCC_TORCH_SPEC=torch==X+cuNNN and PCC_TORCH_INDEX_URL, or pass an interpreter with CUDA torch "
            f"(--{side.role}-python), on a machine with a GPU")


@dataclasses.dataclass
class Side:
    """One side of the gate: its pins, interpreter and process environment."""

    role: str
    pins: pinlib.Pins
    python: str
    environ: dict[str, str]
    versions: dict[str, Any]
    built: bool
    build_seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"pins": str(self.pins), "python": self.python, "versions": self.versions,
                "built": self.built, "build_seconds": round(self.build_seconds, 2)}


def _existing_side(role: str, python: str) -> Side:
    if not (os.path.isfile(python) and os.access(python, os.X_OK)):
        raise GateError(f"--{role}-python {python}: not an executable interpreter")
    versions = pinlib.installed_versions(python)
    missing = [n for n in ("transformers", "peft", "torch") if not versions.get(n)]
    if missing:
        raise GateError(f"--{role}-python {python}: {' and '.join(missing)} not installed there")
    return Side(role, pinlib.Pins(versions["transformers"], versions["peft"]), python,
                default_env(), versions, built=False)


def _built_side(role: str, pins: pinlib.Pins, work: Path) -> Side:
    from compat.envs import EnvSpec, InstallError, build_env

    option = f"--{role}"
    os.environ.setdefault("PCC_UV", pinlib.uv_executable())  # the same uv for resolving and building
    try:
        spec = EnvSpec(f"gate-{pins.label()}", pins.requirements())
        (work / "logs").mkdir(parents=True, exist_ok=True)
        env = build_env(spec, work / "envs", log_path=work / "logs" / f"env-{pins.label()}.log", reuse=True)
        versions = env.installed_versions()
    except InstallError as exc:
        raise GateError(f"{option} {pins}: the environment could not be built: {exc.message}") from None
    for name in ("transformers", "peft"):
        want = getattr(pins, name)
        if versions.get(name) != want:
            raise GateError(f"{option}: asked for {name}=={want} but {versions.get(name)} was installed")
    return Side(role, pins, str(env.python), default_env(env.environ()), versions,
                built=True, build_seconds=env.build_seconds)


def _inenv(side: Side, args: list[str], log: Path, timeout: float) -> subprocess.CompletedProcess:
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = [side.python, "-m", "compat.gate.inenv", *args]
    try:
        proc = subprocess.run(cmd, cwd=resources.suite_root(), env=side.environ, capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        log.write_text(f"$ {shlex.join(cmd)}\ntimed out after {timeout:.0f} s\n")
        return subprocess.CompletedProcess(cmd, 124, "", f"timed out after {timeout:.0f} s")
    log.write_text(f"$ {shlex.join(cmd)}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}\n")
    return proc


def _tail(text: str, n: int = 6) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return " | ".join(lines[-n:])


def _resolve_sides(ns: argparse.Namespace, work: Path) -> tuple[Side, Side]:
    if ns.from_python and ns.from_pins:
        raise GateError("give either --from or --from-python, not both")
    if ns.to_python and ns.to_pins:
        raise GateError("give either --to or --to-python, not both")
    from_pins = None if ns.from_python else (
        pinlib.parse_pins(ns.from_pins, "--from") if ns.from_pins else pinlib.installed_pins())
    to_pins = None if ns.to_python else (
        pinlib.parse_pins(ns.to_pins, "--to") if ns.to_pins else pinlib.newest_pins())
    # Fail fast on versions that do not exist, before building anything.
    for pins, option in ((from_pins, "--from"), (to_pins, "--to")):
        if pins is not None:
            pinlib.check_exist(pins, option)
    baseline = _existing_side("from", ns.from_python) if ns.from_python else _built_side("from", from_pins, work)
    candidate = _existing_side("to", ns.to_python) if ns.to_python else _built_side("to", to_pins, work)
    return baseline, candidate


def _check_options(ns: argparse.Namespace) -> dict[str, Any] | None:
    """The options that need no environment, checked before anything is built; the user's model
    and adapter (:func:`~compat.gate.userinput.check_user_input`) or None for the zoo."""
    user = None
    if ns.model or ns.adapter:
        if not (ns.model and ns.adapter):
            raise GateError("--model and --adapter go together (a base model and its prompt-learning adapter)")
        user = check_user_input(ns.model, ns.adapter, ns.prompts)
    elif ns.prompts:
        raise GateError("--prompts needs --model and --adapter")
    if ns.families or ns.methods:
        if user:
            raise GateError("--families/--methods choose zoo cases; they do not apply to --model/--adapter")
        _check_zoo_choice(ns)
    if ns.max_new_tokens < 1:
        raise GateError(f"--max-new-tokens must be at least 1, got {ns.max_new_tokens}")
    if not math.isfinite(ns.timeout) or ns.timeout <= 0:
        raise GateError(f"--timeout must be a positive number of seconds, got {ns.timeout:g}")
    return user


def _check_zoo_choice(ns: argparse.Namespace) -> None:
    from compat.gate.cases import METHODS as GATE_METHODS  # torch-free constants
    from compat.testing.methods import METHODS as ALL_METHODS
    from compat.testing.zoo import FAMILY_IDS

    for option, given, known in (("--families", ns.families, FAMILY_IDS), ("--methods", ns.methods, ALL_METHODS)):
        unknown = [x for x in given or [] if x not in known]
        if unknown:
            raise GateError(f"{option}: unknown {' '.join(unknown)}; expected some of {', '.join(known)} "
                            f"(default methods: {', '.join(GATE_METHODS)})")


def _prepare_sides(ns: argparse.Namespace, work: Path, timings: dict[str, float],
                   report: dict[str, Any]) -> tuple[Side, Side]:
    """Both environments, on the asked device and dtype, recorded in the report."""
    t0 = time.perf_counter()
    baseline, candidate = _resolve_sides(ns, work)
    for side in (baseline, candidate):
        side.environ = _with_this_compat(_side_environ(side.environ, ns), work)
        check_side_device(side, ns.device)
    report["device"], report["dtype"] = ns.device, ns.dtype
    report["data_root"] = str(resources.data_root())  # where the suites ran from (checkout or install)
    timings["environments"] = time.perf_counter() - t0
    report["from"], report["to"] = str(baseline.pins), str(candidate.pins)
    report["baseline"], report["candidate"] = baseline.to_json(), candidate.to_json()
    return baseline, candidate


def run_gate(ns: argparse.Namespace, timings: dict[str, float], report: dict[str, Any]) -> dict[str, Any]:
    """Everything between the input check and the verdict; raises :class:`GateError`."""
    work = Path(ns.work) if ns.work else _default_work()
    user = _check_options(ns)
    baseline, candidate = _prepare_sides(ns, work, timings, report)
    runs = work / "runs" / f"{'user' if user else 'zoo'}_{baseline.pins.label()}__{candidate.pins.label()}"
    # A private folder per run (goldens, logs, JUnit, pytest --basetemp): two gates never share one.
    # It stays as evidence until a later run of the same pair finds this run gone (sweep).
    with private_dir(runs, "run-", remove=False) as run_dir:
        _compare(ns, user, baseline, candidate, run_dir, timings, report)
    sweep(runs, keep=run_dir)
    return report


def _record_args(ns: argparse.Namespace, user: dict[str, Any] | None, golden_dir: Path) -> list[str]:
    args = ["record", "--out", str(golden_dir), "--max-new-tokens", str(ns.max_new_tokens),
            "--device", ns.device, "--dtype", ns.dtype]
    if user:
        args += ["--model", user["model"], "--adapter", user["adapter"]]
        if user["prompts"]:
            args += ["--prompts", user["prompts"]]
        return args
    args.append("--zoo")
    if ns.families:
        args += ["--families", *ns.families]
    if ns.methods:
        args += ["--methods", *ns.methods]
    return args


def _record_goldens(ns: argparse.Namespace, user: dict[str, Any] | None, baseline: Side, golden_dir: Path,
                    run_dir: Path, timings: dict[str, float]) -> dict[str, Any]:
    """Step 1: goldens on the baseline; their manifest."""
    t0 = time.perf_counter()
    proc = _inenv(baseline, _record_args(ns, user, golden_dir), run_dir / "record.log", ns.timeout)
    timings["record (baseline)"] = time.perf_counter() - t0
    manifest_path = golden_dir / "golden.json"
    if proc.returncode != 0 or not manifest_path.is_file():
        raise GateError(f"recording goldens on the baseline ({baseline.pins}) failed (exit {proc.returncode}): "
                        f"{_tail(proc.stderr or proc.stdout)} (log: {run_dir / 'record.log'})")
    manifest: dict[str, Any] = json.loads(manifest_path.read_text())
    if user:
        entry = manifest["cases"][0]
        if entry["status"] == "error":
            raise GateError(f"your model + adapter do not run on the baseline ({baseline.pins}), so there is "
                            f"nothing to compare: {entry['reason']}")
    return manifest


def _replay(ns: argparse.Namespace, candidate: Side, golden_dir: Path, run_dir: Path,
            timings: dict[str, float]) -> tuple[dict[str, Any] | None, str | None]:
    """Step 2: the goldens replayed on the candidate: (the replay, None) or (None, why it crashed)."""
    result_path = run_dir / "replay.json"
    result_path.unlink(missing_ok=True)
    t0 = time.perf_counter()
    proc = _inenv(candidate, ["replay", "--golden", str(golden_dir), "--out", str(result_path)],
                  run_dir / "replay.log", ns.timeout)
    timings["replay (candidate)"] = time.perf_counter() - t0
    if proc.returncode != 0 or not result_path.is_file():
        return None, f"exit {proc.returncode}: {_tail(proc.stderr or proc.stdout)} (log: {run_dir / 'replay.log'})"
    return json.loads(result_path.read_text()), None


def _suite_findings(base_s: SideSuites, cand_s: SideSuites, notes: list[str]) -> list[dict[str, Any]]:
    """What the two sides' suite outcomes say (and notes for what they cannot)."""
    if base_s.ran and cand_s.ran:
        fixed = sorted(t for t, r in base_s.tests.items() if r.outcome in (Outcome.FAILED, Outcome.ERROR)
                       and t in cand_s.tests and cand_s.tests[t].outcome == Outcome.PASSED)
        if fixed:
            notes.append(f"{len(fixed)} suite test(s) fail on the baseline and pass on the candidate, "
                         f"e.g. {', '.join(fixed[:3])}")
        return compare_suites(base_s.tests, cand_s.tests)
    if base_s.ran and cand_s.label.startswith("error"):
        return [{"severity": "broken", "kind": "suite", "where": f"suites ({cand_s.label})",
                 "detail": f"ran on the baseline; on the candidate: {cand_s.message}"}]
    notes.append(f"suites not compared: baseline {base_s.label} ({base_s.message}), "
                 f"candidate {cand_s.label} ({cand_s.message})")
    return []


def _run_suites_on_both(ns: argparse.Namespace, sides: tuple[Side, Side], run_dir: Path,
                        timings: dict[str, float]) -> dict[str, SideSuites]:
    """Step 3: the equivalence suites on each side, with the shared runner."""
    t0 = time.perf_counter()
    root = resources.suite_root()  # the checkout, or the copy an install ships
    suites = {side.role: run_suites(side.python, ns.suites, run_dir, name=f"suites-{side.role}", env=side.environ,
                                    cwd=root, timeout=ns.timeout, log=run_dir / f"suites-{side.role}.log")
              for side in sides}
    timings["suites (both)"] = time.perf_counter() - t0
    return suites


def _compare(ns: argparse.Namespace, user: dict[str, Any] | None, baseline: Side, candidate: Side, run_dir: Path,
             timings: dict[str, float], report: dict[str, Any]) -> None:
    """Record goldens on the baseline, replay them on the candidate, run the suites, decide."""
    golden_dir = run_dir / "goldens"
    manifest = _record_goldens(ns, user, baseline, golden_dir, run_dir, timings)
    replay, crash = _replay(ns, candidate, golden_dir, run_dir, timings)
    suite_findings: list[dict[str, Any]] = []
    notes: list[str] = []
    suites: dict[str, SideSuites] = {}
    if user and user.get("base_name_note"):
        notes.append(user["base_name_note"])
    if ns.no_suites or not ns.suites:
        notes.append("equivalence suites not run (--no-suites): the verdict rests on the golden replay only")
    else:
        suites = _run_suites_on_both(ns, (baseline, candidate), run_dir, timings)
        suite_findings = _suite_findings(suites["from"], suites["to"], notes)
    # 4. the verdict
    report.update(decide(manifest, replay, replay_crash=crash, suite_findings=suite_findings, suite_notes=notes))
    report["suites"] = {"baseline" if k == "from" else "candidate": v.to_json() for k, v in suites.items()}
    report["golden"] = {"dir": str(golden_dir), "producer": manifest["producer"],
                        "what": "your model + adapter" if user else "tiny zoo x prompt-learning methods"}
    report["replay"] = replay or {"crash": crash}


def _failure(exc: BaseException) -> tuple[str, str]:
    """(the report's message, the one line for stderr) for an exception that ended the run."""
    if isinstance(exc, (GateError, resources.ResourceError)):  # resources: no suites or config to read
        return str(exc), str(exc)
    if isinstance(exc, OSError):  # e.g. the work folder is read-only or full
        line = str(OutputError.of(exc, exc.filename or "a gate work file"))
        return line, line
    line = f"internal error: {type(exc).__name__}: {exc}"
    return f"{line}\n{traceback.format_exc(limit=8)}", f"{line} (traceback in the report)"


def _gate(ns: argparse.Namespace, reports: Path, command: str, reproduce: str) -> int:
    """The run, once the reports folder is held: running report, run, verdict or error report."""
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    base_report: dict[str, Any] = {"started": started, "command": command, "reproduce": reproduce,
                                   "from": " ".join(ns.from_pins or []) or ns.from_python or "(installed)",
                                   "to": " ".join(ns.to_pins or []) or ns.to_python or "(newest)"}
    write_reports({**base_report, "status": "running"}, reports)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    report = dict(base_report)
    try:
        run_gate(ns, timings, report)
    except (GateError, Exception) as exc:
        message, line = _failure(exc)
        write_reports({**report, "status": "error", "error": message, "exit_code": EXIT_ERROR}, reports)
        print(f"gate: error: {line}", file=sys.stderr)
        print(f"gate: no verdict; wrote an error report to {reports / 'gate.md'}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        write_reports({**report, "status": "error", "error": "interrupted", "exit_code": EXIT_ERROR}, reports)
        raise
    timings["total"] = time.perf_counter() - t0
    report["timings"] = {k: round(v, 1) for k, v in timings.items()}
    report["status"] = "verdict"
    report["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    json_path, md_path = write_reports(report, reports)
    print(md_path.read_text())
    print(f"gate: {report['verdict']} (exit {report['exit_code']}); reports: {md_path}, {json_path}")
    return report["exit_code"]


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Run the gate; the exit code is the verdict's (0 same, 1 changed, 2 broken) or 2 without one.

    ``prog``: how the gate was started, for the report's "Reproduce" line and the lock's owner
    record (default ``$PCC_GATE_PROG``, which ``nox -s gate`` sets, else ``python -m compat.gate``).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    prog = prog or os.environ.get("PCC_GATE_PROG") or "python -m compat.gate"
    ns = build_parser(prog).parse_args(argv)
    command = " ".join([prog, shlex.join(argv)]).strip()
    try:
        reports = Path(ns.reports) if ns.reports else resources.reports_dir()
        with hold_folder(reports, "gate", command):  # one gate per reports folder
            return _gate(ns, reports, command, reproduce=" ".join([REPRODUCE_PROG, shlex.join(argv)]).strip())
    # another gate, a read-only / full reports folder, or no suites and pyproject to read
    except (FolderBusyError, OutputError, resources.ResourceError) as exc:
        print(f"gate: error: {exc}", file=sys.stderr)
        print("gate: no verdict (no report written)", file=sys.stderr)
        return EXIT_ERROR
