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
    assert not (tmp_path / "envs" / "ghost" / ".pcc-env.json").exists()

