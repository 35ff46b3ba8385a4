"""Before/after cases for every migrate rule, look-alike no-ops, idempotence.

Each case is a module as a user would write it and the module ``--fix`` must
produce (reviewed by hand, like bump-pydantic's ``assertCodemod`` pairs). The
id starts with the rule id; ``-todo-`` cases have no safe rewrite and get a
``# TODO(compat):`` comment instead; ``-note-`` cases are rewritten and get a
comment saying what to check.
"""

from __future__ import annotations

import pytest

pytest.importorskip("libcst", reason="not-applicable: libcst (the migrate extra) is not installed")

from compat.migrate import RULES, check_source

CASES = [
    pytest.param(
        '''\
from transformers import DynamicCache


def f(pkv):
    return DynamicCache.from_legacy_cache(tuple(pkv))  # build the prefix
''',
        '''\
import compat


def f(pkv):
    return compat.to_cache(tuple(pkv))  # build the prefix
''',
        ['PCC001'],
        id='PCC001',
    ),
    pytest.param(
        '''\
from transformers import DynamicCache

cache = DynamicCache.from_legacy_cache(
    tuple(pkv),
)
''',
        '''\
import compat

cache = compat.to_cache(tuple(pkv))
''',
        ['PCC001'],
        id='PCC001-multiline-trailing-comma',
    ),
    pytest.param(
        '''\
import transformers


def f(pkv):
    return transformers.EncoderDecoderCache.from_legacy_cache(pkv)
''',
        '''\
import transformers
import compat


def f(pkv):
    return compat.from_legacy_cache(pkv, encoder_decoder=True)
''',
        ['PCC001'],
        id='PCC001-note-maybe-none',
    ),
    pytest.param(
        '''\
from transformers.cache_utils import DynamicCache as DC

cache = DC.from_legacy_cache(None)
''',
        '''\
from transformers.cache_utils import DynamicCache as DC

cache = DC()
''',
        ['PCC001'],
        id='PCC001-none-literal',
    ),
    pytest.param(
        '''\
from transformers import DynamicCache

cache = DynamicCache.from_legacy_cache(pkv, num_hidden_layers=2)
''',
        '''\
from transformers import DynamicCache

# TODO(compat): PCC001 use compat.from_legacy_cache(x); it takes no other arguments
cache = DynamicCache.from_legacy_cache(pkv, num_hidden_layers=2)
''',
        ['PCC001'],
        id='PCC001-todo-kwargs',
    ),
    pytest.param(
        '''\
import compat


def read(out):
    return out.past_key_values.to_legacy_cache()
''',
        '''\
import compat


def read(out):
    return compat.to_legacy(out.past_key_values)
''',
        ['PCC002'],
        id='PCC002',
    ),
    pytest.param(
        '''\
from transformers import DynamicCache

cache = DynamicCache()
keys = [cache.key_cache[i] for i in range(2)]
last_value = cache.value_cache[-1].shape
''',
        '''\
from transformers import DynamicCache
import compat

cache = DynamicCache()
keys = [compat.layer_keys(cache, i) for i in range(2)]
last_value = compat.layer_values(cache, -1).shape
''',
        ['PCC003'],
        id='PCC003',
    ),
    pytest.param(
        '''\
def first_key(cache):
    return cache.key_cache[0]
''',
        '''\
def first_key(cache):
    # TODO(compat): PCC003 read via compat.layer_keys/layer_values(cache, i); to write, build a new one
    return cache.key_cache[0]
''',
        ['PCC003'],
        id='PCC003-todo-unknown-type',
    ),
    pytest.param(
        '''\
from transformers import DynamicCache

cache = DynamicCache()
cache.key_cache[0] = k
cache.value_cache[0].zero_()
n = len(cache.key_cache)
''',
        '''\
from transformers import DynamicCache

cache = DynamicCache()
# TODO(compat): PCC003 read via compat.layer_keys/layer_values(cache, i); to write, build a new one
cache.key_cache[0] = k
# TODO(compat): PCC003 read via compat.layer_keys/layer_values(cache, i); to write, build a new one
cache.value_cache[0].zero_()
# TODO(compat): PCC003 read via compat.layer_keys/layer_values(cache, i); to write, build a new one
n = len(cache.key_cache)
''',
        ['PCC003'],
        id='PCC003-todo-write',
    ),
    pytest.param(
        '''\
from transformers import DynamicCache

cache = DynamicCache(tuple(zip(keys, values)))
''',
        '''\
import compat

cache = compat.to_cache(tuple(zip(keys, values)))
''',
        ['PCC004'],
        id='PCC004',
    ),
    pytest.param(
        '''\
from transformers import DynamicCache, EncoderDecoderCache

a = DynamicCache(ddp_cache_data=pkv)
b = EncoderDecoderCache(legacy4)
''',
        '''\
import compat

a = compat.from_legacy_cache(pkv)
b = compat.from_legacy_cache(legacy4, encoder_decoder=True)
''',
        ['PCC004'],
        id='PCC004-note-maybe-none',
    ),
    pytest.param(
        '''\
from transformers import DynamicCache

cache = DynamicCache(config.num_hidden_layers)
''',
        '''\
from transformers import DynamicCache

# TODO(compat): PCC004 data: compat.from_legacy_cache(data); a layer count: drop it
cache = DynamicCache(config.num_hidden_layers)
''',
        ['PCC004'],
        id='PCC004-todo-layer-count',
    ),
    pytest.param(
        '''\
from transformers import DynamicCache


def f(cache: DynamicCache):
    k, v = cache[0]
    return [k.shape for k, v in cache]
''',
        '''\
from transformers import DynamicCache
import compat


def f(cache: DynamicCache):
    k, v = compat.to_legacy(cache)[0]
    return [k.shape for k, v in compat.to_legacy(cache)]
''',
        ['PCC005'],
        id='PCC005',
    ),
    pytest.param(
        '''\
def prefix_len(out):
    return out.past_key_values[0][0].shape[-2]
''',
        '''\
def prefix_len(out):
    # TODO(compat): PCC005 index compat.to_legacy(cache, model=model); never write through it
    return out.past_key_values[0][0].shape[-2]
''',
        ['PCC005'],
        id='PCC005-todo-model-output',
    ),
    pytest.param(
        '''\
from compat import to_cache

out = to_cache(legacy, model=model)
first = out[0]
''',
        '''\
from compat import to_cache

out = to_cache(legacy, model=model)
# TODO(compat): PCC005 index compat.to_legacy(cache, model=model); never write through it
first = out[0]
''',
        ['PCC005'],
        id='PCC005-todo-family-native-tuple',
    ),
    pytest.param(
        '''\
def reset(past_key_values, kv_cache):
    past_key_values.crop(0)
    kv_cache.crop(n)
''',
        '''\
def reset(past_key_values, kv_cache):
    # TODO(compat): PCC006 only crop(-n), n > 0, is portable; to empty a cache build a new one
    past_key_values.crop(0)
    # TODO(compat): PCC006 only crop(-n), n > 0, is portable; to empty a cache build a new one
    kv_cache.crop(n)
''',
        ['PCC006'],
        id='PCC006',
    ),
    pytest.param(
        '''\
def limits(past_key_values):
    return past_key_values.get_max_length(), past_key_values.get_max_cache_shape()
''',
        '''\
def limits(past_key_values):
    # TODO(compat): PCC007 no portable call: read the limit from the model config
    return past_key_values.get_max_length(), past_key_values.get_max_cache_shape()
''',
        ['PCC007'],
        id='PCC007',
    ),
    pytest.param(
        '''\
from transformers import Cache


class PairedCache(Cache):
    def __init__(self, base):
        self.base = base

    def get_max_cache_shape(self, layer_idx=0):
        return self.base.get_max_cache_shape(layer_idx)

    def limit(self):
        return self.get_max_cache_shape()
''',
        '''\
from transformers import Cache


class PairedCache(Cache):
    def __init__(self, base):
        self.base = base

    def get_max_cache_shape(self, layer_idx=0):
        # TODO(compat): PCC007 no portable call: read the limit from the model config
        return self.base.get_max_cache_shape(layer_idx)

    def limit(self):
        return self.get_max_cache_shape()
''',
        ['PCC007'],
        id='PCC007-todo-wrapper-forwards-to-its-cache',
    ),
    pytest.param(
        '''\
if cache.seen_tokens > 0:
    pass
''',
        '''\
# TODO(compat): PCC008 get_seq_length() is the length (differs after crop / for sink caches)
if cache.seen_tokens > 0:
    pass
''',
        ['PCC008'],
        id='PCC008',
    ),
    pytest.param(
        '''\
from transformers import DynamicCache

cache = DynamicCache.from_legacy_cache(tuple(pkv))
a = cache.get_usable_length(input_ids.shape[1])
b = cache.get_usable_length(3, layer_idx=1)
''',
        '''\
import compat

cache = compat.to_cache(tuple(pkv))
a = cache.get_seq_length()
b = cache.get_seq_length(layer_idx=1)
''',
        ['PCC001', 'PCC009'],
        id='PCC009',
    ),
    pytest.param(
        '''\
def usable(cache, n):
    return cache.get_usable_length(n)
''',
        '''\
def usable(cache, n):
    # TODO(compat): PCC009 a DynamicCache: get_seq_length(layer_idx); static caches capped it
    return cache.get_usable_length(n)
''',
        ['PCC009'],
        id='PCC009-todo-unknown-type',
    ),
    pytest.param(
        '''\
out = model(
    ids,
    past_key_values=cache,
    cache_position=torch.arange(3),  # explicit positions
)
''',
        '''\
# TODO(compat): PCC010 drop it unless it starts at the cache length (see compat.prefixed_call)
# TODO(compat): PCC012 if a model: **{compat.cache_argument(model): x} instead
out = model(
    ids,
    past_key_values=cache,
    cache_position=torch.arange(3),  # explicit positions
)
''',
        ['PCC010', 'PCC012'],
        id='PCC010',
    ),
    pytest.param(
        '''\
class Runner:
    def go(self, ids, legacy):
        prefix = tuple(legacy)
        return self.model.generate(ids, past_key_values=prefix, max_new_tokens=2)
''',
        '''\
import compat

class Runner:
    def go(self, ids, legacy):
        prefix = tuple(legacy)
        # TODO(compat): PCC012 if a model: **{compat.cache_argument(model): x} instead
        return self.model.generate(ids, past_key_values=compat.to_cache(prefix, model=self.model), max_new_tokens=2)
''',
        ['PCC011', 'PCC012'],
        id='PCC011',
    ),
    pytest.param(
        '''\
seqs = get_model().generate(ids, past_key_values=((k, v),))
''',
        '''\
# TODO(compat): PCC011 pass compat.to_cache(<tuple>, model=<the model>)
seqs = get_model().generate(ids, past_key_values=((k, v),))
''',
        ['PCC011'],
        id='PCC011-todo-impure-receiver',
    ),
    pytest.param(
        '''\
from transformers import DynamicCache


def forward(ids, past_key_values=None, use_legacy_cache=True):
    if use_legacy_cache:
        past_key_values = DynamicCache.from_legacy_cache(past_key_values)
    return past_key_values.get_seq_length()
''',
        '''\
import compat


def forward(ids, past_key_values=None, use_legacy_cache=True):
    if use_legacy_cache:
        past_key_values = compat.from_legacy_cache(past_key_values)
    return past_key_values.get_seq_length()
''',
        ['PCC001'],
        id='PCC001-none-safe',
    ),
    pytest.param(
        '''\
from transformers import DynamicCache


def as_cache(pkv):
    if isinstance(pkv, (tuple, list)):
        pkv = DynamicCache.from_legacy_cache(pkv)
    return pkv
''',
        '''\
import compat


def as_cache(pkv):
    if isinstance(pkv, (tuple, list)):
        pkv = compat.to_cache(pkv)
    return pkv
''',
        ['PCC001'],
        id='PCC001-isinstance-tuple',
    ),
    pytest.param(
        '''\
from transformers import DynamicCache


def dump(cache):
    if isinstance(cache, DynamicCache):
        return cache.to_legacy_cache()
    return cache
''',
        '''\
from transformers import DynamicCache
import compat


def dump(cache):
    if isinstance(cache, DynamicCache):
        return compat.to_legacy(cache)
    return cache
''',
        ['PCC002'],
        id='PCC002-isinstance-guard',
    ),
    pytest.param(
        '''\
from transformers import DynamicCache


class ListCache(DynamicCache):
    def __init__(self):
        super().__init__()
        self.key_cache = []
        self.value_cache = []

    def first(self):
        return self.key_cache[0], self.value_cache[0]
''',
        '''\
from transformers import DynamicCache


class ListCache(DynamicCache):
    def __init__(self):
        super().__init__()
        # TODO(compat): PCC003 own key_cache: read-only in 4.54-4.55, the base ignores it from 4.54
        self.key_cache = []
        # TODO(compat): PCC003 own value_cache: read-only in 4.54-4.55, the base ignores it from 4.54
        self.value_cache = []

    def first(self):
        return self.key_cache[0], self.value_cache[0]
''',
        ['PCC003'],
        id='PCC003-todo-own-lists',
    ),
    pytest.param(
        '''\
from transformers import DynamicCache


class Sink(DynamicCache):
    def keys_of(self, i):
        return self.key_cache[i]
''',
        '''\
from transformers import DynamicCache
import compat


class Sink(DynamicCache):
    def keys_of(self, i):
        return compat.layer_keys(self, i)
''',
        ['PCC003'],
        id='PCC003-subclass-self',
    ),
    pytest.param(
        '''\
import transformers


def _tokens(self):
    return self.seen_tokens, self.key_cache[0]


transformers.DynamicCache.tokens = property(_tokens)
''',
        '''\
import transformers
import compat


def _tokens(self):
    # TODO(compat): PCC008 get_seq_length() is the length (differs after crop / for sink caches)
    return self.seen_tokens, compat.layer_keys(self, 0)


transformers.DynamicCache.tokens = property(_tokens)
''',
        ['PCC003', 'PCC008'],
        id='PCC008-monkeypatch',
    ),
    pytest.param(
        '''\
from transformers import AutoModelForCausalLM

model = AutoModelForCausalLM.from_pretrained("tiny")


def step(ids, cache):
    out = model(ids, past_key_values=cache, use_cache=True)
    more = model.forward(ids, past_key_values=cache)
    return model.generate(ids, past_key_values=tuple(cache), max_new_tokens=2), out, more
''',
        '''\
from transformers import AutoModelForCausalLM
import compat

model = AutoModelForCausalLM.from_pretrained("tiny")


def step(ids, cache):
    out = model(ids, **{compat.cache_argument(model): cache}, use_cache=True)
    more = model.forward(ids, **{compat.cache_argument(model): cache})
    return model.generate(ids, **compat.cache_kwargs(model, tuple(cache)), max_new_tokens=2), out, more
''',
        ['PCC011', 'PCC012'],
        id='PCC012',
    ),
    pytest.param(
        '''\
def step(model, ids, cache):
    return model(ids, past_key_values=cache)
''',
        '''\
def step(model, ids, cache):
    # TODO(compat): PCC012 if a model: **{compat.cache_argument(model): x} instead
    return model(ids, past_key_values=cache)
''',
        ['PCC012'],
        id='PCC012-todo-unknown-model',
    ),
    pytest.param(
        '''\
from transformers import PreTrainedModel


def prefix(model: PreTrainedModel, ids):
    out = model(ids, use_cache=True)
    return out.past_key_values
''',
        '''\
from transformers import PreTrainedModel
import compat


def prefix(model: PreTrainedModel, ids):
    out = model(ids, use_cache=True)
    return compat.output_cache(out)
''',
        ['PCC013'],
        id='PCC013',
    ),
]

NO_OPS = [
    pytest.param(
        '''\
class DynamicCache:
    @classmethod
    def from_legacy_cache(cls, x):
        return cls()


cache = DynamicCache.from_legacy_cache(x)
other = DynamicCache(x)
first = cache[0]
''',
        id='lookalike-own-class',
    ),
    pytest.param(
        '''\
import mylib
from mylib import DynamicCache

a = mylib.from_legacy_cache(x)
b = DynamicCache.from_legacy_cache(x)
c = DynamicCache(x)
d = mylib.state.to_legacy_cache()
e = mylib.kv.key_cache[0]
''',
        id='lookalike-other-library',
    ),
    pytest.param(
        '''\
class Attention:
    def __init__(self):
        self.key_cache = []
        self.seen_tokens = 0

    def get(self, i):
        return self.key_cache[i], self.seen_tokens
''',
        id='lookalike-own-attributes',
    ),
    pytest.param(
        '''\
box = image.crop((0, 0, 4, 4))
image.crop(0)
n = tokenizer.get_max_length()
s = streamer.seen_tokens
''',
        id='lookalike-generic-methods',
    ),
    pytest.param(
        '''\
layers = tuple(pkv)
first = layers[0]
rest = out.past_key_values[1:]
model.generate(ids, past_key_values=cache)  # noqa: PCC012
model.generate(ids, past_key_values=None)  # noqa: PCC012
out = model(ids, past_key_values=cache, cache_position=None)  # noqa: PCC012
cache.crop(-2)
''',
        id='not-evident',
    ),
    pytest.param(
        '''\
from transformers import DynamicCache


class FlatCache(DynamicCache):
    def to_legacy_cache(self):
        return tuple(self.flat)


class Store:
    def to_legacy_cache(self):
        return ()


def dump(cache: FlatCache, store):
    return cache.to_legacy_cache(), store.to_legacy_cache()
''',
        id='own-classes-define-the-attribute',
    ),
    pytest.param(
        '''\
import transformers
from packaging import version


def keys(cache):
    if version.parse(transformers.__version__) < version.parse("4.56"):
        return cache.key_cache[0]
    return cache.layers[0].keys


legacy = cache.to_legacy_cache() if hasattr(cache, "to_legacy_cache") else None
lt_4_56 = version.parse(transformers.__version__) < version.parse("4.56")
if lt_4_56:
    cache = DynamicCache.from_legacy_cache(legacy)
''',
        id='version-guarded-branches',
    ),
    pytest.param(
        '''\
from transformers.masking_utils import create_causal_mask


class Wrapper:
    def forward(self, ids, past_key_values=None, cache_position=None):
        mask = create_causal_mask(ids, cache_position=cache_position, past_key_values=past_key_values)
        return self.model(ids, past_key_values=past_key_values, cache_position=cache_position)  # noqa: PCC012
''',
        id='cache-position-passed-through-or-to-a-mask-helper',
    ),
    pytest.param(
        '''\
import compat
from transformers import DynamicCache

cache = DynamicCache()
cache.update(k, v, 0)
n = cache.get_seq_length()
pkv = compat.to_cache(legacy, model=model)
back = compat.to_legacy(pkv)
''',
        id='portable-already',
    ),
]



@pytest.mark.parametrize(("before", "after", "codes"), CASES)
def test_fix_rewrites_as_expected(before, after, codes):
    result = check_source(before, "case.py", fix=True)
    assert sorted({f.code for f in result.findings}) == codes
    assert result.fixed_source == after


@pytest.mark.parametrize(("before", "after", "codes"), CASES)
def test_lint_reports_without_changing(before, after, codes):
    result = check_source(before, "case.py")
    assert sorted({f.code for f in result.findings}) == codes
    assert result.fixed_source == before
    for finding in result.findings:
        assert finding.text().startswith(f"case.py:{finding.line}:{finding.col}: {finding.code} ")
        assert not finding.fixed


@pytest.mark.parametrize(("before", "after", "codes"), CASES)
def test_fix_is_idempotent(before, after, codes):
    once = check_source(before, "case.py", fix=True).fixed_source
    twice = check_source(once, "case.py", fix=True)
    assert twice.fixed_source == once
    assert not any(f.fixable for f in twice.findings), "a fixed pattern is still reported as fixable"


@pytest.mark.parametrize(("before", "after", "codes"), CASES)
def test_fixed_code_compiles(before, after, codes):
    compile(after, "case.py", "exec")


@pytest.mark.parametrize("source", NO_OPS)
def test_lookalikes_are_left_alone(source):
    result = check_source(source, "case.py", fix=True)
    assert [f.text() for f in result.findings] == []
    assert result.fixed_source == source


def test_every_rule_has_a_case():
    covered = {param.id.split("-")[0] for param in CASES}
    assert covered == set(RULES)


def test_fixable_rules_have_a_fixed_case():
    fixed = {param.id.split("-")[0] for param in CASES if "-todo-" not in param.id}
    assert {rid for rid, rule in RULES.items() if rule.fix} <= fixed


def test_todo_comment_names_rule_and_what_to_check():
    after = check_source("cache = x\ncache.crop(0)\n", fix=True).fixed_source
    todo = after.splitlines()[1]
    assert todo == f"# TODO(compat): PCC006 {RULES['PCC006'].todo}"
    assert len(todo) <= 100


def test_formatting_and_comments_elsewhere_are_preserved():
    before = (
        "# header comment\n"
        "from transformers import DynamicCache   # odd spacing kept\n"
        "\n\n"
        "def f( pkv ,   n ):  # signature comment\n"
        "    x = [ 1,2 ,3 ]\n"
        "    cache = DynamicCache.from_legacy_cache( tuple(pkv) )  # trailing\n"
        "    return cache,x\n"
    )
    after = check_source(before, fix=True).fixed_source
    # Only the call changes (the argument keeps its own spacing) and one import is added.
    assert after == before.replace(
        "DynamicCache.from_legacy_cache( tuple(pkv) )", "compat.to_cache(tuple(pkv) )"
    ).replace("# odd spacing kept\n", "# odd spacing kept\nimport compat\n")


@pytest.mark.parametrize(
    "source",
    [
        pytest.param("import functools\n\n\n@functools.cache\ndef f(n=pkv.get_max_length()):\n    return n\n",
                     id="decorated-def"),
        pytest.param("def f(x):\n    if x:\n        pass\n    elif past.seen_tokens:\n        pass\n", id="elif"),
        pytest.param("past.crop(0)\n", id="first-statement"),
        pytest.param("class C:\n    n = past_key_values.seen_tokens\n", id="class-body"),
    ],
)
def test_todo_placement_is_idempotent(source):
    once = check_source(source, fix=True).fixed_source
    assert once.count("# TODO(compat): ") == 1
    assert check_source(once, fix=True).fixed_source == once
    compile(once, "case.py", "exec")


def test_existing_import_is_not_duplicated():
    before = "import compat\nfrom transformers import DynamicCache\nc = DynamicCache.from_legacy_cache(tuple(p))\n"
    after = check_source(before, fix=True).fixed_source
    assert after.count("import compat") == 1


@pytest.mark.parametrize(
    ("suffix", "reported"),
    [
        pytest.param("  # noqa", False, id="bare-noqa"),
        pytest.param("  # noqa: PCC006", False, id="noqa-this-rule"),
        pytest.param("  # noqa: PCC001, E501", True, id="noqa-other-rule"),
        pytest.param("", True, id="no-noqa"),
    ],
)
def test_noqa(suffix, reported):
    result = check_source(f"past.crop(0){suffix}\n", fix=True)
    assert bool(result.findings) is reported
    assert ("TODO(compat)" in result.fixed_source) is reported


def test_rule_selection_limits_findings_and_fixes():
    before = "from transformers import DynamicCache\nc = DynamicCache.from_legacy_cache(tuple(p))\npast.crop(0)\n"
    result = check_source(before, fix=True, rules=["PCC006"])
    assert [f.code for f in result.findings] == ["PCC006"]
    assert "DynamicCache.from_legacy_cache" in result.fixed_source


@pytest.mark.parametrize(
    ("path", "before", "kept"),
    [
        pytest.param("m.py", "from transformers import DynamicCache, LlamaConfig\n",
                     "from transformers import LlamaConfig\n", id="drop-one-name"),
        pytest.param("m.py", "from transformers import (\n    DynamicCache,\n    LlamaConfig,\n)\n",
                     "from transformers import (\n    LlamaConfig,\n)\n", id="parenthesized"),
        pytest.param("m.py", "from transformers.cache_utils import DynamicCache as DC\n", "", id="drop-statement"),
        pytest.param("m.py", "from transformers import DynamicCache  # why\n",
                     "from transformers import DynamicCache  # why\n", id="keeps-commented"),
        pytest.param("__init__.py", "from transformers import DynamicCache\n",
                     "from transformers import DynamicCache\n", id="keeps-in-init"),
        pytest.param("m.py", "from transformers import DynamicCache\n__all__ = ['DynamicCache']\n",
                     "from transformers import DynamicCache\n", id="keeps-exported"),
        pytest.param("m.py", 'from transformers import DynamicCache\nc: "Optional[DynamicCache]"\n',
                     "from transformers import DynamicCache\n", id="keeps-string-annotation"),
        pytest.param("m.py", '"""Mentions DynamicCache in prose."""\nfrom transformers import DynamicCache\n',
                     '"""Mentions DynamicCache in prose."""\n', id="docstring-mention-is-no-use"),
        pytest.param("m.py", "from transformers import DynamicCache\nEMPTY = DynamicCache()\n",
                     "from transformers import DynamicCache\n", id="keeps-still-used"),
    ],
)
def test_fix_drops_only_cache_imports_it_made_unused(path, before, kept):
    alias = "DC" if " as DC" in before else "DynamicCache"
    source = before + f"c = {alias}.from_legacy_cache(tuple(p))\n"
    after = check_source(source, path, fix=True).fixed_source
    assert after.startswith(kept + "import compat\n")
    assert "compat.to_cache(tuple(p))" in after
    compile(after, path, "exec")
