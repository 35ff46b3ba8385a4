"""Read the transformers/peft pins out of a dependency file, for CI (torch-free).

``python -m compat.gate.pinfile FILE`` prints ``transformers==A peft==B``, ready
for ``--from``/``--to``. It understands requirements files (``name==version``
lines, comments and extras allowed) and ``pyproject.toml`` (exact pins in
``[project] dependencies``, optional dependencies, or this project's
``[tool.peft-cache-compat.default-pins]`` table). ``-`` reads standard input,
so CI can feed it ``git show BASE:requirements.txt``.

>>> pins_from_text("torch==2.13.0\\ntransformers[torch]==4.57.6  # pinned\\npeft==0.18.1\\n", "requirements.txt")
'transformers==4.57.6 peft==0.18.1'
>>> pins_from_text('[tool.peft-cache-compat.default-pins]\\ntransformers = "5.23.0"\\npeft = "0.21.2"\\n',
...                "pyproject.toml")
'transformers==5.23.0 peft==0.21.2'
>>> pins_from_text("transformers>=4.40\\npeft==0.18.1\\n", "requirements.txt")
Traceback (most recent call last):
...
compat.gate.errors.GateError: requirements.txt: no exact pin (==) for transformers; the gate compares exact versions
"""

from __future__ import annotations

import re
import sys

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from compat.gate.errors import GateError

if sys.version_info >= (3, 11):  # pragma: no cover - version-gated backport
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["main", "pins_from_text"]

NAMES = ("transformers", "peft")


def _exact(requirements: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for raw in requirements:
        line = re.split(r"\s+#", raw.strip(), maxsplit=1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        name = canonicalize_name(req.name)
        if name in NAMES:
            exact = [s.version for s in req.specifier if s.operator in ("==", "===") and "*" not in s.version]
            if exact:
                found[name] = exact[0]
            else:
                found.setdefault(name, "")
    return found


def pins_from_text(text: str, filename: str) -> str:
    """``"transformers==A peft==B"`` from the text of a requirements file or pyproject.toml."""
    if filename.endswith(".toml"):
        data = tomllib.loads(text)
        table = data.get("tool", {}).get("peft-cache-compat", {}).get("default-pins", {})
        found = {canonicalize_name(k): str(v) for k, v in table.items() if canonicalize_name(k) in NAMES}
        project = data.get("project", {})
        reqs = list(project.get("dependencies", []))
        for group in project.get("optional-dependencies", {}).values():
            reqs += list(group)
        for name, version in _exact(reqs).items():
            if version or name not in found:
                found.setdefault(name, version)
    else:
        found = _exact(text.splitlines())
    for name in NAMES:
        if not found.get(name):
            raise GateError(f"{filename}: no exact pin (==) for {name}; the gate compares exact versions")
    return " ".join(f"{name}=={found[name]}" for name in NAMES)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) not in (1, 2):
        print("usage: python -m compat.gate.pinfile FILE|- [NAME-FOR-FORMAT]", file=sys.stderr)
        return 2
    source = argv[0]
    name = argv[1] if len(argv) == 2 else source
    try:
        if source == "-":
            text = sys.stdin.read()
        else:
            with open(source, encoding="utf-8") as handle:
                text = handle.read()
        print(pins_from_text(text, name))
    except (OSError, GateError, tomllib.TOMLDecodeError) as exc:
        print(f"pinfile: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
