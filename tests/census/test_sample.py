"""The census CI sample (compat.census.sample): every sample architecture x census method, one
test each (``arch-method-census``), judged as the census judges: pass, a failure a known issue in
matrices/census-known.toml explains (xfail, naming the issue; an issue that no longer reproduces
fails), not applicable (a ``not-applicable:`` skip with the reason found), or a failure (failing
checks with their numbers; not-buildable is a failure)."""

from __future__ import annotations

import functools

import pytest

pytest.importorskip("torch", reason="not-applicable: the census needs torch, transformers and peft")
pytest.importorskip("transformers", reason="not-applicable: the census needs torch, transformers and peft")
pytest.importorskip("peft", reason="not-applicable: the census needs torch, transformers and peft")

from compat.census import arch, catalogue, checks, registry, sample
from compat.census.results import Status

_ARCHS = {a.id: a for a in registry.architectures()}
SAMPLE = sample.present(_ARCHS)


@functools.cache
def _census(arch_id: str):
    import peft
    import transformers

    return arch.census_arch(_ARCHS[arch_id], known=catalogue.load(),
                            versions=(transformers.__version__, peft.__version__))


def _params() -> list:
    return [pytest.param(a, m, id=f"{a}-{m}-census") for a in SAMPLE for m in checks.METHODS]


def _declared(arch_id: str, method: str) -> list[str]:
    import peft
    import transformers

    from compat.census.results import check_id
    from compat.matrix.known import glob_match

    versions = (transformers.__version__, peft.__version__)
    return [k.id for k in catalogue.load() if k.applies(*versions)
            and any(glob_match(check_id(arch_id, method, c), p) for c in checks.CHECKS for p in k.tests)]


def test_sample_is_the_documented_one():
    """At least 20 sample architectures exist here, the issue's required kinds among them."""
    assert len(SAMPLE) >= 20, f"only {len(SAMPLE)} sample architectures here; missing {sample.missing(_ARCHS)}"
    for required in ("deepseek_v3", "qwen3_next", "gpt_oss", "minimax", "mt5"):
        assert required in SAMPLE
    if "gemma4_text" in _ARCHS:
        assert "gemma4_text" in SAMPLE


@pytest.mark.parametrize("arch_id,method", _params())
def test_census(arch_id, method, record_property):
    result = _census(arch_id)
    record_property("seconds", round(result.seconds, 3))
    if result.status is Status.NOT_BUILDABLE:
        pytest.fail(f"not buildable tiny: {result.reason}")
    found = next(m for m in result.methods if m.method in (method, "all"))
    if found.status is Status.NOT_APPLICABLE:
        pytest.skip(f"not-applicable: {found.reason}")
    for c in found.checks:
        if c.max_abs_diff is not None:
            record_property(f"max_abs_diff_{c.check}", c.max_abs_diff)
    failing = [f"{c.check}: {c.message}" for c in found.checks if c.status is Status.FAIL]
    assert not failing, f"{arch_id} {method}: " + " | ".join(failing)
    known = sorted({k for c in found.checks for k in c.known})
    stale = [k for k in _declared(arch_id, method) if k not in known]
    assert not stale, f"declared known issues did not reproduce here: {stale}"
    if known:
        pytest.xfail(f"known upstream issue(s) {', '.join(known)}: "
                     + " | ".join(f"{c.check}: {c.message}" for c in found.checks if c.status is Status.KNOWN))
