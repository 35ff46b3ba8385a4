"""What a rule's receiver is, and whether the code around it is deliberately version-specific.

Shared by the rule units (``compat/migrate/rules/``): each asks these questions on
the ``ast`` node it matched; :class:`compat.migrate.infer.Inference` answers the
lower-level ones (names, bindings, caches, models).

>>> import ast
>>> from compat.migrate.infer import Inference
>>> src = "from transformers import DynamicCache\\nc = DynamicCache()\\nc.crop(0)\\n"
>>> inf = Inference(ast.parse(src), src)
>>> receiver(inf, inf.tree.body[2].value.func.value, "crop")
'DynamicCache'
"""

from __future__ import annotations

import ast
import re

from compat.migrate.infer import CACHE_ISH, MODEL_ISH, Inference, terminal_name

__all__ = [
    "LAYERED",
    "READABLE",
    "is_pure",
    "model_target",
    "own_assigned",
    "param_of_enclosing_function",
    "receiver",
    "version_guarded",
]

# Kinds of known cache (see Inference.cache_kind) that compat.to_legacy reads on every
# version: it refuses static/quantized caches and cannot guess a family's native tuple.
READABLE = frozenset({"DynamicCache", "EncoderDecoderCache", "to_cache"})
# compat.layer_keys/layer_values read these in O(1) wherever ``key_cache[i]`` worked.
LAYERED = frozenset({"DynamicCache", "to_cache", "past_key_values", "subclass"})
# A branch under one of these tests runs only on some transformers versions: its legacy
# calls are deliberate, so no rule reports inside it.
_VERSION_TEST = re.compile(
    r"__version__|is_transformers_version|version\.parse|parse_version|Version\(|transformers_version"
    r"|TRANSFORMERS_VERSION|is_transformers_greater|is_transformers_less"
    r"|hasattr\([^)]*['\"](?:from_legacy_cache|to_legacy_cache|key_cache|value_cache|layers|seen_tokens"
    r"|get_usable_length|get_max_length|get_max_cache_shape|crop|cache)['\"]",
)
_MODEL_METHODS = ("forward", "__call__", "generate")


def is_pure(node: ast.AST) -> bool:
    """A name or dotted attribute chain: safe to evaluate twice."""
    while isinstance(node, ast.Attribute):
        node = node.value
    return isinstance(node, ast.Name)


def _is_self(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id == "self"


def receiver(inf: Inference, node: ast.AST, attr: str, *, name_hint: bool = False) -> str | None:
    """What ``node.attr`` targets: a cache kind (known), ``""`` (unknown: report, never
    rewrite), or None (not a transformers cache: the user's own class or another library)."""
    if inf.is_lookalike_receiver(node):
        return None
    info = inf.cache_info(node)
    if info is not None:
        kind, owner = info
        if owner is not None and inf.index.defines(owner, attr):
            return None  # the tree's own class defines it
        return kind
    if _is_self(node):
        return None  # self of a class that is not a transformers cache
    wrapper = _forwarding_wrapper(inf, node, attr)
    if inf.index.owned_in_reach(inf.module, attr, exclude=wrapper):
        return None  # a class defining it is in reach of this module: may be one of those
    if wrapper is not None:
        return ""  # a cache subclass's own ``attr`` passing the call on to the cache it wraps
    if name_hint and not CACHE_ISH.search(terminal_name(node) or ""):
        return None
    return ""


def _forwarding_wrapper(inf: Inference, node: ast.AST, attr: str) -> str | None:
    """The cache subclass whose method ``attr`` holds ``node.attr`` (``self.base.attr`` inside
    its own ``attr``: a wrapper forwarding the API to the transformers cache it holds, like
    peft's ShadowCache), or None. Its own definition of ``attr`` is then no reason for silence;
    another class in reach defining ``attr`` still is."""
    enclosing = inf.enclosing_cache_method(node)
    return enclosing[1] if enclosing is not None and enclosing[0] == attr else None


def own_assigned(inf: Inference, node: ast.AST, attr: str) -> bool:
    """``node`` is an instance of a tree class that assigns ``self.attr`` itself."""
    owner = inf.cache_owner(node)
    return owner is not None and inf.index.assigns(owner, attr)


def model_target(inf: Inference, call: ast.Call) -> tuple[ast.AST, bool] | None:
    """``(model expression, evidence it is a model)`` for ``m(...)``, ``m.forward(...)``,
    ``m.__call__(...)``, ``m.generate(...)``; None when the callee is not model-like."""
    func = call.func
    method = None
    if isinstance(func, ast.Attribute) and func.attr in _MODEL_METHODS:
        method, func = func.attr, func.value
    if not is_pure(func) or inf.is_lookalike_receiver(func):
        return None
    if inf.is_model(func):
        return func, True
    if method == "generate" or MODEL_ISH.search(terminal_name(func) or ""):
        if isinstance(func, ast.Attribute) and _is_self(func.value) and _enclosing_class_defines(inf, func, func.attr):
            return None  # self.method(...): a method, not a model
        return func, False
    return None


def _enclosing_class_defines(inf: Inference, node: ast.AST, name: str) -> bool:
    for _, parent in inf.ancestors(node):
        if isinstance(parent, ast.ClassDef):
            return inf.index.defines(f"{inf.module}.{parent.name}", name) or any(
                isinstance(item, ast.FunctionDef) and item.name == name for item in parent.body)
    return False


def param_of_enclosing_function(inf: Inference, node: ast.AST) -> bool:
    """``node`` is a parameter of the function it appears in (a pass-through argument)."""
    if not isinstance(node, ast.Name):
        return False
    values = inf.bound_values(node)
    return bool(values) and all(isinstance(v, ast.arg) for v in values)


def version_guarded(inf: Inference, node: ast.AST) -> bool:
    """Inside an ``if``/conditional expression whose test checks the transformers version or API,
    or after ``if <version test>: ... return`` in the same block."""
    for current, parent in inf.ancestors(node):
        if (isinstance(parent, (ast.If, ast.IfExp)) and current is not parent.test
                and _is_version_test(inf, parent.test)):
            return True
        if isinstance(current, ast.stmt) and _after_version_exit(inf, _block_of(parent, current), current):
            return True
    return False


def _block_of(parent: ast.AST, statement: ast.stmt) -> list[ast.stmt]:
    for field in ("body", "orelse", "finalbody"):
        block = getattr(parent, field, None)
        if isinstance(block, list) and any(s is statement for s in block):
            return block
    return []


def _is_version_test(inf: Inference, test: ast.AST) -> bool:
    """The test checks the version, directly or through a flag assigned from such a check
    (``lt_4_56 = version.parse(transformers.__version__) < ...``; ``if lt_4_56:``)."""
    if _VERSION_TEST.search(inf.code(test)):
        return True
    flag = test.operand if isinstance(test, ast.UnaryOp) else test
    if isinstance(flag, ast.Name):
        values = inf.bound_values(flag)
        exprs = [v.value if isinstance(v, ast.AnnAssign) else v for v in values or ()]
        return bool(exprs) and all(
            isinstance(e, ast.expr) and _VERSION_TEST.search(inf.code(e)) for e in exprs)
    return False


def _after_version_exit(inf: Inference, block: list[ast.stmt], statement: ast.stmt) -> bool:
    """``statement`` follows ``if <version test>: ... return/raise`` in the same block: the
    rest of the block is the other versions' branch."""
    for earlier in block:
        if earlier is statement:
            return False
        if (isinstance(earlier, ast.If) and not earlier.orelse and earlier.body
                and earlier.body[0].lineno > earlier.test.end_lineno  # an indented block
                and isinstance(earlier.body[-1], (ast.Return, ast.Raise)) and _is_version_test(inf, earlier.test)):
            return True
    return False
