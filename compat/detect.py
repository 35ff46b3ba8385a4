"""``capabilities()``: what the shim detected about the installed stack.

(Named ``detect`` so that the module never shadows the function on the package.)

>>> caps = capabilities()
>>> caps.families["llama"].takes_cache == (caps.families["llama"].returns == "DynamicCache")
True
>>> sorted(caps.as_dict())[:3]
['cache_argument', 'cache_classes', 'cache_utils']
>>> print(caps.table().splitlines()[0].split(":")[0])
transformers
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from typing import Any

from compat import _transformers as features
from compat.convert import _OWN_CACHE_ONLY
from compat.tools.versions import installed_here

__all__ = ["MODEL_TYPES", "Capabilities", "FamilySupport", "capabilities"]

#: model_type of every family the harness knows about (encoder-decoders last).
MODEL_TYPES = (
    "llama", "mistral", "qwen2", "qwen3", "gemma2", "gemma3_text", "gpt2", "gpt_neox",
    "opt", "bloom", "falcon", "gpt_bigcode", "t5", "bart",
)
_ENCODER_DECODER = {"t5", "bart"}


@dataclasses.dataclass(frozen=True)
class FamilySupport:
    """One family on this install.

    Attributes:
        present: the installed transformers has the family.
        takes_cache: its models accept a Cache as ``past_key_values``.
        native_layout: ``"standard"``, ``"bloom"`` or ``"gpt_bigcode"``.
        returns: what ``to_cache(..., model=<this family>)`` returns.
    """

    present: bool
    takes_cache: bool
    native_layout: str
    returns: str


@dataclasses.dataclass(frozen=True)
class Capabilities:
    """What was detected. ``zero_copy``: ``to_cache`` stores the caller's tensors;
    ``cache_argument``: the keyword models take their cache under (``cache`` from 5.24)."""

    transformers: str | None
    peft: str | None
    torch: str | None
    cache_utils: bool
    cache_classes: tuple[str, ...]
    storage_strategy: str
    zero_copy: bool
    generic_returns: str
    generate_convention: str
    cache_argument: str
    families: dict[str, FamilySupport]

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, sort_keys=True)

    def table(self) -> str:
        """A plain-text table (what ``python -m compat`` prints)."""
        rows = [
            ("transformers", self.transformers or "not installed"),
            ("peft", self.peft or "not installed"),
            ("torch", self.torch or "not installed"),
            ("cache_utils", "yes" if self.cache_utils else "no (legacy tuples only)"),
            ("cache classes", ", ".join(self.cache_classes) or "-"),
            ("storage", f"{self.storage_strategy} (zero-copy: {'yes' if self.zero_copy else 'no'})"),
            ("to_cache(no model)", self.generic_returns),
            ("generate input ids", self.generate_convention),
            ("cache keyword", f"{self.cache_argument}= (model(..., **compat.cache_kwargs(model, pkv)))"),
        ]
        width = max(len(k) for k, _ in rows)
        lines = [f"{k}:{' ' * (width - len(k) + 1)}{v}" for k, v in rows]
        lines.append("")
        head = ("family", "present", "takes Cache", "native layout", "to_cache(model=...) returns")
        body = [
            (name, _yn(f.present), _yn(f.takes_cache) if f.present else "-", f.native_layout if f.present else "-",
             f.returns)
            for name, f in self.families.items()
        ]
        widths = [max(len(r[i]) for r in (head, *body)) for i in range(len(head))]
        for r in (head, tuple("-" * w for w in widths), *body):
            lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        return "\n".join(lines)


def _yn(flag: bool) -> str:
    return "yes" if flag else "no"


def _version(dist: str) -> str | None:
    return installed_here((dist,))[dist]


def _family(model_type: str) -> FamilySupport:
    if not features.family_present(model_type):
        return FamilySupport(False, False, "-", "- (family absent)")
    takes = features.family_takes_cache(model_type)
    layout = features.native_layout(model_type)
    if takes:
        returns = "EncoderDecoderCache" if model_type in _ENCODER_DECODER else "DynamicCache"
    elif model_type in _OWN_CACHE_ONLY:
        returns = "UnsupportedModelError (takes only its own HybridCache)"
    elif layout == "bloom":
        returns = "tuple, Bloom layout (k [B*H,D,S], v [B*H,S,D])"
    elif layout == "gpt_bigcode":
        returns = "tuple, fused k||v per layer ([B,S,2D] MQA / [B,H,S,2D])"
    else:
        returns = "tuple of 4-tuples" if model_type in _ENCODER_DECODER else "tuple of (k, v)"
    return FamilySupport(True, takes, layout, returns)


def capabilities() -> Capabilities:
    """Detect the installed transformers/peft/torch and what the shim does with them."""
    importlib.import_module("torch")
    has_cu = features.cache_utils() is not None
    strategy = features.storage_strategy()
    generic = "tuple" if not has_cu else "DynamicCache"
    if has_cu and features.encoder_decoder_cache_class() is not None:
        generic += " (EncoderDecoderCache for 4-tuples)"
    elif has_cu:
        generic += " (tuple for 4-tuples: no EncoderDecoderCache)"
    convention = (
        "P placeholder ids + input ids, mask P+L; strip() removes the placeholders"
        if has_cu
        else "P placeholder ids + input ids, mask P+L; all but the last id are pre-filled into the cache"
    )
    return Capabilities(
        transformers=_version("transformers"),
        peft=_version("peft"),
        torch=_version("torch"),
        cache_utils=has_cu,
        cache_classes=features.cache_classes(),
        storage_strategy=strategy,
        zero_copy=strategy in {"none", "update-aliases", "adopt"},
        generic_returns=generic,
        generate_convention=convention,
        cache_argument=features.cache_argument(),
        families={name: _family(name) for name in MODEL_TYPES},
    )


def __dir__() -> list[str]:
    return __all__
