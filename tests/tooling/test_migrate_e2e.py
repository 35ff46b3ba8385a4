"""End to end: old-style samples break on the installed transformers (where the
legacy API is gone), ``--fix`` rewrites them, and the fixed modules give the
same numbers as an independent reference.

References never go through ``compat`` or the samples' cache code: logits come
from one forward over prefix + input with no cache, prefix KV from the model's
own cache read natively, generations from a greedy loop that recomputes the
whole sequence at every step.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

for _module in ("libcst", "torch", "transformers"):
    if importlib.util.find_spec(_module) is None:
        pytest.skip(f"not-applicable: {_module} is not installed in this environment", allow_module_level=True)

import torch  # noqa: E402
import transformers  # noqa: E402

from compat.migrate import check_source  # noqa: E402
from compat.migrate.cli import main  # noqa: E402
from compat.tolerance import assert_close, assert_same_tokens  # noqa: E402

SAMPLES = Path(__file__).resolve().parents[2] / "examples" / "old_style"
PREFIX_LEN, INPUT_LEN, BATCH = 5, 3, 2
HAS_LEGACY_CONVERTERS = hasattr(getattr(transformers, "DynamicCache", object), "from_legacy_cache")
HAS_CACHE_CLASSES = hasattr(transformers, "DynamicCache")

# Samples whose code needs more than the rewritten calls where there are no Cache classes
# (before 4.36, compat.to_cache returns a tuple): why, per sample.
NEEDS_CACHE_CLASSES = {
    "prefix_forward": "the sample calls cache.get_seq_length(), a Cache method",
    "generate_with_prefix": "generate needs another input_ids convention with a prefix "
    "(compat.prefixed_call gives it); a type rewrite cannot supply that",
}


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(f"migrate_sample_{path.parent.name}_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def fixed_dir(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("old_style") / "old_style"
    shutil.copytree(SAMPLES, target)
    assert main(["--fix", "--format", "json", str(target)]) == 1  # needs_review.py keeps its TODOs
    return target


def _sample(name: str, fixed: bool, fixed_dir: Path):
    return _load((fixed_dir if fixed else SAMPLES) / f"{name}.py")


@pytest.fixture(scope="module")
def ids():
    generator = torch.Generator().manual_seed(1)
    prefix = torch.randint(1, 97, (BATCH, PREFIX_LEN), generator=generator)
    new = torch.randint(1, 97, (BATCH, INPUT_LEN), generator=generator)
    return prefix, new


def _reference_logits(model, prefix, new):
    with torch.no_grad():
        return model(torch.cat([prefix, new], dim=1)).logits[:, PREFIX_LEN:]


def _native_prefix_kv(model, prefix):
    """The prefix's (k, v) per layer, read from the model's own cache without compat."""
    with torch.no_grad():
        cache = model(prefix, use_cache=True).past_key_values
    # Version-specific on purpose (the reference must not use compat), hence the noqa.
    if isinstance(cache, tuple):  # models that still return legacy tuples
        return tuple((k, v) for k, v in cache)
    if hasattr(cache, "layers"):  # layered design, 4.54+
        return tuple((layer.keys, layer.values) for layer in cache.layers)
    return tuple(zip(cache.key_cache, cache.value_cache))


def _reference_greedy(model, ids, steps):
    out = ids
    with torch.no_grad():
        for _ in range(steps):
            logits = model(out).logits[:, -1]
            out = torch.cat([out, logits.argmax(-1, keepdim=True)], dim=1)
    return out[:, ids.shape[1]:]


def _run(name: str, module, prefix, new):
    model = module.build_model()
    if name == "prefix_forward":
        return module.run(model, prefix, new), _reference_logits(model, prefix, new)
    if name == "construct_from_data":
        legacy = _native_prefix_kv(model, prefix)
        return module.run(model, legacy, new), _reference_logits(model, prefix, new)
    if name == "generate_with_prefix":
        got = module.run(model, prefix, new, max_new_tokens=4)
        return got, _reference_greedy(model, torch.cat([prefix, new], dim=1), 4)
    if name == "read_tensors":
        return module.run(model, prefix), _native_prefix_kv(model, prefix)
    raise AssertionError(name)


def _check(name, got, expected):
    if name == "generate_with_prefix":
        assert_same_tokens(got, expected)
    elif name == "read_tensors":
        for i, (k, v) in enumerate(expected):
            assert_close(got["keys"][i], k, mode="bitwise", what=f"layer {i} key")
            assert_close(got["values"][i], v, mode="bitwise", what=f"layer {i} value")
            assert_close(got["pairs"][i][0], k, mode="bitwise", what=f"iterated layer {i} key")
        assert_close(got["first"][1], expected[0][1], mode="bitwise", what="cache[0] value")
    else:
        assert_close(got, expected, what=f"{name} logits vs full-sequence forward")


RUNNABLE = ["prefix_forward", "read_tensors", "generate_with_prefix", "construct_from_data"]
BROKEN_WITHOUT_CONVERTERS = ["prefix_forward", "read_tensors", "generate_with_prefix"]


@pytest.mark.parametrize("name", BROKEN_WITHOUT_CONVERTERS)
def test_old_style_sample_fails_without_legacy_converters(name, ids, fixed_dir):
    if HAS_LEGACY_CONVERTERS or not HAS_CACHE_CLASSES:
        pytest.skip("not-applicable: this transformers is not one where from_legacy_cache/to_legacy_cache "
                    "were removed (5.0+)")
    module = _sample(name, fixed=False, fixed_dir=fixed_dir)
    with pytest.raises(AttributeError, match="legacy_cache"):
        _run(name, module, *ids)


@pytest.mark.parametrize("name", RUNNABLE)
def test_fixed_sample_matches_reference(name, ids, fixed_dir):
    if not HAS_CACHE_CLASSES and name in NEEDS_CACHE_CLASSES:
        pytest.skip(f"not-applicable: no Cache classes before transformers 4.36 and {NEEDS_CACHE_CLASSES[name]}")
    module = _sample(name, fixed=True, fixed_dir=fixed_dir)
    got, expected = _run(name, module, *ids)
    _check(name, got, expected)


def test_fixed_samples_route_through_compat_and_lint_clean(fixed_dir):
    for name in RUNNABLE:
        text = (fixed_dir / f"{name}.py").read_text()
        assert "import compat" in text, name
        assert [f.text() for f in check_source(text, name).findings] == [], name


def test_dynamic_cache_with_data_sample_before_fix_is_right_only_where_the_constructor_works(ids, fixed_dir):
    """Before --fix, ``DynamicCache(legacy)`` is right exactly where this transformers'
    constructor really builds the cache (4.50-4.53, 4.56+): probed here, never assumed."""
    if not HAS_CACHE_CLASSES:
        pytest.skip("not-applicable: no DynamicCache before transformers 4.36")
    module = _sample("construct_from_data", fixed=False, fixed_dir=fixed_dir)
    model = module.build_model()
    legacy = _native_prefix_kv(model, ids[0])
    # A behaviour probe, not a skip: both branches assert. It raises TypeError where the
    # constructor takes no data (4.36-4.44) or uses it as a layer count (4.45.1).
    try:
        probe = transformers.DynamicCache(legacy)
        constructor_works = probe.get_seq_length() == PREFIX_LEN and len(probe) == len(legacy)
    except TypeError:
        constructor_works = False
    if not constructor_works:
        with pytest.raises((AssertionError, RuntimeError, TypeError, IndexError)):
            _check("construct_from_data", *_run("construct_from_data", module, *ids))
    else:
        _check("construct_from_data", *_run("construct_from_data", module, *ids))
