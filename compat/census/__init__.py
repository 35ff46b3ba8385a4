"""The architecture census: every causal-LM and seq2seq-LM architecture of the installed
transformers, built tiny from its config class, checked with prefix tuning, prefix tuning with
projection, prompt tuning and p-tuning against references that need no per-architecture code.

Modules: ``registry`` (which architectures), ``shrink`` + ``overrides`` + ``build`` (tiny models),
``oracle`` (real-token adapters), ``checks`` (the comparisons), ``arch`` (one architecture,
applicability, time cap), ``judge`` + ``catalogue`` (known upstream issues), ``results`` (typed,
JSON with a schema version), ``run`` + ``worker`` (parallel processes), ``report``, ``cli``,
``sample`` (the CI sample). Importing this package imports no torch.

>>> import compat.census
>>> compat.census.__all__
['cli', 'registry', 'results']
"""

__all__ = ["cli", "registry", "results"]
