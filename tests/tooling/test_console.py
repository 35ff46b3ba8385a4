"""``peft-cache-compat matrix|report|gate|census|migrate|watch``: one console command for every tool,
so nox is one way in, not the only one."""

from __future__ import annotations

import pytest

from compat.__main__ import SUBCOMMANDS, main
from compat.matrix.config import load_matrix
from compat.toolchain import PROJECT_ROOT


def test_every_tool_is_a_subcommand():
    assert {"matrix", "report", "gate", "census", "migrate", "watch"} <= set(SUBCOMMANDS)


def test_matrix_lists_the_default_matrix(capsys):
    assert main(["matrix", "run", "--list"], prog="peft-cache-compat") == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == [c.name for c in load_matrix(PROJECT_ROOT / "matrices" / "default.toml").cells]


def test_report_merges_through_the_matrix_report(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["report", "merge", str(tmp_path / "empty"), "--out", str(tmp_path / "out")],
                prog="peft-cache-compat") == 2
    assert "compat.matrix report: no cell results under" in capsys.readouterr().err


@pytest.mark.parametrize("argv,usage", [
    pytest.param(["matrix", "--help"], "usage: peft-cache-compat matrix [-h] {run,report}", id="matrix"),
    pytest.param(["report", "--help"], "usage: peft-cache-compat report [-h] {merge}", id="report"),
])
def test_usage_names_the_console_command(capsys, argv, usage):
    with pytest.raises(SystemExit) as stop:
        main(argv, prog="peft-cache-compat")
    assert stop.value.code == 0
    assert capsys.readouterr().out.startswith(usage)
