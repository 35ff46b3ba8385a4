"""Why each surviving mutant survives: the classification files of ``nox -s mutation``.

A mutant that no version's tests kill is either a gap (a test could kill it) or one of two
kinds no test can: **equivalent** (no input the shim can get tells it apart from the shim) or
**unreachable** (only a transformers/torch version, device or backend the run does not have takes
that line). Each shim module's survivors are classified, with a one-line reason, in
``benchmarks/mutation-survivors/<module>.toml``::

    [[survivor]]
    mutants = ["compat.expect.x__first__mutmut_7"]
    kind = "equivalent"        # or "unreachable"
    why = "the source string returned with a value not found is never shown"

:func:`classify` matches the files against a run's survivors: a survivor without an entry is
**unclassified** (a gap until someone shows otherwise) and an entry whose mutant was killed, or no
longer exists (mutant names are per function and change with its source), is **stale**. Both are
printed, never dropped.
"""

from __future__ import annotations

import dataclasses
import enum
import sys
from collections.abc import Iterable
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: Where the classification files live (one per shim module).
FOLDER = Path(__file__).resolve().parent / "mutation-survivors"


class Kind(enum.Enum):
    EQUIVALENT = "equivalent"
    UNREACHABLE = "unreachable"


@dataclasses.dataclass(frozen=True)
class Reason:
    kind: Kind
    why: str
    source: str  # the file that gives it, for messages


@dataclasses.dataclass(frozen=True)
class Classification:
    reasons: dict[str, Reason]  # surviving mutant -> its reason
    unclassified: tuple[str, ...]  # surviving mutants without a reason
    stale: tuple[str, ...]  # classified mutants that did not survive (killed, or renamed)

    def count(self, kind: Kind) -> int:
        return sum(r.kind is kind for r in self.reasons.values())


class ReasonsError(SystemExit):
    """A classification file that cannot be read or does not fit the format (one line, names the file)."""


def _entries(path: Path) -> list[dict]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ReasonsError(f"mutation: cannot read {path}: {exc}") from None
    entries = data.get("survivor", [])
    if not isinstance(entries, list):
        raise ReasonsError(f"mutation: {path}: expected [[survivor]] tables")
    return entries


def _reason(path: Path, i: int, entry: dict) -> tuple[list[str], Reason]:
    where = f"{path.name} entry {i + 1}"
    mutants, kind, why = entry.get("mutants"), entry.get("kind"), entry.get("why")
    if not isinstance(mutants, list) or not mutants or not all(isinstance(m, str) and m for m in mutants):
        raise ReasonsError(f"mutation: {where}: expected `mutants` = a non-empty list of mutant names")
    if kind not in {k.value for k in Kind}:
        raise ReasonsError(f"mutation: {where}: kind {kind!r}; expected one of {[k.value for k in Kind]}")
    if not isinstance(why, str) or not why.strip():
        raise ReasonsError(f"mutation: {where}: expected a non-empty `why`")
    return mutants, Reason(Kind(kind), why.strip(), path.name)


def load(folder: Path = FOLDER) -> dict[str, Reason]:
    """Mutant name -> reason, from every ``*.toml`` in ``folder``; a mutant given twice is an error."""
    out: dict[str, Reason] = {}
    for path in sorted(folder.glob("*.toml")):
        for i, entry in enumerate(_entries(path)):
            mutants, reason = _reason(path, i, entry)
            for name in mutants:
                if name in out:
                    raise ReasonsError(f"mutation: {name} is classified twice ({out[name].source}, {path.name})")
                out[name] = reason
    return out


def classify(survivors: Iterable[str], reasons: dict[str, Reason]) -> Classification:
    alive = sorted(survivors)
    return Classification(
        reasons={n: reasons[n] for n in alive if n in reasons},
        unclassified=tuple(n for n in alive if n not in reasons),
        stale=tuple(sorted(set(reasons) - set(alive))),
    )


def _function(name: str) -> str:
    """``compat.expect.x__get__mutmut_3`` -> ``expect._get``."""
    module, _, rest = name.removeprefix("compat.").partition(".x_")
    return f"{module}.{rest.rpartition('__mutmut_')[0]}"


def _number(name: str) -> int:
    return int(name.rpartition("__mutmut_")[2])


def render(classification: Classification) -> list[str]:
    """Markdown: one row per (function, kind, reason) with the mutants' numbers, then what is unclassified or stale."""
    rows: dict[tuple[str, str, str], list[int]] = {}
    for name, reason in classification.reasons.items():
        rows.setdefault((_function(name), reason.kind.value, reason.why), []).append(_number(name))
    lines = ["| function (`compat.<module>.<function>`) | kind | mutants (`__mutmut_N`) | why |",
             "| --- | --- | --- | --- |"]
    for (function, kind, why), numbers in sorted(rows.items()):
        lines.append(f"| `{function}` | {kind} | {', '.join(map(str, sorted(numbers)))} | {why} |")
    lines += ["", f"**Unclassified survivors ({len(classification.unclassified)})**: "
              + (", ".join(f"`{n}`" for n in classification.unclassified) or "none")]
    lines += ["", f"**Stale entries ({len(classification.stale)})** (classified, but killed or no longer made): "
              + (", ".join(f"`{n}`" for n in classification.stale) or "none")]
    return lines
