"""Known upstream issues: declared once with version ranges, applied to every cell they match.

A matrix file lists them inline (``[[known]]`` tables) or names catalogue files
(``known_issues = ["known-issues.toml"]``, paths relative to the matrix file).
Each issue has an ``id``, a ``reason`` (the evidence: upstream issue, the
mechanism), ``tests`` (globs on test ids: the failures it explains) and
``transformers`` and/or ``peft`` specifier sets saying where it applies. An
optional ``match`` (a regular expression) is the mechanism's signature: a
failing test is then covered only when the pattern is found in its failure
message or in what the test recorded (the suites record the warnings a test
raised and its exception's notes as the JUnit properties ``warnings`` and
``notes``), so an unrelated failure of the same test in the same cell stays a
failure.

In a cell it applies to, the failing tests its globs cover are expected. An
issue none of whose tests fail there did not reproduce: the cell is ``xpass``
(upstream fixed it, or the range is too wide), so the catalogue cannot go stale
silently.

>>> issue = parse_known("m.toml", "known[0]", {"id": "peft-2452", "peft": "<0.16",
...     "tests": ["*[gemma2-*"], "reason": "4-D mask, huggingface/peft#2452"})
>>> issue.applies("4.48.0", "0.15.2"), issue.applies("4.48.0", "0.16.0")
(True, False)
>>> sig = parse_known("m.toml", "known[2]", {"id": "y", "peft": "<1", "tests": ["*"], "reason": "r",
...     "match": "Both `past_key_values` and `cache` are set"})
>>> sig.covers("t.py::test[llama-prefix-greedy]", "tokens differ",
...            "FutureWarning: Both `past_key_values` and `cache` are set")
True
>>> sig.covers("t.py::test[llama-prefix-greedy]", "IndexError: list index out of range")
False
>>> parse_known("m.toml", "known[1]", {"id": "x", "tests": ["*"], "reason": "r"})
Traceback (most recent call last):
...
compat.matrix.known.KnownIssueError: m.toml: known[1]: name transformers and/or peft (a version specifier like '<0.16')
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
import sys
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

if sys.version_info >= (3, 11):  # pragma: no cover - version-gated backport
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["KNOWN_KEYS", "KnownIssue", "KnownIssueError", "glob_match", "load_catalogue", "parse_known"]

KNOWN_KEYS = frozenset({"id", "transformers", "peft", "tests", "reason", "match"})
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class KnownIssueError(ValueError):
    """A known-issue declaration is malformed; the message names the file and the key."""


@dataclasses.dataclass(frozen=True)
class KnownIssue:
    """One upstream issue: where it applies and which failing tests it explains."""

    id: str
    reason: str
    tests: tuple[str, ...]
    transformers: str = ""  # specifier set; "" = every version
    peft: str = ""
    source: str = ""  # the file that declared it
    match: str = ""  # the mechanism's signature: a regex over the failure message and warnings; "" = any

    def applies(self, transformers: str, peft: str) -> bool:
        """Whether a cell with these exact versions is in the issue's range."""
        return all(
            not spec or Version(version) in SpecifierSet(spec, prereleases=True)
            for spec, version in ((self.transformers, transformers), (self.peft, peft))
        )

    def covers(self, nodeid: str, message: str = "", context: str = "") -> bool:
        """Whether this issue explains a failure of ``nodeid`` with that message, given what else the
        test recorded (``context``: its warnings and exception notes)."""
        if not any(glob_match(nodeid, pattern) for pattern in self.tests):
            return False
        return not self.match or re.search(self.match, f"{message}\n{context}") is not None

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def glob_match(nodeid: str, pattern: str) -> bool:
    """``fnmatch`` with ``*`` and ``?`` only: brackets are literal, as in pytest ids.

    >>> glob_match("t.py::test_gen[t5-prefix_proj-greedy]", "*[t5-prefix*")
    True
    """
    return fnmatch.fnmatchcase(nodeid, pattern.replace("[", "[[]"))


def _err(where: str, key: str, msg: str) -> KnownIssueError:
    return KnownIssueError(f"{where}: {key}: {msg}")


def _spec(where: str, key: str, value) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _err(where, key, f"expected a version specifier like '<0.16' or '>=4.46,<4.54', got {value!r}")
    try:
        SpecifierSet(value.strip())
    except InvalidSpecifier:
        raise _err(where, key, f"malformed version specifier {value!r} (expected e.g. '>=4.46,<4.54')") from None
    return value.strip()


def parse_known(where: str, key: str, raw, *, source: str = "") -> KnownIssue:
    """Validate one ``[[known]]`` table; every error names ``where`` and ``key``."""
    if not isinstance(raw, dict):
        raise _err(where, key, "expected a table")
    for k in raw:
        if k not in KNOWN_KEYS:
            raise _err(where, f"{key}.{k}", f"unknown key (expected one of: {', '.join(sorted(KNOWN_KEYS))})")
    ident = raw.get("id")
    if not isinstance(ident, str) or not _ID_RE.match(ident):
        raise _err(where, f"{key}.id",
                   f"expected an id like 'peft-2452' (letters, digits, '.', '_', '-'), got {ident!r}")
    reason = raw.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise _err(where, f"{key}.reason", "every known issue needs a reason (the evidence, e.g. a link upstream)")
    tests = raw.get("tests")
    if not isinstance(tests, list) or not tests or not all(isinstance(t, str) and t.strip() for t in tests):
        raise _err(where, f"{key}.tests",
                   f"expected a non-empty list of test-id globs like '*[gemma2-*', got {tests!r}")
    ranges = {k: _spec(where, f"{key}.{k}", raw[k]) for k in ("transformers", "peft") if k in raw}
    if not ranges:
        raise _err(where, key, "name transformers and/or peft (a version specifier like '<0.16')")
    return KnownIssue(id=ident, reason=" ".join(reason.split()), tests=tuple(t.strip() for t in tests),
                      source=source or where, match=_pattern(where, f"{key}.match", raw.get("match", "")), **ranges)


def _pattern(where: str, key: str, value) -> str:
    if not isinstance(value, str):
        raise _err(where, key, f"expected a regular expression (the mechanism's signature), got {value!r}")
    try:
        re.compile(value)
    except re.error as exc:
        raise _err(where, key, f"not a valid regular expression ({exc}): {value!r}") from None
    return value


def load_catalogue(path: str | Path, *, named_in: str = "") -> tuple[KnownIssue, ...]:
    """The ``[[known]]`` issues of a catalogue file (a TOML file holding only ``known`` tables)."""
    path = Path(path)
    where = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise KnownIssueError(f"{named_in or where}: known_issues: cannot read {where}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise KnownIssueError(f"{where}: not valid TOML: {exc}") from None
    extra = set(data) - {"known", "description"}
    if extra:
        raise _err(where, sorted(extra)[0], "unknown key (a catalogue holds only description and [[known]])")
    raw = data.get("known", [])
    if not isinstance(raw, list):
        raise _err(where, "known", "expected an array of tables ([[known]])")
    return tuple(parse_known(where, f"known[{i}]", item, source=path.name) for i, item in enumerate(raw))
