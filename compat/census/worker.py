"""One census worker process: ``python -m compat.census.worker ARCH...`` censuses each
architecture in turn and prints one JSON line per result (:class:`ArchResult`) on stdout.

Results go to the original stdout only (what models print is moved to stderr). One thread,
offline, warnings silenced (they are not findings; failures carry their messages).
"""

from __future__ import annotations

import json
import os
import sys

__all__ = ["main"]


def _results_channel():
    """The real stdout for results; anything else printed (by a model, in C or Python) goes to stderr."""
    channel = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return channel


def main(argv: list[str]) -> int:
    channel = _results_channel()
    from compat.tools.children import offline_child

    offline_child()  # and end with the census where it could not set PR_SET_PDEATHSIG
    import warnings

    warnings.filterwarnings("ignore")
    import peft
    import torch
    import transformers

    torch.set_num_threads(1)
    transformers.logging.set_verbosity_error()
    from compat.census import arch, catalogue, registry

    by_id = {a.id: a for a in registry.architectures()}
    known = catalogue.load()
    versions = (transformers.__version__, peft.__version__)
    for ident in argv:
        result = arch.census_arch(by_id[ident], known=known, versions=versions)
        channel.write(json.dumps(result.to_json()) + "\n")
        channel.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
