"""capabilities() and ``python -m compat`` agree with what the shim actually does."""

from __future__ import annotations

import json
import sys

import pytest
import torch

from compat import Capabilities, UnsupportedModelError, capabilities, to_cache
from compat import _transformers as features
from compat.__main__ import main
from compat.detect import MODEL_TYPES
from compat.testing import zoo


@pytest.fixture(scope="module")
def caps() -> Capabilities:
    return capabilities()


def test_versions_are_the_installed_ones(caps):
    import transformers

    assert caps.transformers == transformers.__version__
    assert caps.torch.split("+")[0] == torch.__version__.split("+")[0]


def test_zero_copy_flag_matches_behaviour(caps):
    k = torch.randn(1, 1, 2, 2)
    out = to_cache(((k, k.clone()),))
    stored = out[0][0] if isinstance(out, tuple) else features._layer_tensors(out, 0)[0]
    assert caps.zero_copy == (stored.data_ptr() == k.data_ptr())


@pytest.mark.parametrize("family", [pytest.param(f, id=f) for f in MODEL_TYPES])
def test_family_row_matches_to_cache(caps, family):
    row = caps.families[family]
    if not row.present:
        pytest.skip(f"not-applicable: transformers {caps.transformers} has no {family}")
    cfg = _config(family)
    arity = 4 if getattr(cfg, "is_encoder_decoder", False) else 2
    d = zoo.dims(cfg)  # a prefix that fits the config (to_cache checks it)
    prefix = ((torch.zeros(1, d.kv_heads, 2, d.head_dim),) * arity,) * d.layers
    if row.returns.startswith("UnsupportedModelError"):
        with pytest.raises(UnsupportedModelError, match="HybridCache"):
            to_cache(prefix, config=cfg)
        return
    out = to_cache(prefix, config=cfg)
    assert features.is_cache(out) == row.takes_cache
    if row.takes_cache:
        assert row.returns == type(out).__name__


def _config(family):
    import transformers

    mapping = transformers.models.auto.configuration_auto.CONFIG_MAPPING
    cfg = mapping[family]()
    if family == "gpt_bigcode":
        cfg.multi_query = True
    return cfg


def test_cli_table_and_json(capsys, caps):
    assert main([]) == 0
    table = capsys.readouterr().out
    assert "transformers:" in table and (caps.transformers or "") in table
    assert all(f in table for f in MODEL_TYPES)
    assert main(["--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["transformers"] == caps.transformers
    assert data["families"]["llama"]["takes_cache"] == caps.families["llama"].takes_cache


def test_migrate_dispatches_lazily(monkeypatch):
    import types

    seen = []
    fake = types.ModuleType("compat.migrate.cli")
    fake.main = lambda argv: seen.append(argv) or 0
    monkeypatch.setitem(sys.modules, "compat.migrate.cli", fake)
    assert main(["migrate", "--check", "x.py"]) == 0
    assert seen == [["--check", "x.py"]]
