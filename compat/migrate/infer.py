"""What a piece of code *is*: transformers name, known cache, evident legacy tuple.

Conservative by design: every predicate answers True only on evidence that
holds in the file itself (imports resolved through libcst's
``QualifiedNameProvider``, assignments through ``ScopeProvider``). Look-alikes
from other libraries, and a user's own classes, answer False.

>>> import libcst as cst
>>> from libcst.metadata import MetadataWrapper
>>> src = "from transformers import DynamicCache\\nc = DynamicCache()\\nt = tuple(x)\\n"
>>> wrapper = MetadataWrapper(cst.parse_module(src))
>>> inf = Inference(wrapper)
>>> body = wrapper.module.body
>>> inf.cache_kind(body[1].body[0].value), inf.is_evident_legacy(body[2].body[0].value)
('DynamicCache', True)
"""

from __future__ import annotations

import re

import libcst as cst
from libcst.metadata import (
    Assignment,
    ExpressionContext,
    ExpressionContextProvider,
    MetadataWrapper,
    ParentNodeProvider,
    PositionProvider,
    QualifiedNameProvider,
    QualifiedNameSource,
    ScopeProvider,
)

__all__ = ["CACHE_ISH", "Inference", "terminal_name"]

# A receiver whose last identifier looks like a cache ("past_key_values", "pkv",
# "kv_cache", "past"). Used ONLY by TODO-only rules on generic method names
# (crop, get_max_length, seen_tokens), never to justify a rewrite.
CACHE_ISH = re.compile(r"cache|past|pkv", re.IGNORECASE)

_LEGACY_PRODUCERS = {"compat.to_legacy", "builtins.tuple", "builtins.list"}
_MAX_DEPTH = 4


def terminal_name(node: cst.BaseExpression) -> str | None:
    """The last identifier of ``a.b.c`` / ``d["key"]`` / ``name``; else None.

    >>> terminal_name(cst.parse_expression("out.past_key_values"))
    'past_key_values'
    >>> terminal_name(cst.parse_expression("kw['past_key_values']"))
    'past_key_values'
    """
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return node.attr.value
    if isinstance(node, cst.Subscript) and len(node.slice) == 1:
        index = node.slice[0].slice
        if isinstance(index, cst.Index) and isinstance(index.value, cst.SimpleString):
            return index.value.evaluated_value if isinstance(index.value.evaluated_value, str) else None
    return None


def _lazy(mapping, node, default):
    value = mapping.get(node, default)
    return value() if callable(value) and not isinstance(value, cst.CSTNode) else value


class Inference:
    """Metadata-backed questions about the nodes of one module."""

    def __init__(self, wrapper: MetadataWrapper) -> None:
        providers = (QualifiedNameProvider, ScopeProvider, ParentNodeProvider, PositionProvider,
                     ExpressionContextProvider)
        resolved = wrapper.resolve_many(providers)
        self.qualified, self.scopes, self.parents, self.positions, self.contexts = (resolved[p] for p in providers)

    # -- names ---------------------------------------------------------------
    def names(self, node: cst.CSTNode) -> set[str]:
        """Qualified names of ``node`` (empty when unresolvable)."""
        return {q.name for q in _lazy(self.qualified, node, ())}

    def sources(self, node: cst.CSTNode) -> set[QualifiedNameSource]:
        return {q.source for q in _lazy(self.qualified, node, ())}

    def is_transformers(self, node: cst.CSTNode, suffix: str | None = None) -> bool:
        """``node`` resolves (through an import) to ``transformers...`` (ending in ``suffix``)."""
        return any(
            q.source is QualifiedNameSource.IMPORT
            and q.name.split(".")[0] == "transformers"
            and (suffix is None or q.name.endswith(suffix))
            for q in _lazy(self.qualified, node, ())
        )

    def transformers_cache_class(self, node: cst.CSTNode) -> str | None:
        """``DynamicCache`` etc. when ``node`` is a transformers ``*Cache`` class."""
        for q in _lazy(self.qualified, node, ()):
            parts = q.name.split(".")
            if q.source is QualifiedNameSource.IMPORT and parts[0] == "transformers" and parts[-1].endswith("Cache"):
                return parts[-1]
        return None

    def is_lookalike_receiver(self, node: cst.BaseExpression) -> bool:
        """The receiver is another library's module/object or the user's own class/function."""
        base = node
        while isinstance(base, (cst.Attribute, cst.Subscript, cst.Call)):
            base = base.value if not isinstance(base, cst.Call) else base.func
        if not isinstance(base, cst.Name):
            return False
        for q in _lazy(self.qualified, base, ()):
            if q.source is QualifiedNameSource.IMPORT and q.name.split(".")[0] != "transformers":
                return True
        for assignment in self._assignments(base):
            if isinstance(assignment.node, (cst.ClassDef, cst.FunctionDef)):
                return not self._subclasses_transformers(assignment.node)
        return False

    def _subclasses_transformers(self, node: cst.CSTNode) -> bool:
        return isinstance(node, cst.ClassDef) and any(self.is_transformers(arg.value) for arg in node.bases)

    # -- scope ---------------------------------------------------------------
    def _assignments(self, name: cst.Name) -> list[Assignment]:
        scope = _lazy(self.scopes, name, None)
        if scope is None:
            return []
        return [a for a in scope[name.value] if isinstance(a, Assignment)]

    def _bound_values(self, name: cst.Name) -> list[cst.CSTNode] | None:
        """Every value bound to ``name`` in its scope, or None if any binding is opaque."""
        assignments = self._assignments(name)
        if not assignments:
            return None
        values: list[cst.CSTNode] = []
        for assignment in assignments:
            node = assignment.node
            parent = self.parents.get(node)
            if isinstance(parent, cst.AssignTarget) and parent.target is node:
                values.append(self.parents[parent].value)  # the Assign
            elif isinstance(parent, cst.AnnAssign) and parent.target is node and parent.value is not None:
                values.append(parent)
            elif isinstance(node, cst.Param):
                values.append(node)
            else:
                return None
        return values

    # -- caches --------------------------------------------------------------
    def cache_kind(self, node: cst.CSTNode, depth: int = 0) -> str | None:
        """What makes ``node`` a known Cache: a class name, ``"to_cache"``, or None.

        Evidence: a transformers ``*Cache(...)`` constructor, ``*.from_legacy_cache(...)``,
        ``compat.to_cache(...)``, a parameter/variable annotated with a transformers
        ``*Cache``, or a name whose every binding in its scope is one of those.
        """
        if depth > _MAX_DEPTH:
            return None
        if isinstance(node, cst.Call):
            cls = self.transformers_cache_class(node.func)
            if cls is not None:
                return cls
            if isinstance(node.func, cst.Attribute) and node.func.attr.value == "from_legacy_cache":
                cls = self.transformers_cache_class(node.func.value)
                if cls is not None:
                    return cls
            if "compat.to_cache" in self.names(node.func):
                # With model=/config= it may return a family's native tuple (Bloom <4.44,
                # GPTBigCode <4.54), which compat.to_legacy cannot read without the model.
                family = len(node.args) > 1 or any(a.keyword is not None for a in node.args)
                return "to_cache(model=)" if family else "to_cache"
            return None
        if isinstance(node, (cst.Param, cst.AnnAssign)):
            annotation = node.annotation
            return self.transformers_cache_class(annotation.annotation) if annotation is not None else None
        if isinstance(node, cst.Attribute) and node.attr.value == "past_key_values":
            # A model output's ``past_key_values`` (a Cache on every 5.x model); not ``self.``'s own.
            receiver = node.value
            return None if isinstance(receiver, cst.Name) and receiver.value == "self" else "past_key_values"
        if isinstance(node, cst.Name):
            values = self._bound_values(node)
            if not values:
                return None
            kinds = {self.cache_kind(value, depth + 1) for value in values}
            return kinds.pop() if len(kinds) == 1 else ("Cache" if None not in kinds else None)
        return None

    def is_evident_legacy(self, node: cst.CSTNode, depth: int = 0) -> bool:
        """``node`` is evidently a legacy tuple/list (never a Cache, never None)."""
        if depth > _MAX_DEPTH:
            return False
        if isinstance(node, (cst.Tuple, cst.List, cst.ListComp, cst.GeneratorExp)):
            return True
        if isinstance(node, cst.Call):
            if self.names(node.func) & _LEGACY_PRODUCERS:
                return True
            return (
                isinstance(node.func, cst.Attribute)
                and node.func.attr.value == "to_legacy_cache"
                and not self.is_lookalike_receiver(node.func.value)
            )
        if isinstance(node, cst.Name):
            values = self._bound_values(node)
            return bool(values) and all(self.is_evident_legacy(v, depth + 1) for v in values)
        return False

    # -- syntax context --------------------------------------------------------
    def is_store(self, node: cst.CSTNode) -> bool:
        """``node`` (or the subscript/attribute chain it heads) is written, deleted or mutated in place."""
        current = node
        while True:
            if _lazy(self.contexts, current, None) in (ExpressionContext.STORE, ExpressionContext.DEL):
                return True
            parent = self.parents.get(current)
            if isinstance(parent, (cst.Subscript, cst.Attribute)) and parent.value is current:
                if isinstance(parent, cst.Attribute) and parent.attr.value.endswith("_") and not parent.attr.value.startswith("_"):
                    return True  # tensor in-place method: x.zero_(), x.copy_(...)
                current = parent
                continue
            return False

    def line_col(self, node: cst.CSTNode) -> tuple[int, int]:
        """1-based line and column (ruff's convention)."""
        start = self.positions[node].start
        return start.line, start.column + 1
