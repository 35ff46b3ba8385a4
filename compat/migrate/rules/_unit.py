"""What a rule is: its texts (:class:`Rule`) and its detection and fix (:class:`RuleUnit`).

A unit sees the ``ast`` nodes of one module in post-order (children first, in source
order) through four hooks, asks :mod:`compat.migrate.receivers` and the module's
:class:`~compat.migrate.infer.Inference` what a node is, reports through the
:class:`Context` and registers its rewrite there as a text edit. A hook returns True
when the node is this rule's (the other rules' hooks for that node are then skipped).
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar, Protocol

if TYPE_CHECKING:  # pragma: no cover
    from compat.migrate.infer import Inference

__all__ = ["Context", "Edit", "Rule", "RuleUnit"]

#: A rewrite of one node: gets the node's text (with the rewrites inside it applied), returns the new text.
Edit = Callable[[str], str]


@dataclasses.dataclass(frozen=True)
class Rule:
    """One lint rule's texts.

    Args:
        id: stable id, ``PCCnnn``.
        name: short kebab-case name.
        pattern: the pattern as a user would write it.
        message: why it breaks and in which transformers versions.
        fix: the rewrite ``--fix`` applies (when it applies), or ``""``.
        todo: what the ``# TODO(compat):`` comment asks a human to check.
    """

    id: str
    name: str
    pattern: str
    message: str
    fix: str
    todo: str


class Context(Protocol):
    """What the engine gives a rule unit while it checks one module."""

    inf: Inference
    #: per-module scratch for units that share a site (PCC011 and PCC012 on one keyword)
    notes: dict[tuple[str, int], object]

    def report(self, node: ast.AST, code: str, fixable: bool, *, via_compat: bool = True,
               note: str | None = None) -> bool:
        """Record a finding; True when the rewrite should be applied now."""

    def rewrite(self, node: ast.AST, edit: Edit) -> Edit:
        """Replace ``node``'s text with ``edit(text)`` (edits on one node stack in order)."""

    def cancel(self, node: ast.AST, edit: Edit) -> None:
        """Withdraw an edit registered with :meth:`rewrite`."""

    def text(self, node: ast.AST) -> str:
        """``node``'s text with every rewrite registered inside and on it applied."""

    def code(self, node: ast.AST) -> str:
        """``node``'s original text."""


class RuleUnit:
    """One rule: detection, message and fix together. Subclasses set ``rule`` and override hooks."""

    rule: ClassVar[Rule]

    def on_call(self, ctx: Context, node: ast.Call) -> bool:
        return False

    def on_attribute(self, ctx: Context, node: ast.Attribute) -> bool:
        return False

    def on_subscript(self, ctx: Context, node: ast.Subscript) -> bool:
        return False

    def on_iteration(self, ctx: Context, iterable: ast.expr) -> bool:
        """``for ... in iterable`` (statement or comprehension)."""
        return False
