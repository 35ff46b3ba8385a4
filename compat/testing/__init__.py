"""Test support for the equivalence suites: a tiny-model zoo, PEFT method
configs, and independent reference decoders.

Importing this package is light (no torch); each submodule imports torch and
transformers only when one of its functions is called.

>>> import compat.testing
>>> compat.testing.__all__
['methods', 'reference', 'zoo']
"""

__all__ = ["methods", "reference", "zoo"]
