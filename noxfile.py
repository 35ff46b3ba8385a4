"""Sessions: tests (default), bench, matrix, report, gate, watch, census, migrate, mutation.

    nox -s matrix                 # the main job: default transformers x peft matrix
    nox -s tests                  # the suite against the newest pair (PCC_PINS overrides)

Every environment is built on the uv backend with the torch given in
``[tool.peft-cache-compat.torch]`` (pyproject.toml), fail-closed: see
``compat/toolchain.py``.
"""

# /// script
# dependencies = ["nox>=2025.2.9", "uv>=0.4"]
# ///

from __future__ import annotations

import os
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
from compat.toolchain import default_pins, torch_source  # noqa: E402  (no torch import)
from compat.tools.children import OFFLINE_ENV as _HUB_OFFLINE  # noqa: E402  (stdlib only)

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "uv"
nox.options.sessions = ["tests"]

OFFLINE_ENV = {
    **_HUB_OFFLINE,
    # Our venvs are private: let Python cache bytecode (this machine sets
    # PYTHONDONTWRITEBYTECODE, which costs ~2 s of recompiling per process).
    "PYTHONDONTWRITEBYTECODE": "",
}

CHECK_TORCH = (
    "import sys, torch; v = torch.__version__; cpu = sys.argv[2] == 'cpu'; "
    "sys.exit(f'torch {v} is not the pinned {sys.argv[2]} build {sys.argv[1]}') "
    "if v != sys.argv[1] or (torch.version.cuda is None) != cpu else print('torch', v, sys.argv[2] + ': ok')"
)


def install_torch(session: nox.Session) -> tuple[str, str]:
    """Install the configured torch (CPU unless a GPU runner pins a ``+cuNNN`` build) and constrain
    every later install to it; returns (version, device)."""
    source = torch_source()
    session.env.update(source.uv_env())
    constraint = Path(session.virtualenv.location) / "torch-constraint.txt"
    constraint.write_text(source.constraint_line())
    session.env["UV_CONSTRAINT"] = str(constraint)
    session.install(source.spec)
    return source.pinned_version, source.device


def install_project(session: nox.Session, *extras: str) -> None:
    """Install torch, the version pins and this package, then prove torch was not replaced."""
    torch_version, device = install_torch(session)
    session.env.update(OFFLINE_ENV)
    spec = f".[{','.join(extras)}]" if extras else "."
    session.install(*default_pins(), "-e", spec)
    session.run("python", "-c", CHECK_TORCH, torch_version, device, silent=False)


@nox.session
def tests(session: nox.Session) -> None:
    """The whole suite (shim, property, equivalence, tooling, doctests) on the pinned pair."""
    install_project(session, "test", "report", "migrate")
    session.run("python", "-m", "compat")
    args = session.posargs or ["tests", "compat"]
    session.run("pytest", "-n", os.environ.get("PCC_PYTEST_WORKERS", "auto"), *args)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the project and mypy --strict over the shim modules (configured in pyproject.toml)."""
    session.install("-e", ".[lint]")
    session.run("ruff", "check", ".")
    session.run("mypy")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks (figures, not assertions): shim cost and suite wall time."""
    install_project(session, "test")
    session.run("python", "benchmarks/bench_shim.py", *session.posargs)


def _tooling(session: nox.Session, *extras: str) -> None:
    """An environment for the orchestration tools: no torch, no transformers."""
    session.env.update(OFFLINE_ENV)
    spec = f".[{','.join(extras)}]" if extras else "."
    session.install("-e", spec, "uv")


@nox.session
def matrix(session: nox.Session) -> None:
    """Run a transformers x peft matrix (default: matrices/default.toml); see --help."""
    _tooling(session, "report")
    session.run("python", "-m", "compat.matrix", "run", *session.posargs)


@nox.session
def report(session: nox.Session) -> None:
    """Merge per-cell results: nox -s report -- merge DIR..."""
    _tooling(session, "report")
    session.run("python", "-m", "compat.matrix", "report", *session.posargs)


@nox.session
def gate(session: nox.Session) -> None:
    """Upgrade gate: nox -s gate -- --from transformers==A peft==B --to transformers==C peft==D

    For local use. nox exits 1 for any failed session, so "broken" (2) and "no verdict" (2) both
    end as 1 here: read reports/gate.json, or in CI run `peft-cache-compat gate ...` (or
    `python -m compat.gate ...`), which exits 0/1/2 itself.
    """
    _tooling(session, "report")
    # "--from" defaults to the versions installed where nox itself was started.
    session.env["PCC_INVOKING_PYTHON"] = sys.executable
    session.env["PCC_GATE_PROG"] = "nox -s gate --"
    session.run("python", "-m", "compat.gate", *session.posargs)


@nox.session
def watch(session: nox.Session) -> None:
    """Release watch: the gate from the default pins to the newest transformers/peft -> reports/watch.{md,json}."""
    _tooling(session, "report")
    session.run("python", "-m", "compat.watch", *session.posargs)


@nox.session
def census(session: nox.Session) -> None:
    """Architecture census on the pinned (newest) pair -> reports/census.{json,md,html}; see --help."""
    install_project(session, "report")
    session.run("python", "-m", "compat", "census", *session.posargs)


@nox.session
def migrate(session: nox.Session) -> None:
    """Find (and with --fix rewrite) deprecated cache usage: nox -s migrate -- PATH..."""
    _tooling(session, "migrate")
    session.run("python", "-m", "compat", "migrate", *session.posargs)


@nox.session
def mutation(session: nox.Session) -> None:
    """Mutation score of the shim's own tests (mutmut, the ``mutation`` extra) on several transformers
    versions, kills merged -> reports/mutation.{json,md}; long: run it under ``nice -n 10``. Not in CI."""
    _tooling(session)
    session.run("python", "benchmarks/mutation.py", *session.posargs)
