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

from compat.migrate.project import ProjectIndex

__all__ = ["CACHE_ISH", "MODEL_ISH", "Inference", "terminal_name"]

# A receiver whose last identifier looks like a cache ("past_key_values", "pkv",
# "kv_cache", "past"). Used ONLY by TODO-only rules on generic method names
# (crop, get_max_length, seen_tokens), never to justify a rewrite.
CACHE_ISH = re.compile(r"cache|past|pkv", re.IGNORECASE)

# A callee whose name says "model" (``model``, ``self.model``, ``peft_model``): PCC010/PCC012
# report (TODO only) calls on it; a rewrite needs evidence (see ``Inference.is_model``).
MODEL_ISH = re.compile(r"model", re.IGNORECASE)

_LEGACY_PRODUCERS = {"compat.to_legacy", "builtins.tuple", "builtins.list"}
_CACHE_PRODUCERS = {"compat.to_cache", "compat.from_legacy_cache"}
# Library roots whose model classes/factories count as "a model" (PCC012/PCC013 evidence).
_MODEL_LIBRARIES = ("transformers", "peft")
_MODEL_FACTORIES = ("from_pretrained", "from_config", "get_peft_model", "_from_config")
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


def _dotted(node: cst.CSTNode) -> str | None:
    """``a.b.C`` as text for a Name/Attribute chain, else None."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        head = _dotted(node.value)
        return None if head is None else f"{head}.{node.attr.value}"
    return None


def _lazy(mapping, node, default):
    value = mapping.get(node, default)
    return value() if callable(value) and not isinstance(value, cst.CSTNode) else value


class Inference:
    """Metadata-backed questions about the nodes of one module."""

    def __init__(self, wrapper: MetadataWrapper, index: ProjectIndex | None = None, module: str = "__main__") -> None:
        self.index = index if index is not None else ProjectIndex()
        self.module = module
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
        dotted = _dotted(node)
        if dotted is not None and self.index.modules.get(self.module, None) is not None:
            resolved = self.index.resolve(self.module, dotted)  # star imports of the tree
            return self.index.transformers_cache(resolved)
        return None

    def own_cache_class(self, node: cst.CSTNode) -> str | None:
        """Qualified name of a class of the scanned tree that derives from a transformers cache."""
        dotted = _dotted(node)
        if dotted is None:
            return None
        resolved = self.index.resolve(self.module, dotted)
        if self.index.transformers_cache(resolved) is None and self.index.cache_base(resolved):
            return resolved
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
                return not (self._subclasses_transformers(assignment.node) or self.own_cache_class(base))
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
    def cache_kind(self, node: cst.CSTNode) -> str | None:
        """What makes ``node`` a known Cache: a class name, ``"to_cache"``, ``"past_key_values"``,
        ``"subclass"`` (a class of the tree deriving from a transformers cache), or None.

        Evidence: a transformers ``*Cache(...)`` constructor, ``*.from_legacy_cache(...)``,
        ``compat.to_cache(...)``, an annotation naming a transformers ``*Cache``, an enclosing
        ``isinstance(x, *Cache)`` guard, ``self`` in a cache subclass or in a function
        monkeypatched onto a cache, a model output's ``past_key_values``, or a name whose
        every binding in its scope is one of those.
        """
        info = self.cache_info(node)
        return None if info is None else info[0]

    def cache_owner(self, node: cst.CSTNode) -> str | None:
        """The tree's own cache subclass ``node`` is an instance of (its qualified name), if any."""
        info = self.cache_info(node)
        return None if info is None else info[1]

    def cache_info(self, node: cst.CSTNode, depth: int = 0) -> tuple[str, str | None] | None:
        if depth > _MAX_DEPTH:
            return None
        if isinstance(node, cst.Call):
            return self._call_cache(node)
        if isinstance(node, (cst.Param, cst.AnnAssign)):
            if node.annotation is not None:
                found = self._annotated_cache(node.annotation.annotation)
                if found is not None:
                    return found
            return self._self_cache(node) if isinstance(node, cst.Param) else None
        if isinstance(node, cst.Attribute) and node.attr.value == "past_key_values":
            # A model output's ``past_key_values`` (a Cache on every 5.x model); not ``self.``'s own.
            receiver = node.value
            return None if isinstance(receiver, cst.Name) and receiver.value == "self" else ("past_key_values", None)
        if isinstance(node, cst.Name):
            guarded = self._isinstance_guard(node)
            if guarded is not None:
                return guarded
            values = self._bound_values(node)
            if not values:
                return None
            kinds = {self.cache_info(value, depth + 1) for value in values}
            if len(kinds) == 1:
                return kinds.pop()
            return ("Cache", None) if None not in kinds else None
        return None

    def _call_cache(self, node: cst.Call) -> tuple[str, str | None] | None:
        cls = self.transformers_cache_class(node.func)
        if cls is not None:
            return cls, None
        own = self.own_cache_class(node.func)
        if own is not None:
            return "subclass", own
        if isinstance(node.func, cst.Attribute) and node.func.attr.value == "from_legacy_cache":
            cls = self.transformers_cache_class(node.func.value)
            if cls is not None:
                return cls, None
        names = self.names(node.func)
        if names & _CACHE_PRODUCERS:
            # With model=/config= it may return a family's native tuple (Bloom <4.44,
            # GPTBigCode <4.54), which compat.to_legacy cannot read without the model.
            family = "compat.to_cache" in names and (len(node.args) > 1 or any(a.keyword for a in node.args))
            return ("to_cache(model=)" if family else "to_cache"), None
        if "compat.output_cache" in names:
            return "past_key_values", None
        return None

    def _annotated_cache(self, annotation: cst.BaseExpression) -> tuple[str, str | None] | None:
        """A transformers cache (or the tree's subclass of one) named in ``X``, ``Optional[X]``, ``X | None``."""
        if isinstance(annotation, cst.Subscript):
            inner = [e.slice.value for e in annotation.slice if isinstance(e.slice, cst.Index)]
            found = {self._annotated_cache(e) for e in inner} - {None}
            return found.pop() if len(found) == 1 else None
        if isinstance(annotation, cst.BinaryOperation):
            found = {self._annotated_cache(annotation.left), self._annotated_cache(annotation.right)} - {None}
            return found.pop() if len(found) == 1 else None
        cls = self.transformers_cache_class(annotation)
        if cls is not None:
            return cls, None
        own = self.own_cache_class(annotation)
        return ("subclass", own) if own is not None else None

    def _self_cache(self, param: cst.Param) -> tuple[str, str | None] | None:
        """``self`` of a method of a cache subclass, or of a function monkeypatched onto a cache."""
        params = self.parents.get(param)
        func = self.parents.get(params) if isinstance(params, cst.Parameters) else None
        if not isinstance(func, cst.FunctionDef) or not params.params or params.params[0] is not param:
            return None
        body = self.parents.get(func)
        owner = self.parents.get(body) if isinstance(body, cst.IndentedBlock) else None
        if isinstance(owner, cst.ClassDef) and isinstance(self.parents.get(owner), cst.Module):
            qualname = f"{self.module}.{owner.name.value}"
            base = self.index.cache_base(qualname)
            return ("subclass", qualname) if base else None
        if isinstance(body, cst.Module):
            patched = self.index.patched.get(f"{self.module}.{func.name.value}")
            return (patched, None) if patched else None
        return None

    def _isinstance_guard(self, name: cst.Name) -> tuple[str, str | None] | None:
        """``name`` inside the body of ``if isinstance(name, SomeCache):`` (or an ``and`` with it)."""
        child: cst.CSTNode = name
        node = self.parents.get(name)
        while node is not None and not isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            if isinstance(node, cst.If) and child is node.body:
                found = self._isinstance_test(node.test, name.value)
                if found is not None:
                    return found
            child, node = node, self.parents.get(node)
        return None

    def _isinstance_test(self, test: cst.BaseExpression, name: str) -> tuple[str, str | None] | None:
        if isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.And):
            return self._isinstance_test(test.left, name) or self._isinstance_test(test.right, name)
        if (isinstance(test, cst.Call) and isinstance(test.func, cst.Name) and test.func.value == "isinstance"
                and len(test.args) == 2 and isinstance(test.args[0].value, cst.Name)
                and test.args[0].value.value == name):
            return self._annotated_cache(test.args[1].value)
        return None

    # -- models --------------------------------------------------------------
    def _model_class(self, node: cst.CSTNode) -> bool:
        for q in _lazy(self.qualified, node, ()):
            parts = q.name.split(".")
            if q.source is QualifiedNameSource.IMPORT and parts[0] in _MODEL_LIBRARIES and (
                    "Model" in parts[-1] or "For" in parts[-1]):
                return True
        return False

    def is_model(self, node: cst.CSTNode, depth: int = 0) -> bool:
        """Evidence that ``node`` is a transformers/PEFT model: bound only to
        ``X.from_pretrained(...)``/``X.from_config(...)``/``X(config)`` of a transformers/peft
        model class, ``get_peft_model(...)``, or annotated with such a class."""
        if depth > _MAX_DEPTH:
            return False
        if isinstance(node, cst.Call):
            func = node.func
            if isinstance(func, cst.Attribute) and func.attr.value in _MODEL_FACTORIES:
                return self._model_class(func.value)
            if any(n.split(".")[0] in _MODEL_LIBRARIES and n.endswith("get_peft_model") for n in self.names(func)):
                return True
            return self._model_class(func)
        if isinstance(node, (cst.Param, cst.AnnAssign)):
            annotation = node.annotation
            if annotation is None:
                return False
            inner = annotation.annotation
            if isinstance(inner, cst.Subscript):  # Optional[Model]
                inner = next((e.slice.value for e in inner.slice if isinstance(e.slice, cst.Index)), inner)
            return self._model_class(inner)
        if isinstance(node, cst.Name):
            values = self._bound_values(node)
            return bool(values) and all(self.is_model(v, depth + 1) for v in values)
        return False

    def is_model_output(self, node: cst.CSTNode, depth: int = 0) -> bool:
        """``node`` is bound only to ``model(...)`` / ``model.forward(...)`` of a known model."""
        if depth > _MAX_DEPTH:
            return False
        if isinstance(node, cst.Call):
            func = node.func
            if isinstance(func, cst.Attribute) and func.attr.value in ("forward", "__call__"):
                func = func.value
            return self.is_model(func)
        if isinstance(node, cst.Name):
            values = self._bound_values(node)
            return bool(values) and all(self.is_model_output(v, depth + 1) for v in values)
        return False

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
            if self._guarded_as_sequence(node):
                return True
            values = self._bound_values(node)
            return bool(values) and all(self.is_evident_legacy(v, depth + 1) for v in values)
        return False

    def _guarded_as_sequence(self, name: cst.Name) -> bool:
        """``name`` inside ``if isinstance(name, tuple | list | (tuple, list)):``."""
        child: cst.CSTNode = name
        node = self.parents.get(name)
        while node is not None and not isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            if isinstance(node, cst.If) and child is node.body:
                test = node.test
                if (isinstance(test, cst.Call) and isinstance(test.func, cst.Name) and test.func.value == "isinstance"
                        and len(test.args) == 2 and isinstance(test.args[0].value, cst.Name)
                        and test.args[0].value.value == name.value):
                    types = test.args[1].value
                    members = [e.value for e in types.elements] if isinstance(types, cst.Tuple) else [types]
                    if members and all(self.names(m) & {"builtins.tuple", "builtins.list"} for m in members):
                        return True
            child, node = node, self.parents.get(node)
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
                name = parent.attr.value if isinstance(parent, cst.Attribute) else ""
                if name.endswith("_") and not name.startswith("_"):
                    return True  # tensor in-place method: x.zero_(), x.copy_(...)
                current = parent
                continue
            return False

    def line_col(self, node: cst.CSTNode) -> tuple[int, int]:
        """1-based line and column (ruff's convention)."""
        start = self.positions[node].start
        return start.line, start.column + 1
