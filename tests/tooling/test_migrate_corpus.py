"""The migrate corpus (tests/migrate/corpus): one realistic snippet per pattern of issues
12 and 15, each with its expected findings declared (``# expect: PCC001`` on the line)
and a ``run()`` whose result is compared before and after ``--fix``.

Behaviour, per snippet and per interpreter (this one, plus every python listed in
``PCC_MIGRATE_PYTHONS``, comma-separated: e.g. a transformers 4.46.3 env and 5.24.0):

* where the original ran, the fixed snippet gives exactly the same result;
* where it failed, the fixed one runs, or the line that still fails sits under a
  ``# TODO(compat):`` comment (it needs a person);
* a fixed snippet with no PCC012 TODO left draws no ``past_key_values`` deprecation
  warning (5.24 renamed it to ``cache``).

Precision and recall of the findings against the declared ones are measured on the
whole corpus; ``-s`` prints them (the figures in docs/migrate.md come from here).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("libcst", reason="not-applicable: libcst (the migrate extra) is not installed")
torch = pytest.importorskip("torch", reason="not-applicable: the corpus runs snippets with torch")

from compat.migrate.cli import main  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "migrate" / "corpus"
RUNNER = ROOT / "tests" / "migrate" / "runner.py"
_EXPECT = re.compile(r"#\s*expect:\s*((?:PCC\d{3}\s*)+)")
_TODO = "# TODO(compat): "


def _snippets() -> list[str]:
    """Module names of the corpus snippets (every module with a ``run()``)."""
    names = []
    for path in sorted(CORPUS.rglob("*.py")):
        if path.name.startswith("_") or "def run(" not in path.read_text(encoding="utf-8"):
            continue
        names.append(".".join(path.relative_to(CORPUS).with_suffix("").parts))
    return names


def _pythons() -> list[str]:
    extra = [p.strip() for p in os.environ.get("PCC_MIGRATE_PYTHONS", "").split(",") if p.strip()]
    return [sys.executable, *extra]


SNIPPETS = _snippets()
PYTHONS = _pythons()


def _expected() -> set[tuple[str, int, str]]:
    expected = set()
    for path in sorted(CORPUS.rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            match = _EXPECT.search(line)
            if match:
                rel = path.relative_to(CORPUS).as_posix()
                expected.update((rel, number, code) for code in match.group(1).split())
    return expected


def _lint(tree: Path, capsys) -> dict:
    main([str(tree), "--format", "json", "--jobs", "1"])
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def trees(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("corpus")
    before, after = base / "before", base / "after"
    shutil.copytree(CORPUS, before)
    shutil.copytree(CORPUS, after)
    code = main([str(after), "--fix", "--format", "json", "--jobs", "1"])
    assert code in (0, 1), f"--fix on the corpus exited {code}"
    return {"before": before, "after": after}


_RESULTS: dict[tuple[str, str], dict] = {}


def _results(python: str, tree: Path) -> dict:
    key = (python, str(tree))
    if key not in _RESULTS:
        if not Path(python).is_file():
            pytest.fail(f"PCC_MIGRATE_PYTHONS names {python}, which does not exist")
        out = tree.parent / f"results-{len(_RESULTS)}.pt"
        env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error"}
        done = subprocess.run([python, str(RUNNER), str(tree), str(out), *SNIPPETS],
                              capture_output=True, text=True, env=env, timeout=900, check=False)
        assert done.returncode == 0, f"{python}: the corpus runner failed: {done.stderr[-2000:]}"
        _RESULTS[key] = torch.load(out, weights_only=False)
    return _RESULTS[key]


def _equal(a, b) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape
                and a.dtype == b.dtype and torch.equal(a, b))
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def _under_todo(tree: Path, file: str, line: int) -> bool:
    """The statement at ``line`` has a ``# TODO(compat):`` comment in the comment block above it."""
    lines = (tree / file).read_text(encoding="utf-8").splitlines()
    number = line - 1  # 1-based line above
    while number >= 1 and lines[number - 1].lstrip().startswith("#"):
        if lines[number - 1].lstrip().startswith(_TODO):
            return True
        number -= 1
    return False


def _version(python: str) -> str:
    done = subprocess.run([python, "-c", "import transformers; print(transformers.__version__)"],
                          capture_output=True, text=True, timeout=300, check=False)
    return done.stdout.strip() or "unknown"


@pytest.mark.parametrize("python", PYTHONS)
@pytest.mark.parametrize("snippet", SNIPPETS)
def test_fix_keeps_the_result_or_leaves_a_todo(snippet, python, trees):
    before = _results(python, trees["before"])[snippet]
    after = _results(python, trees["after"])[snippet]
    where = f"{snippet} on transformers {_version(python)}"
    if before["ok"]:
        assert after["ok"], f"{where}: ran before --fix, fails after: {after['error']} (line {after['line']})"
        assert _equal(before["value"], after["value"]), f"{where}: --fix changed the result"
    elif not after["ok"]:
        assert after["file"] is not None and _under_todo(trees["after"], after["file"], after["line"]), (
            f"{where}: still fails after --fix at {after['file']}:{after['line']} ({after['error']}) "
            "with no TODO(compat) comment there"
        )


@pytest.mark.parametrize("python", PYTHONS)
@pytest.mark.parametrize("snippet", SNIPPETS)
def test_fixed_code_draws_no_past_key_values_deprecation(snippet, python, trees):
    path = trees["after"] / (snippet.replace(".", "/") + ".py")
    after = _results(python, trees["after"])[snippet]
    if _TODO + "PCC012" in path.read_text(encoding="utf-8"):
        pytest.skip("not-applicable: a PCC012 TODO is left for a person (the receiver is not provably a model)")
    deprecations = [w for w in after["warnings"] if "past_key_values" in w and "deprecat" in w.lower()]
    assert deprecations == [], f"{snippet} on transformers {_version(python)}: {deprecations}"


def _score(report: dict) -> tuple[float, float, set, set]:
    found = {(Path(f["filename"]).relative_to(CORPUS).as_posix(), f["location"]["row"], f["code"])
             for f in report["findings"]}
    expected = _expected()
    true = found & expected
    precision = len(true) / len(found) if found else 0.0
    recall = len(true) / len(expected) if expected else 0.0
    return precision, recall, found - expected, expected - found


def test_corpus_precision_and_recall(capsys):
    report = _lint(CORPUS, capsys)
    assert report["errors"] == []
    precision, recall, false_pos, missed = _score(report)
    with capsys.disabled():
        print(f"\nmigrate corpus: {len(_expected())} expected findings, precision {precision:.1%}, "
              f"recall {recall:.1%}; false: {sorted(false_pos)}; missed: {sorted(missed)}")
    assert precision >= 0.95 and recall >= 0.95, (precision, recall, sorted(false_pos), sorted(missed))


def test_corpus_todos_fit_in_100_characters_and_fix_is_idempotent(trees, capsys):
    for path in trees["after"].rglob("*.py"):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.lstrip().startswith(_TODO):
                assert len(line.strip()) <= 100, (path.name, line)
                assert re.match(r"# TODO\(compat\): PCC\d{3} ", line.strip()), line
    snapshot = {p: p.read_bytes() for p in trees["after"].rglob("*.py")}
    main([str(trees["after"]), "--fix", "--jobs", "1"])
    capsys.readouterr()
    assert {p: p.read_bytes() for p in trees["after"].rglob("*.py")} == snapshot


def test_layer_accessor_returns_the_layer_tensor_itself():
    """The PCC003 rewrite target reads one layer (the same tensor object), no tuple rebuilt."""
    transformers = pytest.importorskip("transformers")
    import compat

    k, v = torch.randn(1, 2, 3, 4), torch.randn(1, 2, 3, 4)
    cache = transformers.DynamicCache()
    cache.update(k, v, 0)
    cache.update(k + 1, v + 1, 1)
    layers = getattr(cache, "layers", None)
    native = layers[1].keys if layers is not None else cache.key_cache[1]
    assert compat.layer_keys(cache, 1) is native
    assert compat.layer_values(cache, -1) is (layers[-1].values if layers is not None else cache.value_cache[-1])

