"""What a piece of code *is*: transformers name, known cache, evident legacy tuple.

Built on Python's own ``ast`` (parsed in C, positions included), with the little
scope analysis the rules need: every binding of a name in its scope (assignments,
annotated assignments, parameters, imports, definitions), looked up the way
Python does (function scopes skip class scopes; ``global`` goes to the module).
Conservative by design: every predicate answers True only on evidence that holds
in the file itself or in the tree index. Look-alikes from other libraries, and a
user's own classes, answer False.

>>> import ast
>>> src = "from transformers import DynamicCache\\nc = DynamicCache()\\nt = tuple(x)\\n"
>>> inf = Inference(ast.parse(src), src)
>>> body = inf.tree.body
>>> inf.cache_kind(body[1].value), inf.is_evident_legacy(body[2].value)
('DynamicCache', True)
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import enum
import re
from collections.abc import Iterator

from compat.migrate.prefilter import may_match
from compat.migrate.project import ProjectIndex, dotted

__all__ = ["CACHE_ISH", "MODEL_ISH", "Inference", "NameSource", "terminal_name"]

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
_BUILTINS = frozenset(dir(builtins))
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class NameSource(enum.Enum):
    """Where a qualified name comes from (libcst's QualifiedNameSource, the three kinds used)."""

    IMPORT = "import"
    BUILTIN = "builtin"
    LOCAL = "local"


class _Kind(enum.Enum):
    ASSIGN = "assign"  # ``x = value``: the value
    ANNASSIGN = "annassign"  # ``x: T = value``: the AnnAssign
    PARAM = "param"  # a parameter: the ast.arg
    DEFINITION = "definition"  # ``def x`` / ``class x``: the node
    IMPORT = "import"  # an import: the qualified name
    OPAQUE = "opaque"  # anything else (for targets, unpacking, augmented assignment...)


@dataclasses.dataclass(frozen=True)
class _Binding:
    kind: _Kind
    node: ast.AST | None = None
    qualified: str = ""


@dataclasses.dataclass(eq=False)
class _Scope:
    kind: str  # "module", "class", "function", "comprehension"
    parent: _Scope | None
    name: str = ""
    bindings: dict[str, list[_Binding]] = dataclasses.field(default_factory=dict)
    globals: set[str] = dataclasses.field(default_factory=set)


def terminal_name(node: ast.AST) -> str | None:
    """The last identifier of ``a.b.c`` / ``d["key"]`` / ``name``; else None.

    >>> terminal_name(ast.parse("out.past_key_values", mode="eval").body)
    'past_key_values'
    >>> terminal_name(ast.parse("kw['past_key_values']", mode="eval").body)
    'past_key_values'
    """
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Subscript):
        index = node.slice
        if isinstance(index, ast.Constant) and isinstance(index.value, str):
            return index.value
    return None


def _children(node: ast.AST) -> list[ast.AST]:
    """Children in source order (libcst's visiting order, which the TODO order follows)."""
    if isinstance(node, ast.Call):
        rest = sorted([*node.args, *node.keywords], key=lambda n: (n.lineno, n.col_offset))
        return [node.func, *rest]
    if isinstance(node, ast.Dict):
        pairs: list[ast.AST] = []
        for key, value in zip(node.keys, node.values):
            pairs.extend([value] if key is None else [key, value])
        return pairs
    if isinstance(node, (*_FUNCTIONS, ast.ClassDef)):
        head: list[ast.AST] = [*node.decorator_list]
        if isinstance(node, ast.ClassDef):
            head += [*node.bases, *node.keywords]
        else:
            head += [node.args, *([node.returns] if node.returns else [])]
        return [*head, *node.body]
    return list(ast.iter_child_nodes(node))


class Inference:
    """Questions about the nodes of one module's ``ast`` tree."""

    def __init__(self, tree: ast.Module, source: str, index: ProjectIndex | None = None,
                 module: str = "__main__") -> None:
        self.tree = tree
        self.source = source
        self.index = index if index is not None else ProjectIndex()
        self.module = module
        self.parents: dict[ast.AST, ast.AST] = {}
        self.order: list[ast.AST] = []  # post-order (children first), source order
        self._scope_of: dict[ast.AST, _Scope] = {}
        self._module_scope = _Scope("module", None)
        self._line_starts = [0] + [m.end() for m in _LINE_BREAK.finditer(source)]
        self.lines = _LINE_BREAK.split(source)  # as Python numbers them, without line endings
        self._walk_module()

    # -- building ------------------------------------------------------------
    def _walk_module(self) -> None:
        stack: list[tuple[ast.AST, _Scope, bool]] = []
        for statement in reversed(self.tree.body):
            self.parents[statement] = self.tree
            if self._inert(statement):  # bound, never walked: no rule can fire inside
                self._bind(self._module_scope, statement.name, _Binding(_Kind.DEFINITION, statement))
                continue
            stack.append((statement, self._module_scope, False))
        self._walk(stack)
        self.order.append(self.tree)

    def _inert(self, statement: ast.stmt) -> bool:
        """A top-level def/class with no word any rule needs (the prefilter's test, per definition)."""
        if not isinstance(statement, (*_FUNCTIONS, ast.ClassDef)) or statement.end_lineno is None:
            return False
        first = min([statement.lineno, *(d.lineno for d in statement.decorator_list)])
        end = self._line_starts[statement.end_lineno] if statement.end_lineno < len(self._line_starts) else None
        return not may_match(self.source[self._line_starts[first - 1]:end], self.index.cache_class_names())

    def _walk(self, stack: list[tuple[ast.AST, _Scope, bool]]) -> None:
        # iterative post-order walk: (node, scope, children done)
        while stack:
            node, scope, done = stack.pop()
            if done:
                self.order.append(node)
                continue
            inner = self._enter(node, scope)
            stack.append((node, scope, True))
            children = _children(node)
            for child in reversed(children):
                self.parents[child] = node
                stack.append((child, self._child_scope(node, child, scope, inner), False))

    def _enter(self, node: ast.AST, scope: _Scope) -> _Scope | None:
        """Record what ``node`` binds in ``scope``; the new scope it opens, if any."""
        if isinstance(node, ast.Name):
            self._scope_of[node] = scope
            if isinstance(node.ctx, ast.Store):
                self._bind(scope, node.id, self._store_binding(node))
            return None
        if isinstance(node, ast.arg):
            self._bind(scope, node.arg, _Binding(_Kind.PARAM, node))
            return None
        if isinstance(node, (*_FUNCTIONS, ast.ClassDef)):
            self._bind(scope, node.name, _Binding(_Kind.DEFINITION, node))
            kind = "class" if isinstance(node, ast.ClassDef) else "function"
            return _Scope(kind, scope, node.name)
        if isinstance(node, ast.Lambda):
            return _Scope("function", scope, "<lambda>")
        if isinstance(node, _COMPREHENSIONS):
            return _Scope("comprehension", scope)
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    self._bind(scope, alias.asname, _Binding(_Kind.IMPORT, node, alias.name))
                else:
                    head = alias.name.split(".")[0]
                    self._bind(scope, head, _Binding(_Kind.IMPORT, node, head))
            return None
        if isinstance(node, ast.ImportFrom):
            source = "." * node.level + (node.module or "")
            for alias in node.names:
                if alias.name != "*":
                    qualified = f"{source}.{alias.name}" if node.module else f"{source}{alias.name}"
                    self._bind(scope, alias.asname or alias.name, _Binding(_Kind.IMPORT, node, qualified))
            return None
        if isinstance(node, ast.Global):
            scope.globals.update(node.names)
            return None
        if isinstance(node, ast.ExceptHandler) and node.name:
            self._bind(scope, node.name, _Binding(_Kind.OPAQUE))
        return None

    @staticmethod
    def _child_scope(node: ast.AST, child: ast.AST, scope: _Scope, inner: _Scope | None) -> _Scope:
        """The scope ``child`` of ``node`` is evaluated in: a def's or class's decorators, bases and
        return annotation outside it, its parameters and body inside; a lambda's or comprehension's
        parts inside (the first iterable too: a simplification)."""
        if inner is None:
            return scope
        if isinstance(node, (*_FUNCTIONS, ast.ClassDef)):
            return inner if child is getattr(node, "args", None) or any(c is child for c in node.body) else scope
        return inner

    def _store_binding(self, name: ast.Name) -> _Binding:
        parent = self.parents.get(name)
        if isinstance(parent, ast.Assign) and any(t is name for t in parent.targets):
            return _Binding(_Kind.ASSIGN, parent.value)
        if isinstance(parent, ast.AnnAssign) and parent.target is name and parent.value is not None:
            return _Binding(_Kind.ANNASSIGN, parent)
        return _Binding(_Kind.OPAQUE, name)

    def _bind(self, scope: _Scope, name: str, binding: _Binding) -> None:
        target = self._module_scope if name in scope.globals else scope
        target.bindings.setdefault(name, []).append(binding)

    # -- positions and text ----------------------------------------------------
    def offset(self, line: int, col_bytes: int) -> int:
        """Character offset in the source of an ``ast`` position (columns are UTF-8 bytes)."""
        start = self._line_starts[line - 1]
        text = self.source[start:start + col_bytes]
        if text.isascii():
            return start + col_bytes
        return start + len(self.source[start:].encode("utf-8")[:col_bytes].decode("utf-8", "ignore"))

    def span(self, node: ast.AST) -> tuple[int, int]:
        return (self.offset(node.lineno, node.col_offset),  # type: ignore[attr-defined]
                self.offset(node.end_lineno, node.end_col_offset))  # type: ignore[attr-defined]

    def code(self, node: ast.AST) -> str:
        start, end = self.span(node)
        return self.source[start:end]

    def line_col(self, node: ast.AST) -> tuple[int, int]:
        """1-based line and 1-based character column (ruff's convention)."""
        start = self.offset(node.lineno, node.col_offset)  # type: ignore[attr-defined]
        return node.lineno, start - self._line_starts[node.lineno - 1] + 1  # type: ignore[attr-defined]

    def line_start(self, line: int) -> int:
        return self._line_starts[line - 1]

    def statement(self, node: ast.AST) -> ast.stmt:
        """The innermost statement holding ``node`` (itself, if it is one)."""
        current = node
        while not isinstance(current, ast.stmt):
            current = self.parents[current]
        return current

    def ancestors(self, node: ast.AST) -> Iterator[tuple[ast.AST, ast.AST]]:
        """``(child, parent)`` pairs from ``node`` up to the module."""
        current = node
        parent = self.parents.get(current)
        while parent is not None:
            yield current, parent
            current, parent = parent, self.parents.get(parent)

    # -- names ---------------------------------------------------------------
    def _lookup(self, name: ast.Name) -> list[_Binding]:
        scope: _Scope | None = self._scope_of.get(name)
        if scope is not None and name.id in scope.globals:
            scope = self._module_scope
        first = True
        while scope is not None:
            if (first or scope.kind != "class") and name.id in scope.bindings:
                return scope.bindings[name.id]
            first = False
            scope = scope.parent
        return []

    def qualified(self, node: ast.AST) -> list[tuple[str, NameSource]]:
        """Qualified names of a Name/Attribute chain (empty when unresolvable)."""
        if isinstance(node, ast.Attribute):
            return [(f"{name}.{node.attr}", source) for name, source in self.qualified(node.value)]
        if not isinstance(node, ast.Name):
            return []
        bindings = self._lookup(node)
        if not bindings:
            return [(f"builtins.{node.id}", NameSource.BUILTIN)] if node.id in _BUILTINS else []
        return [(b.qualified, NameSource.IMPORT) if b.kind is _Kind.IMPORT else (node.id, NameSource.LOCAL)
                for b in bindings]

    def names(self, node: ast.AST) -> set[str]:
        return {name for name, _ in self.qualified(node)}

    def is_transformers(self, node: ast.AST, suffix: str | None = None) -> bool:
        """``node`` resolves (through an import) to ``transformers...`` (ending in ``suffix``)."""
        return any(
            source is NameSource.IMPORT and name.split(".")[0] == "transformers"
            and (suffix is None or name.endswith(suffix))
            for name, source in self.qualified(node)
        )

    def transformers_cache_class(self, node: ast.AST) -> str | None:
        """``DynamicCache`` etc. when ``node`` is a transformers ``*Cache`` class."""
        for name, source in self.qualified(node):
            parts = name.split(".")
            if source is NameSource.IMPORT and parts[0] == "transformers" and parts[-1].endswith("Cache"):
                return parts[-1]
        text = dotted(node)
        if text is not None and self.module in self.index.modules:
            return self.index.transformers_cache(self.index.resolve(self.module, text))  # star imports
        return None

    def own_cache_class(self, node: ast.AST) -> str | None:
        """Qualified name of a class of the scanned tree that derives from a transformers cache."""
        text = dotted(node)
        if text is None:
            return None
        resolved = self.index.resolve(self.module, text)
        if self.index.transformers_cache(resolved) is None and self.index.cache_base(resolved):
            return resolved
        return None

    def is_lookalike_receiver(self, node: ast.AST) -> bool:
        """The receiver is another library's module/object or the user's own class/function."""
        base = node
        while isinstance(base, (ast.Attribute, ast.Subscript, ast.Call)):
            base = base.func if isinstance(base, ast.Call) else base.value
        if not isinstance(base, ast.Name):
            return False
        for name, source in self.qualified(base):
            if source is NameSource.IMPORT and name.split(".")[0] != "transformers":
                return True
        for binding in self._lookup(base):
            if binding.kind is _Kind.DEFINITION:
                return not (self._subclasses_transformers(binding.node) or self.own_cache_class(base))
        return False

    def _subclasses_transformers(self, node: ast.AST | None) -> bool:
        return isinstance(node, ast.ClassDef) and any(self.is_transformers(base) for base in node.bases)

    def bound_values(self, name: ast.Name) -> list[ast.AST] | None:
        """Every value bound to ``name`` in its scope, or None if any binding is opaque."""
        bindings = self._lookup(name)
        if not bindings:
            return None
        values: list[ast.AST] = []
        for binding in bindings:
            if binding.kind in (_Kind.ASSIGN, _Kind.ANNASSIGN, _Kind.PARAM) and binding.node is not None:
                values.append(binding.node)
            else:
                return None
        return values

    # -- caches --------------------------------------------------------------
    def cache_kind(self, node: ast.AST) -> str | None:
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

    def cache_owner(self, node: ast.AST) -> str | None:
        """The tree's own cache subclass ``node`` is an instance of (its qualified name), if any."""
        info = self.cache_info(node)
        return None if info is None else info[1]

    def cache_info(self, node: ast.AST, depth: int = 0) -> tuple[str, str | None] | None:
        if depth > _MAX_DEPTH:
            return None
        if isinstance(node, ast.Call):
            return self._call_cache(node)
        if isinstance(node, (ast.arg, ast.AnnAssign)):
            if node.annotation is not None:
                found = self._annotated_cache(node.annotation)
                if found is not None:
                    return found
            return self._self_cache(node) if isinstance(node, ast.arg) else None
        if isinstance(node, ast.Attribute) and node.attr == "past_key_values":
            # A model output's ``past_key_values`` (a Cache on every 5.x model); not ``self.``'s own.
            receiver = node.value
            return None if isinstance(receiver, ast.Name) and receiver.id == "self" else ("past_key_values", None)
        if isinstance(node, ast.Name):
            guarded = self._isinstance_guard(node)
            if guarded is not None:
                return guarded
            values = self.bound_values(node)
            if not values:
                return None
            kinds = {self.cache_info(value, depth + 1) for value in values}
            if len(kinds) == 1:
                return kinds.pop()
            return ("Cache", None) if None not in kinds else None
        return None

    def _call_cache(self, node: ast.Call) -> tuple[str, str | None] | None:
        cls = self.transformers_cache_class(node.func)
        if cls is not None:
            return cls, None
        own = self.own_cache_class(node.func)
        if own is not None:
            return "subclass", own
        if isinstance(node.func, ast.Attribute) and node.func.attr == "from_legacy_cache":
            cls = self.transformers_cache_class(node.func.value)
            if cls is not None:
                return cls, None
        names = self.names(node.func)
        if names & _CACHE_PRODUCERS:
            # With model=/config= it may return a family's native tuple (Bloom <4.44,
            # GPTBigCode <4.54), which compat.to_legacy cannot read without the model.
            family = "compat.to_cache" in names and (len(node.args) + len(node.keywords) > 1 or bool(node.keywords))
            return ("to_cache(model=)" if family else "to_cache"), None
        if "compat.output_cache" in names:
            return "past_key_values", None
        return None

    def _annotated_cache(self, annotation: ast.AST) -> tuple[str, str | None] | None:
        if isinstance(annotation, ast.Subscript):
            inner = annotation.slice
            members = inner.elts if isinstance(inner, ast.Tuple) else [inner]
            found = {self._annotated_cache(e) for e in members if not isinstance(e, ast.Slice)} - {None}
            return found.pop() if len(found) == 1 else None
        if isinstance(annotation, ast.BinOp):
            found = {self._annotated_cache(annotation.left), self._annotated_cache(annotation.right)} - {None}
            return found.pop() if len(found) == 1 else None
        cls = self.transformers_cache_class(annotation)
        if cls is not None:
            return cls, None
        own = self.own_cache_class(annotation)
        return ("subclass", own) if own is not None else None

    def _self_cache(self, param: ast.arg) -> tuple[str, str | None] | None:
        """``self`` of a method of a cache subclass, or of a function monkeypatched onto a cache."""
        arguments = self.parents.get(param)
        func = self.parents.get(arguments) if isinstance(arguments, ast.arguments) else None
        if not isinstance(func, _FUNCTIONS) or not arguments.args or arguments.args[0] is not param:
            return None
        owner = self.parents.get(func)
        if isinstance(owner, ast.ClassDef) and isinstance(self.parents.get(owner), ast.Module):
            qualname = f"{self.module}.{owner.name}"
            return ("subclass", qualname) if self.index.cache_base(qualname) else None
        if isinstance(owner, ast.Module):
            patched = self.index.patched.get(f"{self.module}.{func.name}")
            return (patched, None) if patched else None
        return None

    def enclosing_cache_method(self, node: ast.AST) -> tuple[str, str] | None:
        """``(method name, class qualname)`` when ``node`` is inside a method of a top-level class
        that derives from a transformers cache."""
        for child, parent in self.ancestors(node):
            if isinstance(child, _FUNCTIONS) and isinstance(parent, ast.ClassDef):
                qualname = f"{self.module}.{parent.name}"
                if isinstance(self.parents.get(parent), ast.Module) and self.index.cache_base(qualname):
                    return child.name, qualname
                return None
        return None

    def _isinstance_guard(self, name: ast.Name) -> tuple[str, str | None] | None:
        """``name`` inside the body of ``if isinstance(name, SomeCache):`` (or an ``and`` with it)."""
        for child, node in self.ancestors(name):
            if isinstance(node, (*_FUNCTIONS, ast.ClassDef)):
                return None
            if isinstance(node, ast.If) and any(s is child for s in node.body):
                found = self._isinstance_test(node.test, name.id)
                if found is not None:
                    return found
        return None

    def _isinstance_test(self, test: ast.AST, name: str) -> tuple[str, str | None] | None:
        if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
            for value in test.values:
                found = self._isinstance_test(value, name)
                if found is not None:
                    return found
            return None
        if (isinstance(test, ast.Call) and isinstance(test.func, ast.Name) and test.func.id == "isinstance"
                and len(test.args) == 2 and not test.keywords and isinstance(test.args[0], ast.Name)
                and test.args[0].id == name):
            return self._annotated_cache(test.args[1])
        return None

    # -- models --------------------------------------------------------------
    def _model_class(self, node: ast.AST) -> bool:
        for name, source in self.qualified(node):
            parts = name.split(".")
            if source is NameSource.IMPORT and parts[0] in _MODEL_LIBRARIES and (
                    "Model" in parts[-1] or "For" in parts[-1]):
                return True
        return False

    def is_model(self, node: ast.AST, depth: int = 0) -> bool:
        """Evidence that ``node`` is a transformers/PEFT model: bound only to
        ``X.from_pretrained(...)``/``X.from_config(...)``/``X(config)`` of a transformers/peft
        model class, ``get_peft_model(...)``, or annotated with such a class."""
        if depth > _MAX_DEPTH:
            return False
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in _MODEL_FACTORIES:
                return self._model_class(func.value)
            if any(n.split(".")[0] in _MODEL_LIBRARIES and n.endswith("get_peft_model") for n in self.names(func)):
                return True
            return self._model_class(func)
        if isinstance(node, (ast.arg, ast.AnnAssign)):
            inner = node.annotation
            if inner is None:
                return False
            if isinstance(inner, ast.Subscript):  # Optional[Model]
                first = inner.slice.elts[0] if isinstance(inner.slice, ast.Tuple) and inner.slice.elts else inner.slice
                inner = first
            return self._model_class(inner)
        if isinstance(node, ast.Name):
            values = self.bound_values(node)
            return bool(values) and all(self.is_model(v, depth + 1) for v in values)
        return False

    def is_model_output(self, node: ast.AST, depth: int = 0) -> bool:
        """``node`` is bound only to ``model(...)`` / ``model.forward(...)`` of a known model."""
        if depth > _MAX_DEPTH:
            return False
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in ("forward", "__call__"):
                func = func.value
            return self.is_model(func)
        if isinstance(node, ast.Name):
            values = self.bound_values(node)
            return bool(values) and all(self.is_model_output(v, depth + 1) for v in values)
        return False

    def is_evident_legacy(self, node: ast.AST, depth: int = 0) -> bool:
        """``node`` is evidently a legacy tuple/list (never a Cache, never None)."""
        if depth > _MAX_DEPTH:
            return False
        if isinstance(node, (ast.Tuple, ast.List, ast.ListComp, ast.GeneratorExp)):
            return True
        if isinstance(node, ast.Call):
            if self.names(node.func) & _LEGACY_PRODUCERS:
                return True
            return (
                isinstance(node.func, ast.Attribute)
                and node.func.attr == "to_legacy_cache"
                and not self.is_lookalike_receiver(node.func.value)
            )
        if isinstance(node, ast.Name):
            if self._guarded_as_sequence(node):
                return True
            values = self.bound_values(node)
            return bool(values) and all(self.is_evident_legacy(v, depth + 1) for v in values)
        return False

    def _guarded_as_sequence(self, name: ast.Name) -> bool:
        """``name`` inside ``if isinstance(name, tuple | list | (tuple, list)):``."""
        for child, node in self.ancestors(name):
            if isinstance(node, (*_FUNCTIONS, ast.ClassDef)):
                return False
            if isinstance(node, ast.If) and any(s is child for s in node.body):
                test = node.test
                if (isinstance(test, ast.Call) and isinstance(test.func, ast.Name) and test.func.id == "isinstance"
                        and len(test.args) == 2 and isinstance(test.args[0], ast.Name)
                        and test.args[0].id == name.id):
                    types = test.args[1]
                    members = list(types.elts) if isinstance(types, ast.Tuple) else [types]
                    if members and all(self.names(m) & {"builtins.tuple", "builtins.list"} for m in members):
                        return True
        return False

    # -- syntax context --------------------------------------------------------
    def is_store(self, node: ast.AST) -> bool:
        """``node`` (or the subscript/attribute chain it heads) is written, deleted or mutated in place."""
        current = node
        while True:
            if isinstance(getattr(current, "ctx", None), (ast.Store, ast.Del)):
                return True
            parent = self.parents.get(current)
            if isinstance(parent, (ast.Subscript, ast.Attribute)) and parent.value is current:
                name = parent.attr if isinstance(parent, ast.Attribute) else ""
                if name.endswith("_") and not name.startswith("_"):
                    return True  # tensor in-place method: x.zero_(), x.copy_(...)
                current = parent
                continue
            return False
