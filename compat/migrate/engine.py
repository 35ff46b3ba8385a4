"""Lint and fix one module: a libcst transformer that reports every rule hit
and, with ``fix=True``, rewrites the safe ones and leaves ``# TODO(compat):``
comments on the rest.

>>> src = "from transformers import DynamicCache\\ncache = DynamicCache.from_legacy_cache(tuple(pkv))\\n"
>>> result = check_source(src, "m.py")
>>> [f.text() for f in result.findings]  # doctest: +ELLIPSIS
['m.py:2:9: PCC001 [*] `DynamicCache.from_legacy_cache(tuple(pkv))`: `from_legacy_cache` exists only in ...']
>>> print(check_source(src, "m.py", fix=True).fixed_source, end="")
import compat
<BLANKLINE>
cache = compat.to_cache(tuple(pkv))
"""

from __future__ import annotations

import ast
import dataclasses
import re
from collections.abc import Iterable

import libcst as cst
from libcst.metadata import MetadataWrapper

from compat.migrate.imports import drop_unused_cache_imports, ensure_import_compat
from compat.migrate.infer import CACHE_ISH, MODEL_ISH, Inference, terminal_name
from compat.migrate.prefilter import may_match
from compat.migrate.project import ProjectIndex
from compat.migrate.reduce import reduce_source
from compat.migrate.rules import RULES

__all__ = ["Finding", "ParseFailure", "Result", "check_source"]

_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Za-z]+[0-9]+(?:[,\s]+[A-Za-z]+[0-9]+)*))?", re.IGNORECASE)
_TODO_PREFIX = "# TODO(compat): "
_STATEMENTS = (cst.SimpleStatementLine, cst.BaseCompoundStatement)
# Kinds of known cache (see Inference.cache_kind) that compat.to_legacy reads on every
# version: it refuses static/quantized caches and cannot guess a family's native tuple.
_READABLE = {"DynamicCache", "EncoderDecoderCache", "to_cache"}
# compat.layer_keys/layer_values read these in O(1) wherever ``key_cache[i]`` worked.
_LAYERED = {"DynamicCache", "to_cache", "past_key_values", "subclass"}
_MAX_TODO = 100
# A branch under one of these tests runs only on some transformers versions: its legacy
# calls are deliberate, so no rule reports inside it.
_VERSION_TEST = re.compile(
    r"__version__|is_transformers_version|version\.parse|parse_version|Version\(|transformers_version"
    r"|TRANSFORMERS_VERSION|is_transformers_greater|is_transformers_less"
    r"|hasattr\([^)]*['\"](?:from_legacy_cache|to_legacy_cache|key_cache|value_cache|layers|seen_tokens"
    r"|get_usable_length|get_max_length|get_max_cache_shape|crop|cache)['\"]",
)
_OWN_SUBCLASS_NOTE = "own {attr}: read-only in 4.54-4.55, the base ignores it from 4.54"


class ParseFailure(Exception):
    """The file is not Python that libcst can parse; ``str()`` is the one-line reason."""


@dataclasses.dataclass(frozen=True)
class Finding:
    """One rule hit: where, which rule, why, and whether ``--fix`` rewrites it."""

    path: str
    line: int
    col: int
    code: str
    message: str
    fixable: bool
    fixed: bool = False

    def text(self) -> str:
        """ruff's concise format: ``path:line:col: CODE [*] message`` (``[*]``: fixable)."""
        mark = "[*] " if self.fixable else ""
        return f"{self.path}:{self.line}:{self.col}: {self.code} {mark}{self.message}"

    def as_json(self) -> dict:
        return {
            "filename": self.path,
            "location": {"row": self.line, "column": self.col},
            "code": self.code,
            "name": RULES[self.code].name,
            "message": self.message,
            "fixable": self.fixable,
            "fixed": self.fixed,
            "fix": RULES[self.code].fix if self.fixable else None,
        }


@dataclasses.dataclass(frozen=True)
class Result:
    """Findings of one module and (with ``fix=True``) its rewritten source."""

    path: str
    findings: list[Finding]
    source: str
    fixed_source: str

    @property
    def changed(self) -> bool:
        return self.fixed_source != self.source


def _snippet(node: cst.CSTNode, limit: int = 48) -> str:
    if isinstance(node, cst.Arg):
        node = node.with_changes(comma=cst.MaybeSentinel.DEFAULT, whitespace_after_arg=cst.SimpleWhitespace(""))
    code = " ".join(cst.Module([]).code_for_node(node).split())
    return code if len(code) <= limit else code[: limit - 3] + "..."


def _noqa_map(source: str) -> dict[int, set[str] | None]:
    """Line -> suppressed codes (None: every code) from ``# noqa`` comments."""
    out: dict[int, set[str] | None] = {}
    for number, line in enumerate(source.splitlines(), start=1):
        match = _NOQA.search(line)
        if match:
            codes = match.group("codes")
            out[number] = None if codes is None else {c.upper() for c in re.split(r"[,\s]+", codes) if c}
    return out


def _code(node: cst.CSTNode) -> str:
    return cst.Module([]).code_for_node(node)


def _todo(code: str, text: str) -> str:
    """``# TODO(compat): PCCnnn text``, at most 100 characters (the docs explain each id)."""
    line = f"{_TODO_PREFIX}{code} {text}"
    return line if len(line) <= _MAX_TODO else line[: _MAX_TODO - 3].rstrip() + "..."


def _compat(name: str) -> cst.Attribute:
    return cst.Attribute(cst.Name("compat"), cst.Name(name))


def _is_none(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Name) and node.value == "None"


def _is_pure(node: cst.BaseExpression) -> bool:
    """A name or dotted attribute chain: safe to evaluate twice."""
    while isinstance(node, cst.Attribute):
        node = node.value
    return isinstance(node, cst.Name)


def _has_call(node: cst.CSTNode) -> bool:
    class _Finder(cst.CSTVisitor):
        found = False

        def visit_Call(self, node: cst.Call) -> bool:
            self.found = True
            return False

    finder = _Finder()
    node.visit(finder)
    return finder.found


def _single_index(node: cst.Subscript) -> cst.BaseExpression | None:
    if len(node.slice) == 1 and isinstance(node.slice[0].slice, cst.Index) and node.slice[0].slice.star is None:
        return node.slice[0].slice.value
    return None


def _index(node: cst.BaseExpression, idx: cst.BaseExpression) -> cst.Subscript:
    return cst.Subscript(node, [cst.SubscriptElement(cst.Index(idx))])


def _plain_args(call: cst.Call) -> tuple[list[cst.Arg], dict[str, cst.Arg]] | None:
    """Positional and keyword args, or None when ``*args``/``**kw`` make them unknowable."""
    positional, keywords = [], {}
    for arg in call.args:
        if arg.star:
            return None
        if arg.keyword is None:
            positional.append(arg)
        else:
            keywords[arg.keyword.value] = arg
    return positional, keywords


class _Migrator(cst.CSTTransformer):
    def __init__(self, inference: Inference, path: str, enabled: set[str], fix: bool, source: str) -> None:
        super().__init__()
        self.lines = source.splitlines()
        self.inf = inference
        self.path = path
        self.enabled = enabled
        self.fix = fix
        self.noqa = _noqa_map(source)
        self.findings: list[Finding] = []
        self.need_compat = False
        self._todos: list[list[str]] = []

    # -- reporting --------------------------------------------------------------
    def _report(
        self, node: cst.CSTNode, code: str, fixable: bool, *, via_compat: bool = True, note: str | None = None
    ) -> bool:
        """Record a hit; True when the caller should apply its rewrite now."""
        if code not in self.enabled or self._version_guarded(node):
            return False
        line, col = self.inf.line_col(node)
        suppressed = self.noqa.get(line, set())
        if line in self.noqa and (suppressed is None or code in suppressed):
            return False
        rule = RULES[code]
        snippet = _snippet(node)
        apply = self.fix and fixable
        self.findings.append(
            Finding(self.path, line, col, code, f"`{snippet}`: {rule.message}", fixable, fixed=apply)
        )
        if self.fix and self._todos and (not fixable or note):
            self._todos[-1].append(_todo(code, note or rule.todo))
        if apply and via_compat:
            self.need_compat = True
        return apply

    def _version_guarded(self, node: cst.CSTNode) -> bool:
        """Inside an ``if``/conditional expression whose test checks the transformers version or API."""
        current = node
        parent = self.inf.parents.get(current)
        while parent is not None:
            if (isinstance(parent, (cst.If, cst.IfExp)) and current is not parent.test
                    and self._is_version_test(parent.test)):
                return True
            if isinstance(parent, (cst.IndentedBlock, cst.Module)) and self._after_version_exit(parent, current):
                return True
            current, parent = parent, self.inf.parents.get(parent)
        return False

    def _is_version_test(self, test: cst.BaseExpression) -> bool:
        """The test checks the version, directly or through a flag assigned from such a check
        (``lt_4_56 = version.parse(transformers.__version__) < ...``; ``if lt_4_56:``)."""
        if _VERSION_TEST.search(_code(test)):
            return True
        flag = test.expression if isinstance(test, cst.UnaryOperation) else test
        if isinstance(flag, cst.Name):
            values = self.inf._bound_values(flag)
            exprs = [v.value if isinstance(v, cst.AnnAssign) else v for v in values or ()]
            return bool(exprs) and all(
                isinstance(e, cst.BaseExpression) and _VERSION_TEST.search(_code(e)) for e in exprs)
        return False

    def _after_version_exit(self, block: cst.IndentedBlock | cst.Module, statement: cst.CSTNode) -> bool:
        """``statement`` follows ``if <version test>: ... return/raise`` in the same block: the
        rest of the block is the other versions' branch."""
        for earlier in block.body:
            if earlier is statement:
                return False
            if (isinstance(earlier, cst.If) and earlier.orelse is None and self._is_version_test(earlier.test)
                    and isinstance(earlier.body, cst.IndentedBlock) and earlier.body.body):
                last = earlier.body.body[-1]
                if isinstance(last, cst.SimpleStatementLine) and isinstance(last.body[-1], (cst.Return, cst.Raise)):
                    return True
        return False

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, _STATEMENTS):
            self._todos.append([])
        return super().on_visit(node)

    def on_leave(self, original_node: cst.CSTNode, updated_node: cst.CSTNode):
        result = super().on_leave(original_node, updated_node)
        if isinstance(original_node, _STATEMENTS):
            todos = self._todos.pop()
            if todos and isinstance(result, _STATEMENTS):
                present = self._comments_above(original_node)
                new = [t for t in dict.fromkeys(todos) if t not in present]
                if new:
                    lines = [cst.EmptyLine(indent=True, comment=cst.Comment(t)) for t in new]
                    result = result.with_changes(leading_lines=[*result.leading_lines, *lines])
        return result

    def _comments_above(self, statement: cst.CSTNode) -> set[str]:
        """Comment lines directly above ``statement`` in the source (libcst keeps the
        first statement's in ``Module.header``, so the source text is the reliable place)."""
        first = statement.decorators[0] if getattr(statement, "decorators", None) else statement
        line = self.inf.positions[first].start.line - 1  # 1-based line above
        found = set()
        while line >= 1 and self.lines[line - 1].lstrip().startswith("#"):
            found.add(self.lines[line - 1].strip())
            line -= 1
        return found

    # -- receivers ---------------------------------------------------------------
    def _receiver(self, receiver: cst.BaseExpression, attr: str, *, name_hint: bool = False) -> str | None:
        """What ``receiver.attr`` targets: a cache kind (known), ``""`` (unknown: report, never
        rewrite), or None (not a transformers cache: the user's own class or another library)."""
        if self.inf.is_lookalike_receiver(receiver):
            return None
        info = self.inf.cache_info(receiver)
        if info is not None:
            kind, owner = info
            if owner is not None and self.inf.index.defines(owner, attr):
                return None  # the tree's own class defines it
            return kind
        if isinstance(receiver, cst.Name) and receiver.value == "self":
            return None  # self of a class that is not a transformers cache
        if self.inf.index.owned_in_reach(self.inf.module, attr):
            return None  # a class defining it is in reach of this module: may be one of those
        if name_hint and not CACHE_ISH.search(terminal_name(receiver) or ""):
            return None
        return ""

    def _own_assigned(self, receiver: cst.BaseExpression, attr: str) -> bool:
        """``receiver`` is an instance of a tree class that assigns ``self.attr`` itself."""
        owner = self.inf.cache_owner(receiver)
        return owner is not None and self.inf.index.assigns(owner, attr)

    def _model_target(self, call: cst.Call) -> tuple[cst.BaseExpression, bool] | None:
        """``(model expression, evidence it is a model)`` for ``m(...)``, ``m.forward(...)``,
        ``m.__call__(...)``, ``m.generate(...)``; None when the callee is not model-like."""
        func = call.func
        method = None
        if isinstance(func, cst.Attribute) and func.attr.value in ("forward", "__call__", "generate"):
            method, func = func.attr.value, func.value
        if not _is_pure(func) or self.inf.is_lookalike_receiver(func):
            return None
        if self.inf.is_model(func):
            return func, True
        if method == "generate" or MODEL_ISH.search(terminal_name(func) or ""):
            if (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == "self"
                    and self._enclosing_class_defines(func, func.attr.value)):
                return None  # self.method(...): a method, not a model
            return func, False
        return None

    def _enclosing_class_defines(self, node: cst.CSTNode, name: str) -> bool:
        current = self.inf.parents.get(node)
        while current is not None and not isinstance(current, cst.ClassDef):
            current = self.inf.parents.get(current)
        if current is None:
            return False
        return self.inf.index.defines(f"{self.inf.module}.{current.name.value}", name) or any(
            isinstance(item, cst.FunctionDef) and item.name.value == name for item in current.body.body
        )

    def _param_of_enclosing_function(self, node: cst.BaseExpression) -> bool:
        """``node`` is a parameter of the function it appears in (a pass-through argument)."""
        if not isinstance(node, cst.Name):
            return False
        values = self.inf._bound_values(node)
        return bool(values) and all(isinstance(v, cst.Param) for v in values)

    # -- calls -------------------------------------------------------------------
    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        func = original_node.func
        args = _plain_args(original_node)
        if isinstance(func, cst.Attribute):
            method = func.attr.value
            receiver = func.value
            if method == "from_legacy_cache":
                return self._from_legacy(original_node, updated_node, args)
            if method == "to_legacy_cache" and args == ([], {}):
                kind = self._receiver(receiver, method)
                if kind is not None and self._report(original_node, "PCC002",
                                                     fixable=kind in _READABLE | {"past_key_values"}):
                    return cst.Call(_compat("to_legacy"), [cst.Arg(updated_node.func.value)])
                return updated_node
            if method in ("get_max_length", "get_max_cache_shape"):
                if self._receiver(receiver, method, name_hint=method == "get_max_length") is not None:
                    self._report(original_node, "PCC007", fixable=False)
                return updated_node
            if method == "get_usable_length":
                return self._usable_length(original_node, updated_node, args)
            if method == "crop" and args is not None and len(args[0]) == 1 and not args[1]:
                self._crop(original_node, args[0][0].value)
                return updated_node
        cls = self.inf.transformers_cache_class(func)
        if cls in ("DynamicCache", "EncoderDecoderCache"):
            return self._constructor(original_node, updated_node, cls, args)
        keywords = {a.keyword.value: a for a in original_node.args if a.keyword is not None}
        if "past_key_values" in keywords:
            target = self._model_target(original_node)
            if (target is None and isinstance(func, cst.Attribute) and func.attr.value == "generate"
                    and self.inf.is_evident_legacy(keywords["past_key_values"].value)):
                self._report(keywords["past_key_values"].value, "PCC011", fixable=False)
            if target is not None:
                self._cache_position(original_node, keywords)
                return self._cache_keyword(original_node, updated_node, keywords["past_key_values"], *target)
        return updated_node

    def _cache_position(self, call: cst.Call, keywords: dict[str, cst.Arg]) -> None:
        """PCC010: an explicit cache_position next to a prefix, unless both are passed through."""
        position = keywords.get("cache_position")
        pkv = keywords["past_key_values"]
        if position is None or _is_none(position.value) or _is_none(pkv.value):
            return
        if self._param_of_enclosing_function(position.value):
            return  # a forward passing its own cache_position on
        self._report(position, "PCC010", fixable=False)

    def _cache_keyword(
        self, original: cst.Call, updated: cst.Call, pkv: cst.Arg, model: cst.BaseExpression, is_model: bool
    ) -> cst.Call:
        """PCC011 (a legacy tuple to generate) and PCC012 (the keyword's name)."""
        value = self._updated_arg(original, updated, pkv.value)
        is_generate = isinstance(original.func, cst.Attribute) and original.func.attr.value == "generate"
        legacy = is_generate and self.inf.is_evident_legacy(pkv.value)
        model_code = self._updated_model(original, updated)
        converted = False
        if legacy and self._report(pkv.value, "PCC011", fixable=True):
            converted = True
        index = original.args.index(pkv)
        safe_position = all(not a.star or a.star == "**" for a in original.args[index:])
        if self._report(pkv, "PCC012", fixable=is_model and safe_position):
            if converted:  # {name: to_cache(x, model=model)}
                spread = cst.Call(_compat("cache_kwargs"), [cst.Arg(model_code), cst.Arg(value)])
            else:  # same object, right name: nothing else changes
                spread = cst.Dict([cst.DictElement(cst.Call(_compat("cache_argument"), [cst.Arg(model_code)]), value)])
            new_arg = cst.Arg(spread, star="**", comma=updated.args[index].comma)
            return updated.with_changes(args=[*updated.args[:index], new_arg, *updated.args[index + 1:]])
        if converted:
            wrapped = cst.Call(
                _compat("to_cache"),
                [cst.Arg(value), cst.Arg(model_code, keyword=cst.Name("model"),
                                         equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace("")))],
            )
            return updated.with_changes(args=[
                a.with_changes(value=wrapped) if i == index else a for i, a in enumerate(updated.args)])
        return updated

    @staticmethod
    def _updated_model(original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        func = updated.func
        if isinstance(original.func, cst.Attribute) and original.func.attr.value in ("forward", "__call__", "generate"):
            return func.value
        return func

    def _from_legacy(self, original: cst.Call, updated: cst.Call, args) -> cst.BaseExpression:
        receiver = original.func.value
        cls = self.inf.transformers_cache_class(receiver)
        if cls is None:
            own = self.inf.own_cache_class(receiver)
            if own is not None and not self.inf.index.defines(own, "from_legacy_cache"):
                self._report(original, "PCC001", fixable=False)  # inherited: returns the subclass
            return updated
        ok = args is not None and len(args[0]) == 1 and not args[1] and cls in ("DynamicCache", "EncoderDecoderCache")
        if ok and _is_none(args[0][0].value) and cls == "DynamicCache":
            # from_legacy_cache(None) is an empty cache; DynamicCache() is one on 4.36-5.23.
            if self._report(original, "PCC001", fixable=True, via_compat=False):
                return cst.Call(updated.func.value)
            return updated
        if self._report(original, "PCC001", fixable=ok):
            return self._legacy_to_cache(original, updated, args[0][0].value, cls)
        return updated

    def _legacy_to_cache(
        self, original: cst.Call, updated: cst.Call, data: cst.BaseExpression, cls: str
    ) -> cst.Call:
        """``compat.to_cache(x)`` for an evident tuple, else ``compat.from_legacy_cache(x)`` (None-safe)."""
        arg = next(new for old, new in zip(original.args, updated.args) if old.value is data)
        arg = arg.with_changes(keyword=None, equal=cst.MaybeSentinel.DEFAULT, comma=cst.MaybeSentinel.DEFAULT)
        if cls == "DynamicCache" and self.inf.is_evident_legacy(data):
            return cst.Call(_compat("to_cache"), [arg])
        if cls == "EncoderDecoderCache":
            flag = cst.Arg(cst.Name("True"), keyword=cst.Name("encoder_decoder"),
                           equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace("")))
            arg = arg.with_changes(whitespace_after_arg=cst.SimpleWhitespace(""))
            return cst.Call(_compat("from_legacy_cache"), [arg, flag])
        return cst.Call(_compat("from_legacy_cache"), [arg])

    def _constructor(self, original: cst.Call, updated: cst.Call, cls: str, args) -> cst.BaseExpression:
        if args is None:
            return updated
        positional, keywords = args
        data_kw = [k for k in ("ddp_cache_data", "_distributed_cache_data") if k in keywords]
        if cls == "DynamicCache":
            data = positional[0].value if positional else (keywords[data_kw[0]].value if data_kw else None)
            if data is None or _is_none(data):
                return updated
            count_like = isinstance(data, cst.Integer) or "layer" in (terminal_name(data) or "").lower()
            fixable = len(positional) + len(keywords) == 1 and not count_like
        else:
            if len(positional) != 1 or _is_none(positional[0].value):
                return updated
            data = positional[0].value
            fixable = not keywords
        if self._report(original, "PCC004", fixable=fixable):
            return self._legacy_to_cache(original, updated, data, cls)
        return updated

    @staticmethod
    def _updated_arg(original: cst.Call, updated: cst.Call, value: cst.BaseExpression) -> cst.BaseExpression:
        for old, new in zip(original.args, updated.args):
            if old.value is value:
                return new.value
        raise AssertionError("argument not found")  # pragma: no cover

    def _usable_length(self, original: cst.Call, updated: cst.Call, args) -> cst.BaseExpression:
        receiver = original.func.value
        kind = self._receiver(receiver, "get_usable_length")
        if kind is None:
            return updated
        fixable = False
        layer = None
        if args is not None and kind == "DynamicCache":
            positional, keywords = args
            if set(keywords) <= {"new_seq_length", "layer_idx"} and len(positional) + len(keywords) in (1, 2):
                new_len = positional[0].value if positional else keywords.get("new_seq_length", None)
                new_len = new_len.value if isinstance(new_len, cst.Arg) else new_len
                layer = positional[1] if len(positional) > 1 else keywords.get("layer_idx")
                fixable = new_len is not None and not _has_call(new_len)
        if self._report(original, "PCC009", fixable=fixable, via_compat=False):
            # DynamicCache has no max length, so get_usable_length(n, i) == get_seq_length(i) (4.36-4.53).
            new_args = []
            if layer is not None:
                new_layer = self._updated_arg(original, updated, layer.value)
                new_args = [cst.Arg(new_layer, keyword=layer.keyword, equal=layer.equal)]
            return cst.Call(updated.func.with_changes(attr=cst.Name("get_seq_length")), new_args)
        return updated

    def _crop(self, original: cst.Call, value: cst.BaseExpression) -> None:
        receiver = original.func.value
        if isinstance(value, cst.UnaryOperation) and isinstance(value.operator, cst.Minus):
            return  # crop(-n): the one portable form
        if isinstance(value, (cst.SimpleString, cst.Tuple, cst.List, cst.Float)):
            return  # PIL-style crop(box) and friends
        if self._receiver(receiver, "crop", name_hint=True) is not None:
            self._report(original, "PCC006", fixable=False)

    # -- subscripts, attributes, loops ------------------------------------------
    def leave_Subscript(self, original_node: cst.Subscript, updated_node: cst.Subscript) -> cst.BaseExpression:
        value = original_node.value
        index = _single_index(original_node)
        if isinstance(value, cst.Attribute) and value.attr.value in ("key_cache", "value_cache"):
            attr = value.attr.value
            receiver = value.value
            kind = self._receiver(receiver, attr)
            if kind is None or self._own_assigned(receiver, attr):
                return updated_node
            fixable = index is not None and not self.inf.is_store(original_node) and kind in _LAYERED
            if self._report(original_node, "PCC003", fixable=fixable):
                accessor = "layer_keys" if attr == "key_cache" else "layer_values"
                new_index = updated_node.slice[0].slice.value
                return cst.Call(_compat(accessor), [cst.Arg(updated_node.value.value), cst.Arg(new_index)])
            return updated_node
        kind = self.inf.cache_kind(value)
        # A slice never worked on a Cache, so sliced ``x.past_key_values[1:]`` is a tuple (e.g. TF models).
        if kind is not None and index is not None and self._receiver(value, "__getitem__") is not None:
            fixable = not self.inf.is_store(original_node) and kind in _READABLE
            if self._report(original_node, "PCC005", fixable=fixable):
                return updated_node.with_changes(value=cst.Call(_compat("to_legacy"), [cst.Arg(updated_node.value)]))
        return updated_node

    def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.Attribute) -> cst.BaseExpression:
        attr = original_node.attr.value
        receiver = original_node.value
        parent = self.inf.parents.get(original_node)
        if attr in ("key_cache", "value_cache"):
            if isinstance(parent, cst.Subscript) and parent.value is original_node:
                return updated_node  # handled by leave_Subscript
            kind = self._receiver(receiver, attr)
            if kind is None:
                return updated_node
            store = self.inf.is_store(original_node)
            if self._own_assigned(receiver, attr):
                if store and _is_assign_target(original_node, parent):
                    self._report(original_node, "PCC003", fixable=False, note=_OWN_SUBCLASS_NOTE.format(attr=attr))
            elif not (store and kind == ""):  # obj.key_cache = ... on an unknown object: its own attribute
                self._report(original_node, "PCC003", fixable=False)
        elif attr == "seen_tokens":
            if self._receiver(receiver, attr, name_hint=True) is not None:
                self._report(original_node, "PCC008", fixable=False)
        elif attr == "past_key_values" and not self.inf.is_store(original_node):
            return self._output_cache(original_node, updated_node)
        return updated_node

    def _output_cache(self, original_node: cst.Attribute, updated_node: cst.Attribute) -> cst.BaseExpression:
        """Read ``out.past_key_values`` of a model output: PCC013, fixed to ``compat.output_cache(out)``."""
        receiver = original_node.value
        if (_is_pure(receiver) and self.inf.is_model_output(receiver)
                and self._report(original_node, "PCC013", fixable=True)):
            return cst.Call(_compat("output_cache"), [cst.Arg(updated_node.value)])
        return updated_node

    def _iteration(self, iterable: cst.BaseExpression) -> bool:
        kind = self.inf.cache_kind(iterable)
        if kind is None or self._receiver(iterable, "__iter__") is None:
            return False
        return self._report(iterable, "PCC005", fixable=kind in _READABLE)

    def leave_For(self, original_node: cst.For, updated_node: cst.For) -> cst.For:
        if self._iteration(original_node.iter):
            return updated_node.with_changes(iter=cst.Call(_compat("to_legacy"), [cst.Arg(updated_node.iter)]))
        return updated_node

    def leave_CompFor(self, original_node: cst.CompFor, updated_node: cst.CompFor) -> cst.CompFor:
        if self._iteration(original_node.iter):
            return updated_node.with_changes(iter=cst.Call(_compat("to_legacy"), [cst.Arg(updated_node.iter)]))
        return updated_node


def _is_assign_target(node: cst.CSTNode, parent: cst.CSTNode | None) -> bool:
    return isinstance(parent, (cst.AssignTarget, cst.AnnAssign, cst.AugAssign)) and parent.target is node


def parse(source: str | bytes) -> cst.Module:
    """Parse or raise :class:`ParseFailure` with a one-line reason."""
    try:
        return cst.parse_module(source)
    except cst.ParserSyntaxError as exc:
        # Python's own parser names the real spot; libcst's position is where it gave up.
        try:
            ast.parse(source)
        except SyntaxError as syntax:
            raise ParseFailure(
                f"cannot parse: {syntax.msg} (line {syntax.lineno}, column {syntax.offset})"
            ) from None
        raise ParseFailure(
            f"cannot parse: libcst: {exc.message} (line {exc.raw_line}, column {exc.raw_column + 1})"
        ) from None
    except (RecursionError, ValueError, UnicodeDecodeError) as exc:
        raise ParseFailure(f"cannot parse: {type(exc).__name__}: {exc}") from None


def check_source(
    source: str,
    path: str = "<string>",
    *,
    rules: Iterable[str] | None = None,
    fix: bool = False,
    index: ProjectIndex | None = None,
    module: str | None = None,
) -> Result:
    """Lint ``source`` (and with ``fix=True`` rewrite it). Raises :class:`ParseFailure`.

    ``index`` describes the whole scanned tree (cache subclasses, star imports,
    monkeypatches across files) and ``module`` names this file in it; without
    them the file is its own tree.
    """
    if module is None:
        module = "__main__"
    if index is None:
        index = ProjectIndex.build({module: source})
    own_classes = [q.rpartition(".")[2] for q in index.classes if index.cache_base(q)]
    if not may_match(source, own_classes):
        _syntax_check(source)  # no rule can fire: skip libcst entirely
        return Result(path, [], source, source)
    try:
        reduced = reduce_source(source, lambda text: may_match(text, own_classes))
    except (SyntaxError, ValueError, RecursionError):
        reduced = None  # parse() below gives the one-line reason
    text = reduced.text if reduced is not None else source
    parsed = parse(text)
    wrapper = MetadataWrapper(parsed, unsafe_skip_copy=True)
    inference = Inference(wrapper, index, module)
    migrator = _Migrator(inference, path, set(rules if rules is not None else RULES), fix, text)
    new_module = wrapper.visit(migrator)
    if fix and migrator.need_compat:
        new_module = ensure_import_compat(drop_unused_cache_imports(parsed, new_module, path))
    findings = sorted(migrator.findings, key=lambda f: (f.line, f.col, f.code))
    if not fix or new_module.code == text:
        return Result(path, findings, source, source)
    return Result(path, findings, source, reduced.restore(new_module.code) if reduced is not None else new_module.code)


def _syntax_check(source: str) -> None:
    try:
        compile(source, "<migrate>", "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True)
    except (SyntaxError, ValueError) as exc:
        parse(source)  # libcst's and Python's message, as for any other file
        raise ParseFailure(f"cannot parse: {exc}") from None
