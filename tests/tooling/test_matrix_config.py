"""Matrix files: every validation error names the file and the key; valid files load."""

from __future__ import annotations

import pytest

from compat.matrix.config import DEFAULT_SUITE, MatrixError, load_matrix, load_matrix_text
from compat.toolchain import PROJECT_ROOT

CELL = '[[cells]]\ntransformers = "4.46.3"\npeft = "0.14.0"\n'


@pytest.mark.parametrize(
    ("text", "key", "what"),
    [
        pytest.param('colour = "red"\n' + CELL, "colour", "unknown key", id="unknown-top-key"),
        pytest.param(CELL + 'pefft = "1"\n', "cells[0].pefft", "unknown key", id="unknown-cell-key"),
        pytest.param('[axes]\ntransformers = ["4.46.3"]\npeft = ["0.14.0"]\npython = ["3.11"]\n',
                     "axes.python", "unknown key", id="unknown-axes-key"),
        pytest.param('[[cells]]\ntransformers = "4.46.x"\npeft = "0.14.0"\n', "cells[0].transformers",
                     "malformed version", id="malformed-version"),
        pytest.param('[[cells]]\ntransformers = "v4.46.3"\npeft = "0.14.0"\n', "cells[0].transformers",
                     "canonical", id="non-canonical-version"),
        pytest.param('[axes]\ntransformers = ["4.46.3"]\npeft = []\n', "axes.peft", "empty axis", id="empty-axis"),
        pytest.param(CELL + CELL, "cells: t4.46.3-p0.14.0", "duplicate", id="duplicate-cell"),
        pytest.param(CELL + '[[cells]]\nname = "t4.46.3-p0.14.0"\ntransformers = "4.46.3"\npeft = "0.15.0"\n',
                     "cells: t4.46.3-p0.14.0", "duplicate cell name", id="duplicate-name"),
        pytest.param(CELL + '[[exclude]]\npeft = ">=0.20"\nreason = "no"\n', "exclude[0]", "matches no cell",
                     id="exclusion-matching-nothing"),
        pytest.param(CELL + '[[exclude]]\npeft = "0.14.0"\n', "exclude[0].reason", "needs a reason",
                     id="exclusion-without-reason"),
        pytest.param(CELL + 'expect = "fail"\n', "cells[0].reason", "needs a reason", id="expect-without-reason"),
        pytest.param(CELL + 'reason = "x"\n', "cells[0].reason", "without expect", id="reason-without-expect"),
        pytest.param(CELL + 'expect = "broken"\nreason = "x"\n', "cells[0].expect", "unknown outcome",
                     id="unknown-expect"),
        pytest.param(CELL + 'tests = ["*t5*"]\n', "cells[0].tests", "only a declared", id="tests-without-fail"),
        pytest.param(CELL + 'extra_pins = ["numpy<<2"]\n', "cells[0].extra_pins[0]", "malformed requirement",
                     id="malformed-pin"),
        pytest.param(CELL + 'extra_pins = ["torch==2.0"]\n', "cells[0].extra_pins[0]", "not extra_pins",
                     id="torch-as-pin"),
        pytest.param('torch = "torch==2.13.0"\n' + CELL, "torch", "local-labelled", id="torch-without-label"),
        pytest.param('[[cells]]\ntransformers = "4.46.3"\n', "cells[0].peft", "missing", id="missing-peft"),
        pytest.param('suite = []\n' + CELL, "suite", "empty suite", id="empty-suite"),
        pytest.param('suite = "censsus"\n' + CELL, "suite", "unknown suite 'censsus' (expected one of: default, census",
                     id="unknown-suite-name"),
        pytest.param(CELL + 'suite = "full"\n', "cells[0].suite", "unknown suite 'full'", id="unknown-cell-suite"),
        pytest.param(CELL + 'suite = 3\n', "cells[0].suite", "expected a list of non-empty strings",
                     id="cell-suite-not-a-name-or-list"),
    ],
)
def test_error_names_file_and_key(text, key, what):
    with pytest.raises(MatrixError) as info:
        load_matrix_text(text, "matrices/x.toml")
    message = str(info.value)
    assert message.startswith(f"matrices/x.toml: {key}: "), message
    assert what in message


def test_no_cells_is_an_error():
    with pytest.raises(MatrixError, match="no cells"):
        load_matrix_text('description = "empty"\n', "m.toml")


def test_invalid_toml_names_the_file():
    with pytest.raises(MatrixError, match=r"^m\.toml: not valid TOML"):
        load_matrix_text("[[cells]\n", "m.toml")


def test_missing_file_names_the_file(tmp_path):
    with pytest.raises(MatrixError, match=r"nope\.toml: cannot read"):
        load_matrix(tmp_path / "nope.toml")


def test_axes_product_minus_exclusions_plus_cells():
    m = load_matrix_text(
        '[axes]\ntransformers = ["4.46.3", "5.23.0"]\npeft = ["0.13.2", "0.21.2"]\ntags = ["ax"]\n'
        '[[exclude]]\ntransformers = ">=5"\npeft = "0.13.2"\nreason = "peft 0.13 predates v5"\n'
        '[[cells]]\ntransformers = "4.45.1"\npeft = "0.13.2"\nexpect = "fail"\nreason = "peft#2123"\n'
        'tests = ["*generate*"]\n',
        "m.toml",
    )
    assert [c.name for c in m.cells] == [
        "t4.46.3-p0.13.2", "t4.46.3-p0.21.2", "t5.23.0-p0.21.2", "t4.45.1-p0.13.2",
    ]
    assert m.cells[0].tags == ("ax",)
    assert m.cells[-1].expect == "fail" and m.cells[-1].tests == ("*generate*",)
    assert m.suite == DEFAULT_SUITE


def test_census_suite_by_name_for_the_matrix_or_one_cell():
    """``suite = "census"`` (file or cell) runs the census CI sample; other cells keep the matrix's."""
    from compat.matrix.config import SUITES

    m = load_matrix_text(CELL + '[[cells]]\ntransformers = "5.23.0"\npeft = "0.21.2"\nsuite = "census"\n', "m")
    assert [m.suite_for(c) for c in m.cells] == [DEFAULT_SUITE, ("tests/census",)]
    assert m.all_suites() == (*DEFAULT_SUITE, "tests/census")
    assert m.cells[1].run_fingerprint() != m.cells[1].__class__("x", "5.23.0", "0.21.2").run_fingerprint()
    whole = load_matrix_text('suite = "census"\n' + CELL, "m")
    assert whole.suite == SUITES["census"] == ("tests/census",)
    assert all((PROJECT_ROOT / p).is_dir() for suite in SUITES.values() for p in suite)


def test_a_cell_without_suite_keeps_its_run_fingerprint():
    """Adding the cell ``suite`` key did not change existing cells' fingerprints (--resume keeps them)."""
    import hashlib
    import json

    cell = load_matrix_text(CELL, "m").cells[0]
    what = [cell.name, cell.transformers, cell.peft, sorted(cell.extra_pins)]
    assert cell.run_fingerprint() == hashlib.sha256(json.dumps(what).encode()).hexdigest()[:16]


def test_census_matrix_file_loads():
    m = load_matrix(PROJECT_ROOT / "matrices" / "census.toml")
    assert m.suite == ("tests/census",) and len(m.cells) >= 2


@pytest.mark.parametrize(
    ("pattern", "names"),
    [
        pytest.param("t4*", ["t4.46.3-p0.14.0"], id="glob"),
        pytest.param("tag:new*", ["t5.23.0-p0.21.2"], id="tag"),
        pytest.param("t4*,tag:newest", ["t4.46.3-p0.14.0", "t5.23.0-p0.21.2"], id="union"),
    ],
)
def test_select(pattern, names):
    m = load_matrix_text(CELL + '[[cells]]\ntransformers = "5.23.0"\npeft = "0.21.2"\ntags = ["newest"]\n', "m")
    assert [c.name for c in m.select(pattern)] == names


def test_select_matching_nothing_is_an_error():
    with pytest.raises(MatrixError, match="matches no cell"):
        load_matrix_text(CELL, "m").select("t9*")


def test_shipped_matrices_load():
    smoke = load_matrix(PROJECT_ROOT / "matrices" / "smoke.toml")
    assert [c.name for c in smoke.cells] == ["t4.30.2-p0.5.0", "t4.46.3-p0.14.0", "t5.23.0-p0.21.2", "t5.24.0-p0.21.2"]
    default = load_matrix(PROJECT_ROOT / "matrices" / "default.toml")
    assert len(default.cells) >= 40
    known = {k.id: k for c in default.cells for k in c.known}
    assert known and all(k.reason and k.tests and (k.transformers or k.peft) for k in known.values())
    cells = {c.name: c for c in default.cells}
    assert "peft-2123-prompt-dropped-on-preallocated-cache" in {k.id for k in cells["t4.45.1-p0.13.2"].known}
    assert cells["t5.23.0-p0.21.2"].known == ()  # the last past_key_values release has no known issue
    assert {k.id for k in cells["t5.24.0-p0.21.2"].known} == {
        "peft-tf524-prefix-ignored-beside-cache", "peft-tf524-prompt-reinjected-every-step"}
    assert all(k.match for k in cells["t5.24.0-p0.21.2"].known)  # declared by their mechanism's signature
    assert {k.source for c in smoke.cells for k in c.known} == {"known-issues.toml"}
    assert ("5.23.0", "0.21.2") in {(c.transformers, c.peft) for c in default.cells}


def test_fingerprint_changes_with_the_definition():
    a = load_matrix_text(CELL, "m").cells[0]
    b = load_matrix_text(CELL + 'extra_pins = ["numpy<2"]\n', "m").cells[0]
    assert a.fingerprint() != b.fingerprint()
