"""Build one architecture tiny: its config class's defaults, shrunk generically
(:mod:`compat.census.shrink`), the override table (:mod:`compat.census.overrides`), fp32,
eager attention (an sdpa twin with the same weights on request), eval mode, weights drawn from
a fixed seed. No hub access, no ``trust_remote_code``.

A build that raises is a finding (:class:`NotBuildable`, the exception's type and message).
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from typing import Any

from compat.census import overrides, shrink
from compat.census.registry import Arch

__all__ = ["Built", "NotBuildable", "build", "config_for", "offers_sdpa", "sdpa_twin"]

#: larger than transformers' 0.02 so that tiny random models have a clear argmax and react to
#: their context (the zoo's choice, compat/testing/zoo.py)
INIT_RANGE = 0.2
SEED = 0


class NotBuildable(RuntimeError):
    """The architecture cannot be built tiny on this transformers; the message says why."""


@dataclasses.dataclass
class Built:
    """A built tiny model and how long the build took."""

    arch: Arch
    model: Any
    seconds: float
    parameters: int


def _config_class(arch: Arch) -> Any:
    """The config class the model class takes: a composite model type's causal-LM class often
    takes the text sub-config (``Qwen3_5ForCausalLM`` takes ``Qwen3_5TextConfig``)."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    own = getattr(_model_class(arch), "config_class", None)
    return own if own is not None else CONFIG_MAPPING[arch.model_type]


def _model_class(arch: Arch) -> Any:
    import transformers

    cls = getattr(transformers, arch.model_class, None)
    if cls is None:
        raise NotBuildable(f"transformers has no {arch.model_class} (the auto mapping names it)")
    return cls


def _attention(cfg: Any, impl: str = "eager") -> None:
    """Ask for ``impl`` attention on the config and its sub-configs."""
    for sub in [cfg, *(getattr(cfg, k) for k in getattr(cfg, "sub_configs", {}) or {} if getattr(cfg, k, None))]:
        with contextlib.suppress(Exception):
            sub._attn_implementation = impl


def config_for(arch: Arch, attention: str = "eager") -> Any:
    """The tiny config of ``arch``: its shrunk defaults with the first wording of its override
    (:mod:`compat.census.overrides`) that the installed config class accepts."""
    cls = _config_class(arch)
    shrunk = shrink.shrink(cls().to_dict())
    last = overrides.choices(arch.id) - 1
    for choice in range(last):
        try:
            cfg = cls(**_settable(arch, cls, overrides.apply(arch.id, shrunk, choice)))
        except Exception:  # refused: the next wording
            continue
        break
    else:  # the last wording; where the class refuses it too, its own error says why
        cfg = cls(**_settable(arch, cls, overrides.apply(arch.id, shrunk, last)))
    _attention(cfg, attention)
    return cfg


def _settable(arch: Arch, cls: Any, small: dict) -> dict:
    """The keyword arguments to make the config from a shrunk dict."""
    # None defaults are left to the constructor, which derives them (head_dim from hidden/heads)
    small = {k: v for k, v in small.items() if v is not None}
    for key in ("transformers_version", "architectures", "_name_or_path", "model_type", "dtype", "torch_dtype"):
        small.pop(key, None)
    small["initializer_range"] = INIT_RANGE
    small["use_cache"] = True
    if arch.mapping == "causal" and "is_decoder" in cls().to_dict() and not arch.seq2seq:
        small["is_decoder"] = True  # BERT-like encoders run causally only as decoders
    return small


def build(arch: Arch, *, seed: int = SEED, attention: str = "eager") -> Built:
    """A tiny fp32 model of ``arch`` in eval mode; :class:`NotBuildable` if that fails."""
    import torch

    start = time.perf_counter()
    try:
        cfg = config_for(arch, attention)
        model_cls = _model_class(arch)
        state = torch.random.get_rng_state()
        try:
            torch.manual_seed(seed)
            model = model_cls(cfg)
        finally:
            torch.random.set_rng_state(state)
    except NotBuildable:
        raise
    except Exception as exc:
        raise NotBuildable(f"{type(exc).__name__}: {exc}".strip()) from exc
    model = model.to(torch.float32).eval()
    _attention(model.config, attention)
    _quiet_generation(model)
    _decoder_start(model)
    return Built(arch, model, time.perf_counter() - start, sum(p.numel() for p in model.parameters()))


def offers_sdpa(arch: Arch) -> str:
    """``""`` if the model class declares sdpa support, else why not (a not-applicable reason)."""
    cls = _model_class(arch)
    if getattr(cls, "_supports_sdpa", False):
        return ""
    return f"{cls.__name__} offers only eager attention on this transformers (_supports_sdpa is not set)"


def sdpa_twin(built: Built) -> Any:
    """``built``'s model again with sdpa attention and the same weights (:class:`NotBuildable` if
    that fails or transformers silently picks another implementation)."""
    twin = build(built.arch, attention="sdpa").model
    try:
        twin.load_state_dict(built.model.state_dict(), strict=True)
    except Exception as exc:
        raise NotBuildable(f"the sdpa model does not take the eager model's weights: {type(exc).__name__}: "
                           f"{str(exc).splitlines()[0][:300]}") from exc
    got = getattr(twin.config, "_attn_implementation", None)
    if got != "sdpa":
        raise NotBuildable(f"asked for sdpa attention, the model runs {got!r}")
    return twin


def _decoder_start(model: Any) -> None:
    """Encoder-decoders: a decoder start id on the config and the generation config (5.x keeps it
    only in generation configs of real checkpoints): the config's, else the generation config's,
    else pad (0)."""
    cfg, gc = model.config, getattr(model, "generation_config", None)
    if not getattr(cfg, "is_encoder_decoder", False):
        return
    start = getattr(cfg, "decoder_start_token_id", None)
    if start is None and gc is not None:
        start = getattr(gc, "decoder_start_token_id", None)
    start = 0 if start is None else start
    cfg.decoder_start_token_id = start
    if gc is not None:
        gc.decoder_start_token_id = start


def _quiet_generation(model: Any) -> None:
    """Generation runs exactly max_new_tokens: no EOS, no forced tokens (as the zoo does)."""
    gc = getattr(model, "generation_config", None)
    if gc is not None:
        gc.eos_token_id = None
        gc.pad_token_id = 0
        for attr in ("forced_bos_token_id", "forced_eos_token_id", "suppress_tokens", "begin_suppress_tokens"):
            if hasattr(gc, attr):
                setattr(gc, attr, None)
