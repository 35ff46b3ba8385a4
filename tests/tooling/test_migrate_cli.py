"""The ``compat migrate`` command line: output format, exit codes, JSON,
--select/--ignore, --diff, --fix, directories, unparsable files, noqa, the
pre-commit hook and the old-style samples' rule coverage."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("libcst", reason="not-applicable: libcst (the migrate extra) is not installed")

from compat.migrate import RULES
from compat.migrate.cli import main

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "examples" / "old_style"
LINE = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<code>PCC\d{3}) (\[\*\] )?\S")

OLD = "from transformers import DynamicCache\n\ncache = DynamicCache.from_legacy_cache(tuple(pkv))\n"
TODO_ONLY = "def f(past_key_values):\n    past_key_values.crop(0)\n"
CLEAN = "import compat\n\ncache = compat.to_cache(pkv)\n"
UNPARSABLE = "def broken(:\n    pass\n"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "old.py").write_text(OLD)
    (tmp_path / "todo.py").write_text(TODO_ONLY)
    (tmp_path / "clean.py").write_text(CLEAN)
    return tmp_path


def run(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_clean_exits_0(tree, capsys):
    code, out, _ = run([tree / "clean.py"], capsys)
    assert code == 0
    assert "All checks passed!" in out


def test_findings_exit_1_in_ruff_format(tree, capsys):
    code, out, _ = run([tree], capsys)
    assert code == 1
    findings = [line for line in out.splitlines() if LINE.match(line)]
    assert {LINE.match(line)["code"] for line in findings} == {"PCC001", "PCC006"}
    assert any(line.startswith(f"{tree / 'old.py'}:3:9: PCC001 [*] ") for line in findings)
    assert any(line.startswith(f"{tree / 'todo.py'}:2:5: PCC006 `past_key_values.crop(0)`: ") for line in findings)
    assert "Found 2 findings." in out


def test_json(tree, capsys):
    code, out, _ = run([tree, "--format", "json"], capsys)
    assert code == 1
    data = json.loads(out)
    assert data["schema_version"] == 1
    assert sorted(f["code"] for f in data["findings"]) == ["PCC001", "PCC006"]
    first = next(f for f in data["findings"] if f["code"] == "PCC001")
    assert first["location"] == {"row": 3, "column": 9}
    assert first["fixable"] is True and first["fixed"] is False and first["fix"] == RULES["PCC001"].fix
    assert data["errors"] == [] and data["summary"]["remaining"] == 2


@pytest.mark.parametrize(
    ("flags", "codes", "exit_code"),
    [
        pytest.param(["--select", "PCC001"], {"PCC001"}, 1, id="select-one"),
        pytest.param(["--select", "PCC006,PCC001"], {"PCC001", "PCC006"}, 1, id="select-comma"),
        pytest.param(["--select", "PCC00"], {"PCC001", "PCC006"}, 1, id="select-prefix"),
        pytest.param(["--ignore", "PCC001"], {"PCC006"}, 1, id="ignore-one"),
        pytest.param(["--ignore", "PCC001", "--ignore", "PCC006"], set(), 0, id="ignore-repeated"),
        pytest.param(["--select", "PCC011"], set(), 0, id="select-absent"),
    ],
)
def test_select_ignore(tree, capsys, flags, codes, exit_code):
    code, out, _ = run([tree, "--format", "json", *flags], capsys)
    assert code == exit_code
    assert {f["code"] for f in json.loads(out)["findings"]} == codes


def test_unknown_rule_is_a_usage_error(tree, capsys):
    code, _, err = run([tree, "--select", "PCC999"], capsys)
    assert code == 2
    assert "unknown rule id 'PCC999'" in err


def test_diff_previews_without_writing(tree, capsys):
    code, out, _ = run([tree, "--diff"], capsys)
    assert code == 1
    assert (tree / "old.py").read_text() == OLD
    assert f"--- {tree / 'old.py'}" in out
    assert "-cache = DynamicCache.from_legacy_cache(tuple(pkv))" in out
    assert "+cache = compat.to_cache(tuple(pkv))" in out
    assert "+    # TODO(compat): PCC006" in out


def test_diff_on_clean_tree_exits_0(tree, capsys):
    code, out, _ = run([tree / "clean.py", "--diff"], capsys)
    assert (code, out) == (0, "")


def test_fix_writes_then_second_run_changes_nothing(tree, capsys):
    code, out, _ = run([tree, "--fix"], capsys)
    assert code == 1  # the crop(0) TODO remains
    assert "Found 2 findings (1 fixed, 1 remaining)." in out
    fixed = {p.name: p.read_text() for p in tree.iterdir()}
    assert "compat.to_cache(tuple(pkv))" in fixed["old.py"]
    assert "# TODO(compat): PCC006" in fixed["todo.py"]
    code, _, _ = run([tree, "--diff"], capsys)
    assert code == 0
    run([tree, "--fix"], capsys)
    assert {p.name: p.read_text() for p in tree.iterdir()} == fixed


def test_fix_exits_0_when_everything_was_fixed(tree, capsys):
    code, out, _ = run([tree / "old.py", "--fix"], capsys)
    assert code == 0
    assert "(1 fixed, 0 remaining)" in out


def test_unparsable_file_is_reported_and_others_still_processed(tree, capsys):
    (tree / "bad.py").write_text(UNPARSABLE)
    code, out, err = run([tree, "--fix"], capsys)
    assert code == 2
    assert re.search(rf"^{re.escape(str(tree / 'bad.py'))}: error: cannot parse: .+ \(line 1, column \d+\)$", err, re.M)
    assert "compat.to_cache" in (tree / "old.py").read_text()
    assert (tree / "bad.py").read_text() == UNPARSABLE
    assert "1 file could not be checked" in out


def test_unparsable_file_in_json(tree, capsys):
    (tree / "bad.py").write_text(UNPARSABLE)
    code, out, _ = run([tree, "--format", "json"], capsys)
    data = json.loads(out)
    assert code == 2
    assert [e["filename"] for e in data["errors"]] == [str(tree / "bad.py")]
    assert data["errors"][0]["message"].startswith("cannot parse: ")
    assert {f["code"] for f in data["findings"]} == {"PCC001", "PCC006"}


def test_missing_path_is_an_error(tree, capsys):
    code, _, err = run([tree / "nope.py", tree / "old.py"], capsys)
    assert code == 2
    assert f"{tree / 'nope.py'}: error: no such file or directory" in err


def test_directory_walk_skips_hidden_and_venv_dirs(tree, capsys):
    for skipped in (".venv", "venv", "__pycache__", ".git"):
        (tree / skipped).mkdir()
        (tree / skipped / "x.py").write_text(OLD)
    (tree / "pkg").mkdir()
    (tree / "pkg" / "y.py").write_text(OLD)
    (tree / "notes.txt").write_text(OLD)
    _, out, _ = run([tree, "--format", "json"], capsys)
    files = sorted({Path(f["filename"]).relative_to(tree).as_posix() for f in json.loads(out)["findings"]})
    assert files == ["old.py", "pkg/y.py", "todo.py"]


def test_statistics(tree, capsys):
    (tree / "more.py").write_text(TODO_ONLY)
    code, out, _ = run([tree, "--statistics"], capsys)
    assert code == 1
    assert out.splitlines() == ["    2  PCC006      crop-non-negative", "    1  PCC001  [*] from-legacy-cache"]


def test_list_rules_names_every_rule(capsys):
    code, out, _ = run(["--list-rules"], capsys)
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()] == list(RULES)


def test_samples_list_each_declared_rule(capsys):
    """Linting examples/old_style finds, per sample, exactly the rules its docstring declares,
    and all rules together."""
    code, out, _ = run([SAMPLES, "--format", "json"], capsys)
    assert code == 1
    found: dict[str, set[str]] = {}
    for f in json.loads(out)["findings"]:
        found.setdefault(Path(f["filename"]).name, set()).add(f["code"])
    for sample in sorted(SAMPLES.glob("*.py")):
        doc = sample.read_text().split('"""')[1]
        declared = set(re.findall(r"PCC\d{3}", doc.split("Patterns:")[1]))
        assert found.get(sample.name, set()) == declared, sample.name
    assert set().union(*found.values()) == set(RULES)


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["-m", "compat", "migrate"], id="python-m-compat-migrate"),
        pytest.param(["-m", "compat.migrate"], id="python-m-compat.migrate"),
    ],
)
def test_entry_points(tree, command):
    proc = subprocess.run(
        [sys.executable, *command, str(tree / "old.py")], capture_output=True, text=True, cwd=ROOT, timeout=120,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert LINE.match(proc.stdout.splitlines()[0])["code"] == "PCC001"


def test_pre_commit_hook_definition():
    text = (ROOT / ".pre-commit-hooks.yaml").read_text()
    assert re.search(r"^- id: compat-migrate$", text, re.M)
    assert re.search(r"^  entry: python -m compat migrate$", text, re.M)
    assert re.search(r"^  language: python$", text, re.M)
    assert re.search(r"^  types: \[python\]$", text, re.M)


def test_docs_rule_table_lists_every_rule():
    text = (ROOT / "docs" / "migrate.md").read_text()
    for rule in RULES.values():
        assert re.search(rf"^\| {rule.id} \| {rule.name} \|", text, re.M), rule.id


def test_diff_json_marks_nothing_fixed(tree, capsys):
    code, out, _ = run([tree, "--diff", "--format", "json"], capsys)
    data = json.loads(out)
    assert code == 1
    assert [f["fixed"] for f in data["findings"]] == [False, False]
    assert sorted(Path(p).name for p in data["diffs"]) == ["old.py", "todo.py"]
    assert "+cache = compat.to_cache(tuple(pkv))" in data["diffs"][str(tree / "old.py")]


def test_sample_without_safe_rewrite_only_gets_todo_comments(tmp_path, capsys):
    sample = SAMPLES / "needs_review.py"
    target = tmp_path / sample.name
    target.write_text(sample.read_text())
    code, _, _ = run([target, "--fix"], capsys)
    assert code == 1
    after = target.read_text().splitlines()
    todos = [line for line in after if line.lstrip().startswith("# TODO(compat): ")]
    assert sorted(t.split()[2] for t in todos) == ["PCC006", "PCC006", "PCC007", "PCC008", "PCC009", "PCC010", "PCC012"]
    assert [line for line in after if line not in todos] == sample.read_text().splitlines()


def test_fix_on_samples_is_idempotent(tmp_path, capsys):
    target = tmp_path / "old_style"
    target.mkdir()
    for sample in SAMPLES.glob("*.py"):
        (target / sample.name).write_text(sample.read_text())
    run([target, "--fix"], capsys)
    once = {p.name: p.read_bytes() for p in target.iterdir()}
    assert once != {p.name: p.read_bytes() for p in SAMPLES.glob("*.py")}
    code, out, _ = run([target, "--diff"], capsys)
    assert (code, out) == (0, "")
    run([target, "--fix"], capsys)
    assert {p.name: p.read_bytes() for p in target.iterdir()} == once


def test_crlf_line_endings_are_kept(tmp_path, capsys):
    path = tmp_path / "crlf.py"
    path.write_bytes(b"from transformers import DynamicCache\r\nc = DynamicCache.from_legacy_cache(tuple(p))\r\n")
    run([path, "--fix"], capsys)
    data = path.read_bytes()
    assert b"compat.to_cache(tuple(p))\r\n" in data
    assert b"\n" not in data.replace(b"\r\n", b"")


@pytest.mark.parametrize(
    ("raw", "encoding"),
    [
        pytest.param("# -*- coding: latin-1 -*-\r\nfrom transformers import DynamicCache\r\nname = 'caf\xe9'\r\n"
                     "c = DynamicCache.from_legacy_cache(tuple(p))\r\n", "latin-1", id="pep263-latin1-crlf"),
        pytest.param("from transformers import DynamicCache\nc = DynamicCache.from_legacy_cache(tuple(p))\r\n",
                     "utf-8-sig", id="utf8-bom-mixed-newlines"),
    ],
)
def test_fix_keeps_encoding_bom_and_line_endings(tmp_path, capsys, raw, encoding):
    target = tmp_path / "m.py"
    target.write_bytes(raw.encode(encoding))
    code, _, _ = run([target, "--fix"], capsys)
    assert code == 0
    data = target.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") == (encoding == "utf-8-sig")
    text = data.decode(encoding)
    assert "compat.to_cache(tuple(p))" in text
    newlines = [line[len(line.rstrip("\r\n")):] for line in raw.splitlines(keepends=True)]
    assert text.endswith(newlines[-1]) and text.count("\r\n") >= raw.count("\r\n")


def test_own_class_in_another_module_is_never_a_target(tmp_path, capsys):
    """A class defining ``to_legacy_cache`` in one module; its instances used in another."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "store.py").write_text("class Store:\n    def to_legacy_cache(self):\n        return ()\n")
    (package / "use.py").write_text("from pkg.store import Store\n\n\ndef dump(s):\n    return s.to_legacy_cache()\n")
    (package / "other.py").write_text("def dump(c):\n    return c.to_legacy_cache()\n")
    _code, out, _ = run([tmp_path, "--format", "json"], capsys)
    found = {(Path(f["filename"]).name, f["code"]) for f in json.loads(out)["findings"]}
    assert found == {("other.py", "PCC002")}


def test_public_all_names_exactly_the_lazy_exports_and_run():
    """``__all__`` is a literal list (for linters); it must stay in step with the lazy exports."""
    import compat.migrate as migrate

    assert sorted(migrate.__all__) == sorted([*migrate._EXPORTS, "INSTALL_HINT", "run"])


def test_worker_processes_give_the_same_report_and_fixes(tmp_path, capsys):
    """Both steps in worker processes (at least 8 files each) see the same tree index: a cache
    subclass defined in one module makes its reads in another a finding, and a plain module
    that does not parse is still reported."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "caches.py").write_text(
        "from transformers import DynamicCache\n\n\nclass Store(DynamicCache):\n    pass\n")
    for i in range(10):
        (package / f"use{i}.py").write_text(
            "from pkg.caches import Store\n\n\ndef first(s: Store):\n    return s.key_cache[0]\n")
        (package / f"plain{i}.py").write_text(f"def f{i}(x):\n    return x + {i}\n")
    (package / "bad.py").write_text(UNPARSABLE)
    copies = {}
    for jobs in ("1", "2"):
        copy = tmp_path / f"jobs{jobs}"
        shutil.copytree(package, copy / "pkg")
        code, out, _ = run([copy, "--fix", "--format", "json", "--jobs", jobs], capsys)
        report = json.loads(out.replace(str(copy), "<root>"))
        copies[jobs] = (code, report, {p.name: p.read_text() for p in (copy / "pkg").iterdir()})
    assert copies["1"] == copies["2"]
    code, report, files = copies["2"]
    assert code == 2 and [e["filename"] for e in report["errors"]] == ["<root>/pkg/bad.py"]
    assert sorted({f["code"] for f in report["findings"]}) == ["PCC003"] and len(report["findings"]) == 10
    assert "compat.layer_keys(s, 0)" in files["use3.py"]
