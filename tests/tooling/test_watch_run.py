"""The release watch end to end with a stubbed resolver and a stubbed gate (no network, no environments).

Each test reads the files the watch wrote (``watch.json``, ``watch.md``) and its exit code.
"""

from __future__ import annotations

import ast
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

import compat.__main__
from compat.toolchain import PROJECT_ROOT, default_pins
from compat.watch.check import main as check_main
from compat.watch.cli import main
from compat.watch.errors import WatchError

PINS = dict(p.split("==") for p in default_pins())
NEWER_TF = "99.0.0"  # a transformers release newer than any pin
CLOCK = lambda: datetime(2026, 11, 30, 6, 41, tzinfo=timezone.utc)  # noqa: E731


def resolver(**newest):
    """Answers the newest version per package: ``newest`` overrides, else the default pin."""
    asked = []

    def resolve(name):
        asked.append(name)
        return newest.get(name, PINS[name])

    resolve.asked = asked
    return resolve


class StubGate:
    """Stands in for ``compat.gate.cli.main``: writes the given ``gate.json`` and returns ``code``."""

    def __init__(self, report=None, code=0, raises=None):
        self.report, self.code, self.raises, self.calls = report, code, raises, []

    def __call__(self, argv):
        self.calls.append(argv)
        if self.raises:
            raise self.raises
        if self.report is not None:
            reports = Path(argv[argv.index("--reports") + 1])
            (reports / "gate.json").write_text(json.dumps(self.report))
        return self.code


def verdict_report(verdict, findings=(), **extra):
    return {"schema": 1, "status": "verdict", "verdict": verdict, "exit_code": {"same": 0, "changed": 1,
            "broken": 2}[verdict], "recorded": 90, "replay_counts": {"same": 8, "changed": 82},
            "findings": list(findings), "suites": {"baseline": {"counts": {"passed": 700}},
                                                  "candidate": {"counts": {"passed": 600, "failed": 100}}},
            "notes": [], **extra}


PREFIX_DROPPED = {"severity": "changed", "kind": "replay", "where": "llama-prefix g0.greedy",
                  "detail": "first differing step 0 (row 0: token 5 became 9; 2 row(s) differ); the candidate now "
                            "generates exactly what the base model generates without the adapter",
                  "evidence": {"kind": "tokens", "candidate_equals_base_model": True}}
SUITE_RAISES = {"severity": "broken", "kind": "suite",
                "where": "tests/equivalence/test_generate.py::test_greedy[gpt2-prefix-greedy]",
                "detail": "TypeError: forward() got an unexpected keyword argument 'cache'"}


def _run(tmp_path, *args, resolve=None, gate=None):
    code = main(["--reports", str(tmp_path), *args], resolve=resolve or resolver(), gate=gate or StubGate(),
                clock=CLOCK)
    data = json.loads((tmp_path / "watch.json").read_text())
    return code, data, (tmp_path / "watch.md").read_text()


def test_already_newest_says_same_without_running_the_gate(tmp_path):
    gate = StubGate(raises=AssertionError("the gate must not run when nothing is new"))
    resolve = resolver()
    code, data, md = _run(tmp_path, resolve=resolve, gate=gate)
    assert code == 0 and gate.calls == [] and sorted(resolve.asked) == ["peft", "transformers"]
    assert (data["status"], data["verdict"], data["gated"], data["new"], data["gate"]) == (
        "verdict", "same", False, [], None)
    assert [u["change"] for u in data["updates"]] == ["same", "same"]
    assert data["baseline"] == data["candidate"] == f"transformers=={PINS['transformers']} peft=={PINS['peft']}"
    assert md.startswith("## Release watch 2026-11-30: ✅ **same** (exit 0)")
    assert "nothing new, nothing to gate (no environment built)" in md
    assert not (tmp_path / "gate.json").exists()


@pytest.mark.parametrize("report, code, icon", [
    pytest.param(verdict_report("same"), 0, "✅", id="same"),
    pytest.param(verdict_report("changed", [PREFIX_DROPPED]), 1, "⚠️", id="changed"),
    pytest.param(verdict_report("broken", [SUITE_RAISES, PREFIX_DROPPED]), 2, "❌", id="broken"),
])
def test_new_release_is_gated_and_the_verdict_is_the_gates(tmp_path, report, code, icon):
    gate = StubGate(report, code=report["exit_code"])
    got, data, md = _run(tmp_path, resolve=resolver(transformers=NEWER_TF), gate=gate)
    verdict = report["verdict"]
    assert got == code == data["exit_code"]
    assert (data["status"], data["verdict"], data["gated"]) == ("verdict", verdict, True)
    assert gate.calls == [["--from", f"transformers=={PINS['transformers']}", f"peft=={PINS['peft']}",
                           "--to", f"transformers=={NEWER_TF}", f"peft=={PINS['peft']}", "--reports", str(tmp_path)]]
    assert data["new"] == ["transformers"] and data["date"] == "2026-11-30"
    assert data["candidate"] == f"transformers=={NEWER_TF} peft=={PINS['peft']}"
    assert data["gate"]["verdict"] == verdict and data["gate"]["recorded"] == 90
    assert data["gate"]["findings"] == {f"{f['severity']}/{f['kind']}": 1 for f in report["findings"]}
    dropped = PREFIX_DROPPED in report["findings"]
    assert data["gate"]["adapter_ignored"] == (["llama-prefix g0.greedy"] if dropped else [])
    assert md.startswith(f"## Release watch 2026-11-30: {icon} **{verdict}** (exit {code})")
    assert f"| transformers | {PINS['transformers']} | {NEWER_TF} | **new** |" in md
    assert "82 changed, 8 same" in md and "candidate: 100 failed, 600 passed" in md
    for f in report["findings"]:
        assert f"`{f['where']}`" in md
    assert ("(the prefix/prompt is dropped): `llama-prefix g0.greedy`." in md) == (PREFIX_DROPPED in report["findings"])
    assert check_main([str(tmp_path / "watch.json")]) == (0 if verdict == "same" else 1)


def test_only_peft_new_gates_too(tmp_path):
    gate = StubGate(verdict_report("same"))
    code, data, _ = _run(tmp_path, resolve=resolver(peft="9.9.9"), gate=gate)
    assert code == 0 and data["new"] == ["peft"] and gate.calls[0][gate.calls[0].index("--to") + 2] == "peft==9.9.9"


def test_options_the_watch_does_not_know_go_to_the_gate_in_order(tmp_path):
    gate = StubGate(verdict_report("same"))
    _run(tmp_path, "--no-suites", "--work", str(tmp_path / "w"), "--families", "gpt2", "llama",
         resolve=resolver(transformers=NEWER_TF), gate=gate)
    assert gate.calls[0][-6:] == ["--no-suites", "--work", str(tmp_path / "w"), "--families", "gpt2", "llama"]


GATE_ERROR = {"schema": 1, "status": "error", "error": "--to transformers==99.0.0: the environment could not be built"}


@pytest.mark.parametrize("args, resolve, gate, message", [
    pytest.param((), resolver(transformers=NEWER_TF), StubGate(GATE_ERROR, code=2),
                 "the gate gave no verdict: --to transformers==99.0.0: the environment could not be built",
                 id="gate-error-report"),
    pytest.param((), resolver(transformers=NEWER_TF), StubGate({"schema": 1, "status": "running"}, code=2),
                 "status 'running' (the gate did not finish)", id="gate-left-running"),
    pytest.param((), resolver(transformers=NEWER_TF), StubGate(None, code=0), "the gate wrote no report",
                 id="gate-wrote-nothing"),
    pytest.param((), resolver(transformers=NEWER_TF), StubGate(verdict_report("same") | {"verdict": "fine"}),
                 "verdict 'fine'; expected one of same, changed, broken", id="gate-unknown-verdict"),
    pytest.param((), resolver(transformers=NEWER_TF), StubGate(raises=SystemExit(2)), "the gate refused its options",
                 id="gate-argparse-exit"),
    pytest.param((), resolver(transformers=NEWER_TF), StubGate(raises=KeyError("boom")),
                 "internal error: KeyError: 'boom'", id="gate-crashes"),
    pytest.param(("--from", "transformers==1.0.0", "peft==0.1.0"), resolver(), StubGate(),
                 "--from: the watch sets this itself", id="from-given"),
    pytest.param(("--to-python", "/usr/bin/python3"), resolver(), StubGate(), "--to-python: the watch sets this itself",
                 id="to-python-given"),
    pytest.param(("--frobnicate",), resolver(), StubGate(),
                 "options not understood by the watch or the gate: --frobnicate", id="unknown-option"),
])
def test_no_verdict_is_an_error_report_with_exit_2(tmp_path, args, resolve, gate, message):
    code, data, md = _run(tmp_path, *args, resolve=resolve, gate=gate)
    assert code == 2 and data["exit_code"] == 2
    assert (data["status"], data["verdict"]) == ("error", None)
    assert message in data["error"]
    assert md.startswith("## Release watch 2026-11-30: ERROR (no verdict)") and message in md
    assert check_main([str(tmp_path / "watch.json")]) == 1


def test_resolver_failure_is_an_error_and_nothing_is_gated(tmp_path):
    def offline(name):
        raise WatchError(f"{name}: the package index did not answer within 180 s (offline?)")

    gate = StubGate(raises=AssertionError("must not run"))
    code, data, _ = _run(tmp_path, resolve=offline, gate=gate)
    assert code == 2 and gate.calls == [] and data["status"] == "error" and data["gated"] is False
    assert data["error"] == "transformers: the package index did not answer within 180 s (offline?)"


def test_bad_default_pins_are_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PCC_PINS", "transformers>=5 peft==0.21.2")
    code, data, _ = _run(tmp_path)
    assert code == 2 and "default pins" in data["error"] and "'transformers>=5' is not an exact pin" in data["error"]


def test_a_running_report_replaces_the_last_verdict_while_the_watch_works(tmp_path):
    (tmp_path / "watch.json").write_text(json.dumps({"status": "verdict", "verdict": "same"}))
    seen = []

    def resolve(name):
        seen.append(json.loads((tmp_path / "watch.json").read_text()))
        return PINS[name]

    _run(tmp_path, resolve=resolve)
    assert {(s["status"], s["verdict"]) for s in seen} == {("running", None)}
    assert check_main([str(tmp_path / "missing.json")]) == 1


@pytest.mark.parametrize("content, code, said", [
    pytest.param({"schema": "peft-cache-compat/watch", "schema_version": 1, "status": "verdict", "verdict": "same",
                  "new": []}, 0, "watch: same (new: nothing)", id="same"),
    pytest.param({"schema": "peft-cache-compat/watch", "schema_version": 1, "status": "verdict",
                  "verdict": "broken", "new": ["transformers"]}, 1,
                 "::error title=release watch broken::new: transformers", id="broken"),
    pytest.param({"schema": "peft-cache-compat/watch", "schema_version": 1, "status": "running", "verdict": None},
                 1, "::error title=release watch running::no verdict", id="running"),
    pytest.param({"schema": "peft-cache-compat/gate", "status": "verdict", "verdict": "same"}, 1,
                 "::error title=release watch foreign::", id="other-schema"),
    pytest.param("{not json", 1, "::error title=release watch unreadable::", id="unreadable"),
])
def test_the_ci_check_reads_the_verdict_from_the_file(tmp_path, capsys, content, code, said):
    path = tmp_path / "watch.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    assert check_main([str(path)]) == code
    assert capsys.readouterr().out.startswith(said)


def test_python_m_compat_dispatches_watch(capsys):
    with pytest.raises(SystemExit) as exc:
        compat.__main__.main(["watch", "--help"])
    assert exc.value.code == 0 and "usage: python -m compat.watch" in capsys.readouterr().out


def test_nox_has_a_watch_session_running_the_watch_module():
    tree = ast.parse((PROJECT_ROOT / "noxfile.py").read_text())
    [session] = [f for f in tree.body if isinstance(f, ast.FunctionDef) and f.name == "watch"]
    assert any("nox.session" in ast.unparse(d) for d in session.decorator_list)
    assert '"-m", "compat.watch"' in ast.unparse(session).replace("'", '"')


def test_the_evidence_table_takes_turns_across_severity_and_kind(tmp_path):
    suite = [SUITE_RAISES | {"where": f"t.py::test[{i}]"} for i in range(30)]
    gate = StubGate(verdict_report("broken", [*suite, PREFIX_DROPPED]), code=2)
    _, data, md = _run(tmp_path, resolve=resolver(transformers=NEWER_TF), gate=gate)
    assert data["gate"]["findings"] == {"broken/suite": 30, "changed/replay": 1}
    assert [f["where"] for f in data["gate"]["top"]][:3] == ["t.py::test[0]", "llama-prefix g0.greedy", "t.py::test[1]"]
    assert len(data["gate"]["top"]) == 10 and "evidence (10 of 31)" in md


def test_ctrl_c_leaves_an_error_report_not_a_verdict(tmp_path):
    gate = StubGate(raises=KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, resolve=resolver(transformers=NEWER_TF), gate=gate)
    data = json.loads((tmp_path / "watch.json").read_text())
    assert (data["status"], data["verdict"], data["error"], data["exit_code"]) == ("error", None, "interrupted", 2)
