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
from compat.migrate.infer import CACHE_ISH, Inference, terminal_name
from compat.migrate.rules import RULES

__all__ = ["Finding", "ParseFailure", "Result", "check_source"]

_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Za-z]+[0-9]+(?:[,\s]+[A-Za-z]+[0-9]+)*))?", re.IGNORECASE)
_TODO_PREFIX = "# TODO(compat): "
_STATEMENTS = (cst.SimpleStatementLine, cst.BaseCompoundStatement)
# Every rule needs one of these words in the file (PCC005 needs a known cache, PCC011 a
# past_key_values keyword); files without any are parsed (for syntax errors) but not analysed.
_TRIGGERS = re.compile(
    r"legacy_cache|key_cache|value_cache|Cache|crop|get_max_length|get_max_cache_shape|seen_tokens"
    r"|get_usable_length|cache_position|past_key_values|to_cache"
)
# Kinds of known cache (see Inference.cache_kind) that compat.to_legacy reads on every
# version: it refuses static/quantized caches and cannot guess a family's native tuple.
_READABLE = {"DynamicCache", "EncoderDecoderCache", "to_cache"}
_NONE_NOTE = "check `{arg}` is never None here: {old} gave an empty cache, compat.to_cache(None) returns None"
_EDC_NOTE = (
    "if `{arg}` holds (k, v) 2-tuples, compat.to_cache returns a DynamicCache, not an "
    "EncoderDecoderCache: pass model=<the model>"
)


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
        if code not in self.enabled:
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
            self._todos[-1].append(f"{_TODO_PREFIX}{code} `{snippet}`: {note if fixable else rule.todo}")
        if apply and via_compat:
            self.need_compat = True
        return apply

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

    # -- helpers ---------------------------------------------------------------
    def _self_receiver_ok(self, receiver: cst.BaseExpression) -> bool:
        """``self.x`` counts only inside a subclass of a transformers class."""
        if not (isinstance(receiver, cst.Name) and receiver.value == "self"):
            return True
        node = receiver
        while node is not None and not isinstance(node, cst.ClassDef):
            node = self.inf.parents.get(node)
        return node is not None and any(self.inf.is_transformers(arg.value) for arg in node.bases)

    def _cache_receiver(self, receiver: cst.BaseExpression, *, name_hint: bool) -> bool:
        if self.inf.is_lookalike_receiver(receiver) or not self._self_receiver_ok(receiver):
            return False
        if self.inf.cache_kind(receiver) is not None:
            return True
        return name_hint and bool(CACHE_ISH.search(terminal_name(receiver) or ""))

    # -- calls -------------------------------------------------------------------
    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        func = original_node.func
        args = _plain_args(original_node)
        if isinstance(func, cst.Attribute):
            method = func.attr.value
            receiver = func.value
            if method == "from_legacy_cache" and self.inf.transformers_cache_class(receiver):
                return self._from_legacy(original_node, updated_node, args)
            if method == "to_legacy_cache" and not self.inf.is_lookalike_receiver(receiver):
                if args == ([], {}) and self._self_receiver_ok(receiver):
                    if self._report(original_node, "PCC002", fixable=True):
                        return cst.Call(_compat("to_legacy"), [cst.Arg(updated_node.func.value)])
                return updated_node
            if method in ("get_max_length", "get_max_cache_shape"):
                if self._cache_receiver(receiver, name_hint=True) or (
                    method == "get_max_cache_shape" and not self.inf.is_lookalike_receiver(receiver)
                ):
                    self._report(original_node, "PCC007", fixable=False)
                return updated_node
            if method == "get_usable_length" and not self.inf.is_lookalike_receiver(receiver):
                return self._usable_length(original_node, updated_node, args)
            if method == "crop" and args is not None and len(args[0]) == 1 and not args[1]:
                self._crop(original_node, args[0][0].value)
                return updated_node
            if method == "generate" and args is not None and "past_key_values" in args[1]:
                updated_node = self._generate(original_node, updated_node, args[1]["past_key_values"])
        cls = self.inf.transformers_cache_class(func)
        if cls in ("DynamicCache", "EncoderDecoderCache"):
            return self._constructor(original_node, updated_node, cls, args)
        if args is not None and "past_key_values" in args[1] and "cache_position" in args[1]:
            position = args[1]["cache_position"]
            if not _is_none(position.value) and not _is_none(args[1]["past_key_values"].value):
                self._report(position, "PCC010", fixable=False)
        return updated_node

    def _from_legacy(self, original: cst.Call, updated: cst.Call, args) -> cst.BaseExpression:
        ok = args is not None and len(args[0]) == 1 and not args[1]
        if ok and _is_none(args[0][0].value):
            # from_legacy_cache(None) is an empty cache; DynamicCache() is one on 4.36-5.23.
            if self.inf.transformers_cache_class(original.func.value) == "DynamicCache":
                if self._report(original, "PCC001", fixable=True, via_compat=False):
                    return cst.Call(updated.func.value)
                return updated
            ok = False
        cls = self.inf.transformers_cache_class(original.func.value)
        note = self._rewrite_note(args[0][0].value, cls, "from_legacy_cache(None)") if ok else None
        if self._report(original, "PCC001", fixable=ok, note=note):
            return cst.Call(_compat("to_cache"), [updated.args[0].with_changes(comma=cst.MaybeSentinel.DEFAULT)])
        return updated

    def _rewrite_note(self, data: cst.BaseExpression, cls: str | None, old: str) -> str | None:
        """What a human should check after ``X -> compat.to_cache(data)`` (None: nothing)."""
        arg = _snippet(data, 30)
        notes = []
        if old != "EncoderDecoderCache(None)" and not self.inf.is_evident_legacy(data):  # EDC(None) raised
            notes.append(_NONE_NOTE.format(arg=arg, old=old))
        if cls == "EncoderDecoderCache":
            notes.append(_EDC_NOTE.format(arg=arg))
        return "rewritten to compat.to_cache; " + "; ".join(notes) if notes else None

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
        note = self._rewrite_note(data, cls, f"{cls}(None)") if fixable else None
        if self._report(original, "PCC004", fixable=fixable, note=note):
            return cst.Call(_compat("to_cache"), [cst.Arg(self._updated_arg(original, updated, data))])
        return updated

    @staticmethod
    def _updated_arg(original: cst.Call, updated: cst.Call, value: cst.BaseExpression) -> cst.BaseExpression:
        for old, new in zip(original.args, updated.args):
            if old.value is value:
                return new.value
        raise AssertionError("argument not found")  # pragma: no cover

    def _usable_length(self, original: cst.Call, updated: cst.Call, args) -> cst.BaseExpression:
        receiver = original.func.value
        if not self._self_receiver_ok(receiver):
            return updated
        fixable = False
        layer = None
        if args is not None and self.inf.cache_kind(receiver) == "DynamicCache":
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
        if self._cache_receiver(receiver, name_hint=True):
            self._report(original, "PCC006", fixable=False)

    def _generate(self, original: cst.Call, updated: cst.Call, pkv: cst.Arg) -> cst.Call:
        if not self.inf.is_evident_legacy(pkv.value):
            return updated
        model = original.func.value
        fixable = _is_pure(model)
        if self._report(pkv.value, "PCC011", fixable=fixable):
            new_pkv = self._updated_arg(original, updated, pkv.value)
            wrapped = cst.Call(
                _compat("to_cache"),
                [cst.Arg(new_pkv), cst.Arg(updated.func.value, keyword=cst.Name("model"),
                                           equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace("")))],
            )
            new_args = [a.with_changes(value=wrapped) if a.keyword and a.keyword.value == "past_key_values" else a
                        for a in updated.args]
            return updated.with_changes(args=new_args)
        return updated

    # -- subscripts, attributes, loops ------------------------------------------
    def leave_Subscript(self, original_node: cst.Subscript, updated_node: cst.Subscript) -> cst.BaseExpression:
        value = original_node.value
        index = _single_index(original_node)
        if isinstance(value, cst.Attribute) and value.attr.value in ("key_cache", "value_cache"):
            receiver = value.value
            if self.inf.is_lookalike_receiver(receiver) or not self._self_receiver_ok(receiver):
                return updated_node
            is_self = isinstance(receiver, cst.Name) and receiver.value == "self"
            fixable = (
                index is not None
                and not is_self
                and not self.inf.is_store(original_node)
                and self.inf.cache_kind(receiver) in _READABLE - {"EncoderDecoderCache"}
            )
            if self._report(original_node, "PCC003", fixable=fixable):
                which = cst.Integer("0" if value.attr.value == "key_cache" else "1")
                legacy = cst.Call(_compat("to_legacy"), [cst.Arg(updated_node.value.value)])
                return _index(updated_node.with_changes(value=legacy), which)
            return updated_node
        kind = self.inf.cache_kind(value)
        # A slice never worked on a Cache, so sliced ``x.past_key_values[1:]`` is a tuple (e.g. TF models).
        if kind is not None and index is not None and self._self_receiver_ok(value):
            fixable = index is not None and not self.inf.is_store(original_node) and kind in _READABLE
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
            if not self.inf.is_lookalike_receiver(receiver) and self._self_receiver_ok(receiver):
                if not self._assigns_own_attribute(original_node):
                    self._report(original_node, "PCC003", fixable=False)
        elif attr == "seen_tokens" and self._cache_receiver(receiver, name_hint=True):
            self._report(original_node, "PCC008", fixable=False)
        return updated_node

    def _assigns_own_attribute(self, node: cst.Attribute) -> bool:
        """``obj.key_cache = ...`` on a receiver that is not a known cache: the user's own attribute."""
        return self.inf.is_store(node) and self.inf.cache_kind(node.value) is None

    def _iteration(self, iterable: cst.BaseExpression) -> bool:
        kind = self.inf.cache_kind(iterable)
        if kind is None or not self._self_receiver_ok(iterable):
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
    source: str, path: str = "<string>", *, rules: Iterable[str] | None = None, fix: bool = False
) -> Result:
    """Lint ``source`` (and with ``fix=True`` rewrite it). Raises :class:`ParseFailure`."""
    module = parse(source)
    if not _TRIGGERS.search(source):
        # No rule can fire without one of these words: skip the costly metadata.
        return Result(path, [], source, source)
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    migrator = _Migrator(Inference(wrapper), path, set(rules if rules is not None else RULES), fix, source)
    new_module = wrapper.visit(migrator)
    if fix and migrator.need_compat:
        new_module = ensure_import_compat(drop_unused_cache_imports(module, new_module, path))
    findings = sorted(migrator.findings, key=lambda f: (f.line, f.col, f.code))
    return Result(path, findings, source, new_module.code if fix else source)
