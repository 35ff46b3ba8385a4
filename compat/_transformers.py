"""Feature detection of the installed transformers (private).

Everything the shim needs to know about the installed transformers is decided
here, once, by looking for modules, classes and attributes (and, for storage
aliasing, by a tiny runtime probe), not by comparing version strings.

>>> kind = storage_strategy()
>>> kind in {"none", "update-aliases", "adopt", "copy"}
True
>>> family_takes_cache("llama") in {True, False}
True
"""

from __future__ import annotations

import functools
import importlib
from typing import Any

from compat.errors import UnsupportedModelError

__all__ = [
    "CACHE_ARGUMENTS",
    "cache_argument",
    "cache_classes",
    "cache_utils",
    "config_of",
    "dynamic_cache_class",
    "encoder_decoder_cache_class",
    "family_present",
    "family_takes_cache",
    "forward_takes",
    "generate_resets_cache_position",
    "generation_start_token",
    "is_cache",
    "is_encoder_decoder_cache",
    "model_class_for",
    "native_layout",
    "output_cache",
    "prefix_refusal",
    "storage_strategy",
    "unwrap_model",
]

#: Cache classes reported by :func:`cache_classes`, in order of appearance.
KNOWN_CACHE_CLASSES = (
    "Cache",
    "DynamicCache",
    "StaticCache",
    "SinkCache",
    "EncoderDecoderCache",
    "HybridCache",
    "SlidingWindowCache",
    "OffloadedCache",
    "QuantizedCache",
    "DynamicLayer",
)


@functools.cache
def cache_utils() -> Any:
    """``transformers.cache_utils`` or ``None`` where it does not exist (before 4.36)."""
    try:
        return importlib.import_module("transformers.cache_utils")
    except ImportError:
        return None


def cache_classes() -> tuple[str, ...]:
    """Names from :data:`KNOWN_CACHE_CLASSES` present in the installed ``cache_utils``."""
    cu = cache_utils()
    if cu is None:
        return ()
    return tuple(name for name in KNOWN_CACHE_CLASSES if hasattr(cu, name))


def dynamic_cache_class() -> Any:
    cu = cache_utils()
    return None if cu is None else getattr(cu, "DynamicCache", None)


def encoder_decoder_cache_class() -> Any:
    cu = cache_utils()
    return None if cu is None else getattr(cu, "EncoderDecoderCache", None)


def is_cache(obj: Any) -> bool:
    """True for any ``transformers`` Cache object (never on versions without one)."""
    cu = cache_utils()
    return cu is not None and isinstance(obj, cu.Cache)


def is_encoder_decoder_cache(obj: Any) -> bool:
    # Duck-typed: the class exists from 4.43; both attributes are its public API.
    return hasattr(obj, "self_attention_cache") and hasattr(obj, "cross_attention_cache")


# --------------------------------------------------------------------------- models


def unwrap_model(model: Any) -> Any:
    """The transformers model inside a PEFT model (``get_base_model()``), else ``model``."""
    get_base = getattr(model, "get_base_model", None)
    if callable(get_base):
        return get_base()
    return model


def config_of(model: Any = None, config: Any = None) -> Any:
    """The config to decide with: ``config`` or ``model.config`` (PEFT models are unwrapped)."""
    if config is not None:
        if not hasattr(config, "model_type"):
            raise UnsupportedModelError(
                f"config: expected a transformers PretrainedConfig (with .model_type), found {type(config).__name__}"
            )
        return config
    if model is None:
        return None
    base = unwrap_model(model)
    cfg = getattr(base, "config", None)
    if cfg is None or not hasattr(cfg, "model_type"):
        raise UnsupportedModelError(
            f"model: expected a transformers or PEFT model with a .config, found {type(model).__name__}"
        )
    return cfg


def _model_class_name(model_type: str) -> str | None:
    try:
        auto = importlib.import_module("transformers.models.auto.modeling_auto")
    except ImportError:  # pragma: no cover - very old transformers
        return None
    name = getattr(auto, "MODEL_MAPPING_NAMES", {}).get(model_type)
    if isinstance(name, (tuple, list)):
        name = name[0]
    return name or None


def family_present(model_type: str) -> bool:
    """Whether the installed transformers has the family (no modeling import)."""
    return _model_class_name(model_type) is not None


@functools.cache
def model_class_for(model_type: str) -> Any:
    """The family's base model class (e.g. ``LlamaModel``) or ``None`` if unknown."""
    name = _model_class_name(model_type)
    if name is None:
        return None
    transformers = importlib.import_module("transformers")
    return getattr(transformers, name, None)


def _flag_era() -> bool:
    """True while ``PreTrainedModel._supports_cache_class`` exists (4.36-4.53)."""
    transformers = importlib.import_module("transformers")
    return hasattr(transformers.PreTrainedModel, "_supports_cache_class")


def family_takes_cache(model_type: str | None = None, *, model: Any = None) -> bool:
    """Whether the family (or the given model's class) accepts a Cache on this install.

    No ``cache_utils`` -> never. While ``_supports_cache_class`` exists
    (4.36-4.53) it is the answer (``generate`` itself validates with it).
    After it was removed (4.54) every family takes a Cache.
    """
    if cache_utils() is None:
        return False
    if not _flag_era():
        if model is None and not family_present(model_type or ""):
            raise UnsupportedModelError(
                f"model_type {model_type!r}: not a transformers model family known to this install"
            )
        return True
    cls = type(unwrap_model(model)) if model is not None else model_class_for(model_type or "")
    if cls is None:
        raise UnsupportedModelError(
            f"model_type {model_type!r}: not a transformers model family known to this install"
        )
    return bool(getattr(cls, "_supports_cache_class", False))


@functools.cache
def _bloom_native() -> bool:
    try:
        mod = importlib.import_module("transformers.models.bloom.modeling_bloom")
    except ImportError:  # pragma: no cover
        return False
    # PEFT uses the same signal (peft#1992): present up to 4.43, removed with the layout in 4.44.
    return hasattr(mod.BloomPreTrainedModel, "_convert_to_standard_cache")


def native_layout(model_type: str | None) -> str:
    """Which legacy layout the family expects on this install.

    ``"bloom"`` (keys ``[B*H, D, S]``, values ``[B*H, S, D]``),
    ``"gpt_bigcode"`` (one fused k||v tensor per layer) or ``"standard"``.
    """
    if model_type == "bloom" and _bloom_native():
        return "bloom"
    # GPTBigCode dropped the fused tensor in the same release (4.54) that made it
    # take a Cache; nothing else in the module marks the change, so the Cache
    # support test is the feature signal.
    if model_type == "gpt_bigcode" and not family_takes_cache("gpt_bigcode"):
        return "gpt_bigcode"
    return "standard"


# --------------------------------------------------------------------------- storage


@functools.cache
def storage_strategy() -> str:
    """How :func:`compat.to_cache` can fill a DynamicCache without copying (runtime probe).

    ``"none"``: no Cache class (tuples are passed through, no copy).
    ``"update-aliases"``: the first ``update`` stores the caller's tensor (4.36-4.55).
    ``"adopt"``: ``update`` copies, but a zero-length ``update`` followed by
    assigning ``layers[i].keys``/``.values`` is accepted and behaves (4.56+).
    ``"copy"``: neither works; ``update`` copies.
    """
    import torch

    cls = dynamic_cache_class()
    if cls is None:
        return "none"
    k = torch.zeros(1, 1, 2, 2)
    v = torch.ones(1, 1, 2, 2)
    cache = cls()
    cache.update(k, v, 0)
    stored_k, _ = _layer_tensors(cache, 0)
    if stored_k is not None and stored_k.data_ptr() == k.data_ptr():
        return "update-aliases"
    if _adopt_works(cls):
        return "adopt"
    return "copy"


def _layer_tensors(cache: Any, idx: int) -> tuple[Any, Any]:
    layers = getattr(cache, "layers", None)
    if layers is not None:
        layer = layers[idx]
        return getattr(layer, "keys", None), getattr(layer, "values", None)
    return cache.key_cache[idx], cache.value_cache[idx]


def _adopt_works(cls: Any) -> bool:
    import torch

    k = torch.arange(8.0).reshape(1, 1, 2, 4)
    v = -k
    cache = cls()
    cache.update(k.narrow(-2, 0, 0), v.narrow(-2, 0, 0), 0)
    layers = getattr(cache, "layers", None)
    if layers is None or len(layers) < 1 or not hasattr(layers[0], "keys") or not hasattr(layers[0], "values"):
        return False
    cache = cls()
    adopt(cache, k, v, 0)  # the real path
    layer = cache.layers[0]
    if cache.get_seq_length() != 2 or layer.keys is not k:
        return False
    # A later update (what a forward does) must concatenate, never write into k.
    new_k, _new_v = cache.update(k[..., :1, :] + 100, v[..., :1, :] + 100, 0)
    return (
        tuple(new_k.shape) == (1, 1, 3, 4)
        and bool(torch.equal(new_k[..., :2, :], k))
        and new_k.data_ptr() != k.data_ptr()
        and float(k[0, 0, 0, 0]) == 0.0
        and cache.get_seq_length() == 3
    )


def adopt(cache: Any, k: Any, v: Any, idx: int) -> None:
    """Initialise layer ``idx`` with a zero-length update, then store ``k``/``v`` themselves.

    Only valid where :func:`storage_strategy` returned ``"adopt"`` (the probe
    checked the layered design and its behaviour once).
    """
    cache.update(k.narrow(-2, 0, 0), v.narrow(-2, 0, 0), idx)
    layer = cache.layers[idx]
    layer.keys = k
    layer.values = v


def forward_takes(module: Any, name: str) -> bool:
    """Whether ``module.forward`` has a parameter ``name`` (feature detection of an argument)."""
    forward = module.forward
    # The function behind a bound method: one signature per class's forward, not one per call
    # (inspect.signature costs ~70 us; the shim and the suites ask several times per forward).
    target = getattr(forward, "__func__", forward)
    try:
        return name in _parameters(target)
    except TypeError:  # an unhashable callable: inspected every time
        return name in _parameters.__wrapped__(target)


@functools.lru_cache(maxsize=512)
def _parameters(function: Any) -> frozenset[str]:
    """The parameter names of ``function`` (empty when it cannot be inspected)."""
    import inspect

    try:
        return frozenset(inspect.signature(function).parameters)
    except (TypeError, ValueError):  # pragma: no cover - uninspectable forward
        return frozenset()


# --------------------------------------------------------------------------- caches beyond KV


@functools.lru_cache(maxsize=256)
def _own_cache_class(model_class: type) -> str | None:
    """A Cache subclass defined in the model's own modeling module (e.g. MiniMax's ``MiniMaxCache``,
    Jamba's hybrid Mamba cache on 4.4x): the model takes only that class."""
    import sys

    cu = cache_utils()
    module = sys.modules.get(model_class.__module__)
    if cu is None or module is None:
        return None
    own = sorted(name for name, value in vars(module).items()
                 if isinstance(value, type) and value.__module__ == module.__name__ and _is_cache_class(value, cu))
    return own[0] if own else None


def _is_cache_class(value: type, cu: Any) -> bool:
    """A transformers Cache subclass, or a cache class that is not one (Falcon-H1's hybrid Mamba
    cache on 4.56-5.4 is a plain class): named ``...Cache`` with a ``get_seq_length`` method."""
    return issubclass(value, cu.Cache) or (value.__name__.endswith("Cache") and hasattr(value, "get_seq_length"))


def _stateful_layers(config: Any) -> list[tuple[int, str]]:
    """``(index, layer class)`` of the layers of the model's own DynamicCache that are not a plain
    key/value cache (linear attention, SSM/conv state, a sparse-attention indexer, no cache at all),
    where ``DynamicCache(config=...)`` exists."""
    import inspect

    cls = dynamic_cache_class()
    if cls is None or "config" not in inspect.signature(cls.__init__).parameters:
        return []
    cu = cache_utils()
    # the layer classes whose keys and values are all they hold (what the shim builds)
    plain = {getattr(cu, name) for name in ("DynamicLayer", "DynamicSlidingWindowLayer") if hasattr(cu, name)}
    try:
        layers = getattr(cls(config=config), "layers", None) or []
    except Exception:
        return []
    return [(i, type(layer).__name__) for i, layer in enumerate(layers) if type(layer) not in plain]


def prefix_refusal(model: Any = None, config: Any = None) -> str | None:
    """Why a per-layer ``(key, value)`` prefix cannot be handed to this model on this install, or
    ``None``. Feature-detected: the model brings a cache class of its own, or its own cache has
    layers that hold more or other than keys and values (a recurrent linear-attention/SSM state,
    a sparse-attention indexer) or nothing."""
    cfg = config_of(model, config)
    if cfg is None:
        return None
    model_class: type | None = type(unwrap_model(model)) if model is not None else model_class_for(cfg.model_type)
    if model_class is not None:
        own = _own_cache_class(model_class)
        if own is not None:
            return (f"{cfg.model_type!r} takes only its own cache class {own} "
                    f"({model_class.__module__}); expected a model that takes a DynamicCache or legacy tuples")
    stateful = _stateful_layers(cfg)
    if stateful:
        index, kind = stateful[0]
        more = f" (and {len(stateful) - 1} more such layers)" if len(stateful) > 1 else ""
        return (f"layer {index}: {cfg.model_type!r} layer {index} keeps a {kind}{more}, not a plain key/value "
                "cache (linear-attention/SSM state, an indexer, or none), which a (key, value) prefix cannot "
                "stand for; expected DynamicLayer/DynamicSlidingWindowLayer layers only "
                "(prefix tuning through the shim does not apply to this model; prompt tuning does)")
    return None


#: The keyword a model's ``forward``/``generate`` takes its cache under: ``past_key_values``
#: up to 5.23, ``cache`` from 5.24 (where ``past_key_values`` draws a FutureWarning and a logged
#: deprecation, and is ignored when both are given).
CACHE_ARGUMENTS = ("past_key_values", "cache")


@functools.cache
def _generation_takes_cache() -> bool:
    """Whether the installed ``GenerationMixin.prepare_inputs_for_generation`` names its cache ``cache``."""
    import inspect

    gm = importlib.import_module("transformers.generation.utils").GenerationMixin
    try:
        return "cache" in inspect.signature(gm.prepare_inputs_for_generation).parameters
    except (TypeError, ValueError):  # pragma: no cover - uninspectable
        return False


def cache_argument(model: Any = None) -> str:
    """The keyword under which ``model`` (or, without one, the installed transformers) takes a cache.

    ``"cache"`` where the model's ``forward`` has a ``cache`` parameter (transformers 5.24+),
    ``"past_key_values"`` where it has that one; a forward with neither (``**kwargs`` only)
    follows what the installed ``generate`` hands on. PEFT models are unwrapped.
    """
    if model is not None:
        base = unwrap_model(model)
        if forward_takes(base, "cache"):
            return "cache"
        if forward_takes(base, "past_key_values"):
            return "past_key_values"
    return "cache" if _generation_takes_cache() else "past_key_values"


def output_cache(outputs: Any) -> Any:
    """The cache a model returned, read under the field name its output class declares.

    ``outputs.cache`` on 5.24+ (where ``.past_key_values`` still works but logs a deprecation),
    ``outputs.past_key_values`` before; ``None`` when the output carries no cache.
    """
    fields = getattr(type(outputs), "__dataclass_fields__", {})
    for name in reversed(CACHE_ARGUMENTS):
        if name in fields:
            return getattr(outputs, name, None)
    return getattr(outputs, "past_key_values", None)


@functools.cache
def generate_resets_cache_position() -> bool:
    """True where ``generate`` starts ``cache_position`` at 0 whatever the given cache holds
    (4.39: ``model_kwargs["cache_position"] = torch.arange(cur_len)`` in the decoding loops,
    before ``_get_initial_cache_position`` existed). Models then take ``cache_position[0]``
    (0) as the cached length of a Cache object, but read a legacy tuple's own length."""
    import inspect

    gm = importlib.import_module("transformers.generation.utils").GenerationMixin
    if hasattr(gm, "_get_initial_cache_position"):
        return False
    loop = getattr(gm, "_greedy_search", None)
    try:
        source = inspect.getsource(loop) if loop is not None else ""
    except (OSError, TypeError):  # pragma: no cover - no source shipped
        return False
    return 'model_kwargs["cache_position"] = torch.arange(' in source


def generation_start_token(model: Any) -> Any:
    """The token an encoder-decoder's ``model.generate()`` starts its decoder from on the installed
    transformers, given no ``generation_config``/``decoder_start_token_id`` argument: the
    ``decoder_start_token_id`` of the generation config ``generate`` would use, else its
    ``bos_token_id`` (generate's own fallback); ``None`` where neither is set. An int, or what the
    config holds (4.38+ also take one start token per row)."""
    config = _generation_config_used(model)
    for name in ("decoder_start_token_id", "bos_token_id"):
        value = getattr(config, name, None)
        if value is not None:
            return value
    return None


def _generation_config_used(model: Any) -> Any:
    """The generation config ``model.generate()`` would use without a ``generation_config`` argument.

    Where ``_prepare_generation_config`` exists (4.39+) it decides, as in ``generate``: it may
    replace ``model.generation_config`` by one derived from a modified model config (4.39-4.57),
    and raises where the model config holds generation parameters (5.x), which ``generate`` then
    raises itself. Before, ``generate`` re-derived a generation config made from the model config
    whenever the two disagree (4.30), later only while it is unmodified since it was made
    (``_original_object_hash``) and the model config sets generation parameters."""
    own = getattr(model, "generation_config", None)
    if own is None:  # a model that cannot generate (T5Model, say): its config is all there is
        return model.config
    prepare = getattr(model, "_prepare_generation_config", None)
    if prepare is not None:
        try:
            return prepare(None)[0]
        except Exception:  # generate raises the same (5.x: generation parameters in the model config)
            return own
    if not getattr(own, "_from_model_config", False):
        return own
    original = getattr(own, "_original_object_hash", None)  # absent (and unhashable) on 4.30
    if original is not None and original != hash(own):
        return own
    sets_parameters = getattr(model.config, "_has_non_default_generation_parameters", None)
    if sets_parameters is not None and not sets_parameters():
        return own
    derived = type(own).from_model_config(model.config)
    return derived if derived != own else own


def __dir__() -> list[str]:
    return __all__
