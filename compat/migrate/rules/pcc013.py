"""PCC013 output-past-key-values: ``outputs.past_key_values`` where ``outputs = model(...)``."""

from __future__ import annotations

import ast

from compat.migrate.receivers import is_pure
from compat.migrate.rules._calls import compat_call
from compat.migrate.rules._unit import Context, Rule, RuleUnit

__all__ = ["OutputPastKeyValues"]

RULE = Rule(
    "PCC013",
    "output-past-key-values",
    "outputs.past_key_values (outputs of a model call)",
    "transformers 5.24 renamed the model output field `past_key_values` to `cache` (the old name "
    "logs a deprecation)",
    "compat.output_cache(outputs)",
    "read it with compat.output_cache(outputs)",
)


class OutputPastKeyValues(RuleUnit):
    rule = RULE

    def on_attribute(self, ctx: Context, node: ast.Attribute) -> bool:
        if node.attr != "past_key_values" or ctx.inf.is_store(node):
            return False
        receiver = node.value
        if (is_pure(receiver) and ctx.inf.is_model_output(receiver)
                and ctx.report(node, RULE.id, fixable=True)):
            ctx.rewrite(node, lambda _: compat_call("output_cache", ctx.text(receiver)))
        return True
