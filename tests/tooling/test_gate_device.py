"""The gate's --device/--dtype: a CUDA gate on a side without CUDA is an error naming the side and
the fix (never a CPU run under a CUDA label); the options are validated; a CPU gate's sides carry
the CPU axes."""

from __future__ import annotations

import json
import sys

import pytest

from compat.gate.cli import _side_environ, build_parser, main


def test_cuda_gate_on_a_cpu_torch_is_an_error(tmp_path):
    reports = tmp_path / "r"
    code = main(["--from-python", sys.executable, "--to-python", sys.executable, "--device", "cuda",
                 "--dtype", "bfloat16", "--no-suites", "--families", "gpt2", "--methods", "prefix",
                 "--reports", str(reports), "--work", str(tmp_path / "w")])
    report = json.loads((reports / "gate.json").read_text())
    assert code == 2 and report["status"] == "error"
    assert "--device cuda: the --from side's torch" in report["error"]
    assert "PCC_TORCH_SPEC" in report["error"]


@pytest.mark.parametrize("args", [pytest.param(["--device", "tpu"], id="device"),
                                  pytest.param(["--dtype", "fp8"], id="dtype")])
def test_unknown_device_or_dtype_is_refused(args, capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(args)
    assert exc.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_sides_run_on_the_asked_axes():
    ns = build_parser().parse_args(["--device", "cuda", "--dtype", "bfloat16"])
    env = _side_environ({"CUDA_VISIBLE_DEVICES": "", "PCC_ATTN": "sdpa"}, ns)
    assert (env["PCC_DEVICE"], env["PCC_DTYPE"], env["PCC_ATTN"]) == ("cuda", "bfloat16", "eager")
    assert "CUDA_VISIBLE_DEVICES" not in env
    cpu = _side_environ({"CUDA_VISIBLE_DEVICES": ""}, build_parser().parse_args([]))
    assert cpu["PCC_DEVICE"] == "cpu" and cpu["CUDA_VISIBLE_DEVICES"] == ""
