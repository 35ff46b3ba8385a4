"""PCC003 key-value-cache-lists: ``cache.key_cache[i]``, ``cache.value_cache[i]``; ``self.key_cache = ...``
in a Cache subclass."""

from __future__ import annotations

import ast

from compat.migrate.receivers import LAYERED, own_assigned, receiver
from compat.migrate.rules._calls import compat_call, single_index
from compat.migrate.rules._unit import Context, Rule, RuleUnit

__all__ = ["KeyValueCacheLists"]

RULE = Rule(
    "PCC003",
    "key-value-cache-lists",
    "cache.key_cache[i] / cache.value_cache[i]",
    "`key_cache`/`value_cache` are deprecated wrappers in transformers 4.54-4.55 and removed in 4.56 "
    "(tensors live in `cache.layers[i].keys`/`.values` from 4.54)",
    "compat.layer_keys(cache, i) / compat.layer_values(cache, i) (O(1)): reads of a known DynamicCache",
    "read via compat.layer_keys/layer_values(cache, i); to write, build a new one",
)
_ATTRIBUTES = ("key_cache", "value_cache")
_OWN_SUBCLASS_NOTE = "own {attr}: read-only in 4.54-4.55, the base ignores it from 4.54"


def _is_assign_target(node: ast.AST, parent: ast.AST | None) -> bool:
    if isinstance(parent, ast.Assign):
        return any(t is node for t in parent.targets)
    return isinstance(parent, (ast.AnnAssign, ast.AugAssign)) and parent.target is node


class KeyValueCacheLists(RuleUnit):
    rule = RULE

    def on_subscript(self, ctx: Context, node: ast.Subscript) -> bool:
        value = node.value
        if not (isinstance(value, ast.Attribute) and value.attr in _ATTRIBUTES):
            return False
        inf = ctx.inf
        kind = receiver(inf, value.value, value.attr)
        if kind is None or own_assigned(inf, value.value, value.attr):
            return True
        index = single_index(node)
        fixable = index is not None and not inf.is_store(node) and kind in LAYERED
        if ctx.report(node, RULE.id, fixable=fixable) and index is not None:
            accessor = "layer_keys" if value.attr == "key_cache" else "layer_values"
            ctx.rewrite(node, lambda _: compat_call(accessor, ctx.text(value.value), ctx.text(index)))
        return True

    def on_attribute(self, ctx: Context, node: ast.Attribute) -> bool:
        if node.attr not in _ATTRIBUTES:
            return False
        inf = ctx.inf
        parent = inf.parents.get(node)
        if isinstance(parent, ast.Subscript) and parent.value is node:
            return True  # the subscript is the finding (on_subscript)
        kind = receiver(inf, node.value, node.attr)
        if kind is None:
            return True
        store = inf.is_store(node)
        if own_assigned(inf, node.value, node.attr):
            if store and _is_assign_target(node, parent):
                ctx.report(node, RULE.id, fixable=False, note=_OWN_SUBCLASS_NOTE.format(attr=node.attr))
        elif not (store and kind == ""):  # obj.key_cache = ... on an unknown object: its own attribute
            ctx.report(node, RULE.id, fixable=False)
        return True
