"""What the whole scanned tree says about classes: built once, cheaply, with ``ast``.

Per-file analysis (libcst) cannot see across files; this index answers the
cross-file questions the rules need:

* which classes derive (directly, through other classes of the tree, through
  star imports) from a transformers ``*Cache`` class, and from which one;
* which attribute names some class of the tree defines itself (a method, a
  property, a class attribute, or ``self.x = ...`` in a class that is not a
  transformers cache): such names are never reported on receivers of unknown
  type, and never on that class;
* which functions are monkeypatched onto a transformers cache
  (``DynamicCache.f = f``, ``setattr(DynamicCache, "f", f)``): their first
  parameter is that cache.

>>> index = ProjectIndex.build({"m": "from transformers import *\\nclass C(DynamicCache):\\n    pass\\n"})
>>> index.cache_base("m.C")
'DynamicCache'
"""

from __future__ import annotations

import ast
import dataclasses
import os
from collections.abc import Iterable, Mapping

__all__ = ["ClassInfo", "ModuleFacts", "ProjectIndex", "collect", "dotted", "module_name"]

_MAX_CHAIN = 16


@dataclasses.dataclass(frozen=True)
class ClassInfo:
    """One top-level class: its bases (as resolved dotted names), what it defines and assigns."""

    qualname: str
    bases: tuple[str, ...]
    defines: frozenset[str]
    assigns: frozenset[str]


@dataclasses.dataclass
class _Module:
    names: dict[str, str]  # local name -> dotted qualified name
    stars: list[str]  # modules star-imported, in order
    defined: set[str]  # top-level names bound in the module itself


def module_name(path: str, root: str | None = None) -> str:
    """Dotted module name of ``path`` relative to ``root`` (``pkg/a.py`` -> ``pkg.a``)."""
    rel = os.path.relpath(path, root) if root else path
    parts = [p for p in rel.replace("\\", "/").split("/") if p not in ("", ".")]
    if parts and parts[-1].endswith(".py"):
        parts[-1] = parts[-1][:-3]
    if parts and parts[-1] == "__init__":
        parts.pop()
    return ".".join(p for p in parts if p != "..") or "__main__"


def dotted(node: ast.AST, *, generic: bool = False) -> str | None:
    """``a.b.C`` as text for a Name/Attribute chain (``generic``: also ``a.B[...]``, as in
    ``Generic[T]`` bases), else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = dotted(node.value, generic=generic)
        return None if head is None else f"{head}.{node.attr}"
    if generic and isinstance(node, ast.Subscript):
        return dotted(node.value, generic=generic)
    return None


def _absolute(module: str, level: int, target: str | None, is_package: bool) -> str:
    if level == 0:
        return target or ""
    parts = module.split(".") if module != "__main__" else []
    keep = len(parts) - level + (1 if is_package else 0)
    base = parts[: max(keep, 0)]
    return ".".join([*base, *([target] if target else [])])


@dataclasses.dataclass(frozen=True)
class ModuleFacts:
    """What one module contributes to the index (picklable: worker processes collect it)."""

    module: str
    info: _Module
    classes: tuple[tuple[str, tuple[str, ...], frozenset[str], frozenset[str]], ...]
    patches: tuple[tuple[str, str], ...]


def collect(module: str, tree: ast.Module, is_package: bool = False, deep: bool = True) -> ModuleFacts:
    """The index's facts of one parsed module. ``deep=False``: skip the ``self.x = ...``
    assignments inside methods (only needed where some rule's word occurs)."""
    collector = _Collector(module, is_package, deep)
    for node in tree.body:  # top level only: nested classes are not resolved
        collector.visit(node)
    return ModuleFacts(module, collector.info,
                       tuple((n, tuple(b), frozenset(d), frozenset(a)) for n, b, d, a in collector.classes),
                       tuple(collector.patches))


class _Collector(ast.NodeVisitor):
    def __init__(self, module: str, is_package: bool, deep: bool = True) -> None:
        self.module = module
        self.is_package = is_package
        self.deep = deep
        self.info = _Module({}, [], set())
        self.classes: list[tuple[str, list[str], set[str], set[str]]] = []
        self.patches: list[tuple[str, str]] = []  # (target class expr, function expr)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.asname:
                self.info.names[alias.asname] = alias.name
            else:
                head = alias.name.split(".")[0]
                self.info.names[head] = head

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        source = _absolute(self.module, node.level, node.module, self.is_package)
        for alias in node.names:
            if alias.name == "*":
                self.info.stars.append(source)
            else:
                self.info.names[alias.asname or alias.name] = f"{source}.{alias.name}"

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        defines: set[str] = set()
        assigns: set[str] = set()
        for item in node.body:
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                defines.add(item.name)
                for sub in ast.walk(item) if self.deep else ():
                    targets = sub.targets if isinstance(sub, ast.Assign) else (
                        [sub.target] if isinstance(sub, (ast.AnnAssign, ast.AugAssign)) else [])
                    for target in targets:
                        if (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)
                                and target.value.id == "self"):
                            assigns.add(target.attr)
            elif isinstance(item, ast.Assign):
                defines.update(t.id for t in item.targets if isinstance(t, ast.Name))
            elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                defines.add(item.target.id)
        bases = [b for b in (dotted(base, generic=True) for base in node.bases) if b]
        self.classes.append((node.name, bases, defines, assigns))
        self.info.defined.add(node.name)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self.info.defined.add(node.name)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            if isinstance(target, ast.Attribute):
                value = node.value
                if (isinstance(value, ast.Call) and isinstance(value.func, ast.Name)
                        and value.func.id in ("property", "staticmethod", "classmethod") and value.args):
                    value = value.args[0]  # DynamicCache.x = property(f)
                owner, func = dotted(target.value, generic=True), dotted(value, generic=True)
                if owner and func:
                    self.patches.append((owner, func))
            elif isinstance(target, ast.Name):
                self.info.defined.add(target.id)

    def visit_Expr(self, node: ast.Expr) -> None:
        call = node.value
        if (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "setattr"
                and len(call.args) == 3):
            owner, func = dotted(call.args[0], generic=True), dotted(call.args[2], generic=True)
            if owner and func:
                self.patches.append((owner, func))


class ProjectIndex:
    """Classes, star imports and monkeypatches of every module in the scanned tree."""

    def __init__(self) -> None:
        self.modules: dict[str, _Module] = {}
        self.classes: dict[str, ClassInfo] = {}
        self.patched: dict[str, str] = {}  # function qualname -> transformers cache class name
        self._bases: dict[str, str | None] = {}
        self._own: dict[str, set[str]] = {}  # attribute -> classes defining it (not transformers caches)
        self._cache_names: tuple[str, ...] = ()

    @classmethod
    def build(cls, sources: Mapping[str, str], packages: Iterable[str] = (),
              trees: Mapping[str, ast.Module] | None = None) -> ProjectIndex:
        """Index ``{module name: source}``; unparsable sources are skipped (the engine reports them)."""
        packages = set(packages)
        facts = []
        for module, source in sources.items():
            tree = (trees or {}).get(module)
            if tree is None:
                try:
                    tree = ast.parse(source)
                except (SyntaxError, ValueError, RecursionError):
                    continue
            facts.append(collect(module, tree, module in packages))
        return cls.from_facts(facts)

    @classmethod
    def from_facts(cls, facts: Iterable[ModuleFacts]) -> ProjectIndex:
        """The index of the modules whose facts :func:`collect` gathered."""
        index = cls()
        patches: list[tuple[str, str, str]] = []
        for fact in facts:
            module = fact.module
            index.modules[module] = fact.info
            for name, bases, defines, assigns in fact.classes:
                index.classes[f"{module}.{name}"] = ClassInfo(f"{module}.{name}", bases, defines, assigns)
            patches.extend((module, owner, func) for owner, func in fact.patches)
        for qualname, info in list(index.classes.items()):  # bases resolved once every module is known
            module = qualname.rpartition(".")[0]
            resolved = tuple(index.resolve(module, base) for base in info.bases)
            index.classes[qualname] = dataclasses.replace(info, bases=resolved)
        for module, owner, func in patches:
            target = index.transformers_cache(index.resolve(module, owner))
            if target is not None:
                index.patched[index.resolve(module, func)] = target
        for info in index.classes.values():
            own = info.defines if index.cache_base(info.qualname) else info.defines | info.assigns
            for attr in own:
                index._own.setdefault(attr, set()).add(info.qualname)
        index._cache_names = tuple(sorted({q.rpartition(".")[2] for q in index.classes if index.cache_base(q)}))
        return index

    def cache_class_names(self) -> tuple[str, ...]:
        """Names of the tree's own classes deriving from a transformers cache (prefilter words)."""
        return self._cache_names

    @staticmethod
    def _qualify(info: _Module, module: str, dotted: str) -> str:
        """Without star imports: an imported name's source, else this module's own name."""
        head, _, rest = dotted.partition(".")
        if head in info.names:
            return info.names[head] + (f".{rest}" if rest else "")
        return f"{module}.{dotted}"

    def resolve(self, module: str, dotted: str) -> str:
        """Qualified name of ``dotted`` as seen from ``module`` (imports and star imports followed)."""
        return self._lookup(module, dotted, 0) or f"{module}.{dotted}"

    def _lookup(self, module: str, dotted: str, depth: int) -> str | None:
        info = self.modules.get(module)
        if info is None or depth > _MAX_CHAIN:
            return None
        head, _, rest = dotted.partition(".")
        tail = f".{rest}" if rest else ""
        if head in info.names:
            target = info.names[head]
            source, _, name = target.rpartition(".")
            if source in self.modules:  # re-exported from a module of the tree
                return self._lookup(source, name + tail, depth + 1) or target + tail
            return target + tail
        if head in info.defined:
            return f"{module}.{dotted}"
        for star in reversed(info.stars):  # the last star import wins
            found = self._lookup(star, dotted, depth + 1)
            if found is not None:
                return found
            if star not in self.modules and star.split(".")[0] == "transformers" and head.endswith("Cache"):
                return f"transformers.{dotted}"
        return None

    @staticmethod
    def transformers_cache(qualified: str) -> str | None:
        parts = qualified.split(".")
        return parts[-1] if parts[0] == "transformers" and parts[-1].endswith("Cache") else None

    def cache_base(self, qualname: str, _depth: int = 0) -> str | None:
        """The transformers cache class ``qualname`` derives from (itself, if it is one), or None."""
        direct = self.transformers_cache(qualname)
        if direct is not None or _depth > _MAX_CHAIN:
            return direct
        if qualname in self._bases:
            return self._bases[qualname]
        self._bases[qualname] = None  # cycles
        info = self.classes.get(qualname)
        found = None
        if info is not None:
            for base in info.bases:
                found = self.cache_base(base, _depth + 1)
                if found:
                    break
        self._bases[qualname] = found
        return found

    def defines(self, qualname: str, attr: str, _depth: int = 0) -> bool:
        """``attr`` is defined by ``qualname`` or one of its bases within the tree."""
        info = self.classes.get(qualname)
        if info is None or _depth > _MAX_CHAIN:
            return False
        return attr in info.defines or any(self.defines(base, attr, _depth + 1) for base in info.bases)

    def assigns(self, qualname: str, attr: str, _depth: int = 0) -> bool:
        """``self.attr = ...`` in ``qualname`` or one of its bases within the tree."""
        info = self.classes.get(qualname)
        if info is None or _depth > _MAX_CHAIN:
            return False
        return attr in info.assigns or any(self.assigns(base, attr, _depth + 1) for base in info.bases)

    def owned_anywhere(self, attr: str) -> bool:
        """Some class of the tree defines ``attr`` itself."""
        return attr in self._own

    def owned_in_reach(self, module: str, attr: str, exclude: str | None = None) -> bool:
        """A class of the tree that defines ``attr`` itself (other than ``exclude``) is defined in or
        imported into ``module`` (so an unknown receiver there may be one of its instances)."""
        owners = self._own.get(attr, set()) - {exclude}
        info = self.modules.get(module)
        if not owners or info is None:
            return False
        reachable = {self.resolve(module, local) for local in info.names} | set(info.stars)
        return any(owner.rpartition(".")[0] == module or owner in reachable
                   or owner.rpartition(".")[0] in reachable for owner in owners)
