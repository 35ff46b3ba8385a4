"""compat.envs: spec validation and a real (fast) uv resolver failure."""

from __future__ import annotations

import pytest

from compat.envs import EnvSpec, InstallError, build_env, find_uv


@pytest.mark.parametrize(
    "req",
    [pytest.param("transformers=4.46", id="single-equals"), pytest.param("peft==", id="empty-version")],
)
def test_malformed_requirement_is_named(req):
    with pytest.raises(InstallError, match="malformed requirement"):
        EnvSpec("cell", [req])


def test_extra_pins_follow_requirements():
    spec = EnvSpec("cell", ["transformers==4.46.3"], extra_pins=["numpy<2"])
    assert spec.all_requirements() == ["transformers==4.46.3", "numpy<2"]
    assert spec.fingerprint("torch==1+cpu") != EnvSpec("cell", ["transformers==4.46.3"]).fingerprint(
        "torch==1+cpu"
    )


def test_nonexistent_version_is_an_install_error_with_the_resolver_message(tmp_path):
    find_uv()  # uv is required for the tooling tests: a missing uv must fail, not skip
    spec = EnvSpec("ghost", ["transformers==9.9.9"])
    with pytest.raises(InstallError) as info:
        build_env(spec, tmp_path / "envs", log_path=tmp_path / "ghost.log")
    assert "transformers==9.9.9" in info.value.message
    assert "transformers==9.9.9" in (tmp_path / "ghost.log").read_text()
    assert not list((tmp_path / "envs").glob("ghost-*/.pcc-env.json"))



def test_environments_are_keyed_by_the_whole_spec(tmp_path, monkeypatch):
    """Another torch pin (or any other difference) gets its own folder; the good one is never deleted."""
    from compat import envs
    from compat.toolchain import TorchSource

    def fake_install(spec, path, source, **kwargs):
        (path / "bin").mkdir(parents=True)
        (path / "bin" / "python").write_text(source.spec)

    monkeypatch.setattr(envs, "_install", fake_install)
    monkeypatch.setattr(envs.Env, "verify_torch", lambda self, source, import_check=True: None)
    spec = EnvSpec("t5.23.0-p0.21.2", ["transformers==5.23.0", "peft==0.21.2"])
    first = build_env(spec, tmp_path, reuse=True, source=TorchSource("torch==2.13.0+cpu", "", ""))
    other = build_env(spec, tmp_path, reuse=True, source=TorchSource("torch==2.12.0+cpu", "", ""))
    again = build_env(spec, tmp_path, reuse=True, source=TorchSource("torch==2.13.0+cpu", "", ""))
    assert first.path != other.path and first.path.name.startswith("t5.23.0-p0.21.2-")
    assert (first.path / "bin" / "python").read_text() == "torch==2.13.0+cpu"
    assert (other.path / "bin" / "python").read_text() == "torch==2.12.0+cpu"
    assert again.path == first.path and again.reused


def test_the_test_extra_brings_uv():
    """The tooling tests build uv environments: `pip install -e '.[test]'` must be enough to run them."""
    from packaging.requirements import Requirement

    from compat.toolchain import PROJECT_ROOT, tomllib

    extras = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert "uv" in {Requirement(r).name for r in extras["test"]}
