"""Load and validate a matrix file (``matrices/*.toml``) into a list of :class:`Cell`.

A matrix file has optional top-level ``description``, ``torch`` (an exact,
local-labelled pin such as ``"torch==2.13.0+cpu"``) and ``suite`` (test paths
a cell runs), then any mix of:

* ``[axes]`` with ``transformers = [...]`` and ``peft = [...]`` (the product),
  plus optional ``tags`` / ``extra_pins`` applied to every axis cell;
* ``[[cells]]`` with ``transformers``, ``peft`` and optional ``name``,
  ``tags``, ``extra_pins``, ``expect`` + ``reason``, ``tests``;
* ``[[exclude]]`` with ``transformers`` and/or ``peft`` (exact versions or
  specifier sets such as ``">=5"``) and a mandatory ``reason``;
* ``[[known]]`` upstream issues and ``known_issues = ["FILE.toml"]`` catalogues
  of them (see :mod:`compat.matrix.known`), applied to every cell in their range.

Every error names the file and the key:

>>> load_matrix_text('[axes]\\ntransformers = ["4.46.3"]\\npeft = []', "m.toml")
Traceback (most recent call last):
...
compat.matrix.config.MatrixError: m.toml: axes.peft: empty axis (expected at least one version)
>>> [c.name for c in load_matrix_text('[[cells]]\\ntransformers = "4.46.3"\\npeft = "0.14.0"', "m.toml").cells]
['t4.46.3-p0.14.0']
"""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import json
import re
import sys
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from compat.matrix.known import KnownIssue, KnownIssueError, load_catalogue, parse_known

if sys.version_info >= (3, 11):  # pragma: no cover - version-gated backport
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["DEFAULT_SUITE", "EXPECTABLE", "SUITES", "Cell", "KnownIssue", "Matrix", "MatrixError", "load_matrix",
           "load_matrix_text"]

#: What a cell runs (the gate runs the same); a matrix file may override it with ``suite``.
DEFAULT_SUITE = ("tests/shim", "tests/property", "tests/equivalence")

#: Named suites a matrix file or one cell may ask for (``suite = "census"``) instead of test paths:
#: ``census`` is the architecture census's CI sample (tests/census, docs/census.md), judged against
#: matrices/census-known.toml by the tests themselves.
SUITES: dict[str, tuple[str, ...]] = {"default": DEFAULT_SUITE, "census": ("tests/census",)}

#: Outcomes a cell may declare with ``expect`` (always with a ``reason``).
EXPECTABLE = ("fail", "error:install", "error:import", "not-applicable")

_TOP_KEYS = {"description", "torch", "suite", "axes", "cells", "exclude", "known", "known_issues"}
_AXES_KEYS = {"transformers", "peft", "tags", "extra_pins"}
_CELL_KEYS = {"name", "transformers", "peft", "tags", "extra_pins", "expect", "reason", "tests", "suite"}
_EXCLUDE_KEYS = {"transformers", "peft", "reason"}
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


class MatrixError(ValueError):
    """A matrix file is malformed; the message names the file and the key."""


@dataclasses.dataclass(frozen=True)
class Cell:
    """One (transformers, peft) environment and what is expected of it."""

    name: str
    transformers: str
    peft: str
    extra_pins: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    expect: str | None = None
    reason: str = ""
    tests: tuple[str, ...] = ()  # glob patterns of the test ids a declared "fail" covers
    known: tuple[KnownIssue, ...] = ()  # the matrix's known upstream issues whose range holds this cell
    suite: tuple[str, ...] = ()  # the test paths this cell runs instead of the matrix's (empty: the matrix's)

    @property
    def requirements(self) -> list[str]:
        """The pins installed for this cell (torch comes from the toolchain)."""
        return [f"transformers=={self.transformers}", f"peft=={self.peft}"]

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    def fingerprint(self) -> str:
        """Changes whenever anything about the cell changes, declarations included."""
        return hashlib.sha256(json.dumps(self.to_json(), sort_keys=True).encode()).hexdigest()[:16]

    def run_fingerprint(self) -> str:
        """Changes whenever what the cell *runs* changes (name, versions, pins), not its declarations:
        ``--resume`` keeps a finished run and judges it again against the current declarations."""
        what = [self.name, self.transformers, self.peft, sorted(self.extra_pins)]
        if self.suite:  # (absent when unset, so results from before cells had a suite keep their fingerprint)
            what.append(list(self.suite))
        return hashlib.sha256(json.dumps(what).encode()).hexdigest()[:16]

    def matches(self, pattern: str) -> bool:
        """``pattern`` is a glob on the name, or ``tag:GLOB`` on the tags; ``,`` separates alternatives.

        >>> Cell("t4.46.3-p0.14.0", "4.46.3", "0.14.0", tags=("smoke",)).matches("tag:smoke,t5*")
        True
        """
        for alt in filter(None, (p.strip() for p in pattern.split(","))):
            if alt.startswith("tag:"):
                if any(fnmatch.fnmatchcase(t, alt[4:]) for t in self.tags):
                    return True
            elif fnmatch.fnmatchcase(self.name, alt):
                return True
        return False


@dataclasses.dataclass(frozen=True)
class Matrix:
    """A validated matrix: where it came from, its torch pin, its suite and its cells."""

    path: str
    description: str
    torch: str | None
    suite: tuple[str, ...]
    cells: tuple[Cell, ...]

    def suite_for(self, cell: Cell) -> tuple[str, ...]:
        """The test paths ``cell`` runs: its own suite, else the matrix's."""
        return cell.suite or self.suite

    def all_suites(self) -> tuple[str, ...]:
        """Every test path some cell runs (what a cell's result may depend on)."""
        return tuple(dict.fromkeys([*self.suite, *(p for c in self.cells for p in c.suite)]))

    def select(self, pattern: str | None) -> list[Cell]:
        """The cells matching ``pattern`` (all when None); an unmatched pattern is an error."""
        if not pattern:
            return list(self.cells)
        chosen = [c for c in self.cells if c.matches(pattern)]
        if not chosen:
            raise MatrixError(
                f"{self.path}: --cells {pattern!r} matches no cell "
                f"(names look like {self.cells[0].name!r}; use tag:NAME for tags)"
            )
        return chosen


def _fail(where: str, key: str, msg: str) -> MatrixError:
    return MatrixError(f"{where}: {key}: {msg}")


def _check_keys(where: str, prefix: str, table: dict, allowed: set[str]) -> None:
    for key in table:
        if key not in allowed:
            raise _fail(where, f"{prefix}{key}", f"unknown key (expected one of: {', '.join(sorted(allowed))})")


def _version(where: str, key: str, value) -> str:
    if not isinstance(value, str):
        raise _fail(where, key, f"expected a version string like '4.46.3', got {value!r}")
    try:
        parsed = Version(value)
    except InvalidVersion:
        raise _fail(where, key, f"malformed version {value!r} (expected an exact release like '4.46.3')") from None
    if str(parsed) != value.strip():
        raise _fail(where, key, f"version {value!r} is not in canonical form (use {str(parsed)!r})")
    return value.strip()


def _strings(where: str, key: str, value) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise _fail(where, key, f"expected a list of non-empty strings, got {value!r}")
    return tuple(v.strip() for v in value)


def _suite(where: str, key: str, value) -> tuple[str, ...]:
    """A named suite (:data:`SUITES`) or a non-empty list of test paths."""
    if isinstance(value, str):
        if value.strip() not in SUITES:
            raise _fail(where, key, f"unknown suite {value!r} (expected one of: {', '.join(SUITES)}, "
                                    "or a list of test paths)")
        return SUITES[value.strip()]
    paths = _strings(where, key, value)
    if not paths:
        raise _fail(where, key, "empty suite (expected test paths or a suite name)")
    return paths


def _pins(where: str, key: str, value) -> tuple[str, ...]:
    pins = _strings(where, key, value)
    for i, pin in enumerate(pins):
        try:
            req = Requirement(pin)
        except InvalidRequirement as exc:
            raise _fail(where, f"{key}[{i}]", f"malformed requirement {pin!r}: {exc}") from None
        if req.name.lower() in {"torch", "transformers", "peft"}:
            raise _fail(where, f"{key}[{i}]", f"{req.name} is set by the cell/torch keys, not extra_pins")
    return pins


def _specifier(where: str, key: str, value) -> SpecifierSet:
    if not isinstance(value, str) or not value.strip():
        raise _fail(where, key, f"expected a version or specifier like '4.46.3' or '>=5', got {value!r}")
    text = value.strip()
    if text[0].isdigit():
        _version(where, key, text)
        text = f"=={text}"
    try:
        return SpecifierSet(text)
    except InvalidSpecifier:
        raise _fail(where, key, f"malformed version specifier {value!r}") from None


def _default_name(transformers: str, peft: str) -> str:
    return f"t{transformers}-p{peft}"


def _parse_cell(where: str, idx: int, raw) -> Cell:
    key = f"cells[{idx}]"
    if not isinstance(raw, dict):
        raise _fail(where, key, "expected a table")
    _check_keys(where, f"{key}.", raw, _CELL_KEYS)
    for required in ("transformers", "peft"):
        if required not in raw:
            raise _fail(where, f"{key}.{required}", "missing (every cell names a transformers and a peft version)")
    tf = _version(where, f"{key}.transformers", raw["transformers"])
    pf = _version(where, f"{key}.peft", raw["peft"])
    name = raw.get("name", _default_name(tf, pf))
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise _fail(where, f"{key}.name", f"invalid cell name {name!r} (letters, digits, '.', '_', '+', '-')")
    expect = raw.get("expect")
    reason = raw.get("reason", "")
    if expect is not None:
        if expect not in EXPECTABLE:
            raise _fail(where, f"{key}.expect",
                        f"unknown outcome {expect!r} (expected one of: {', '.join(EXPECTABLE)})")
        if not isinstance(reason, str) or not reason.strip():
            raise _fail(where, f"{key}.reason",
                        f"expect = {expect!r} needs a reason (e.g. a link to the upstream issue)")
    elif "reason" in raw:
        raise _fail(where, f"{key}.reason", "a reason without expect (declare the expected outcome)")
    tests = _strings(where, f"{key}.tests", raw.get("tests", []))
    if tests and expect != "fail":
        raise _fail(where, f"{key}.tests", "only a declared expect = 'fail' can name the tests it covers")
    return Cell(
        name=name,
        transformers=tf,
        peft=pf,
        extra_pins=_pins(where, f"{key}.extra_pins", raw.get("extra_pins", [])),
        tags=_strings(where, f"{key}.tags", raw.get("tags", [])),
        expect=expect,
        reason=reason.strip() if isinstance(reason, str) else "",
        tests=tests,
        suite=_suite(where, f"{key}.suite", raw["suite"]) if "suite" in raw else (),
    )


def load_matrix_text(text: str, where: str = "<matrix>", *, base: Path | None = None) -> Matrix:
    """Parse and validate matrix TOML ``text``; ``where`` names it in errors, ``known_issues``
    paths are relative to ``base``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MatrixError(f"{where}: not valid TOML: {exc}") from None
    _check_keys(where, "", data, _TOP_KEYS)
    description = data.get("description", "")
    torch = data.get("torch")
    if torch is not None:
        if not isinstance(torch, str) or not re.match(r"^torch==\d[^+\s]*\+\w+$", torch.strip()):
            raise _fail(where, "torch", f"expected an exact local-labelled pin like 'torch==2.13.0+cpu', got {torch!r}")
        torch = torch.strip()
    suite = _suite(where, "suite", data["suite"]) if "suite" in data else DEFAULT_SUITE

    cells: list[Cell] = []
    axes = data.get("axes")
    if axes is not None:
        if not isinstance(axes, dict):
            raise _fail(where, "axes", "expected a table")
        _check_keys(where, "axes.", axes, _AXES_KEYS)
        values = {}
        for axis in ("transformers", "peft"):
            if axis not in axes:
                raise _fail(where, f"axes.{axis}", "missing (axes need both transformers and peft)")
            if not isinstance(axes[axis], list):
                raise _fail(where, f"axes.{axis}", f"expected a list of versions, got {axes[axis]!r}")
            if not axes[axis]:
                raise _fail(where, f"axes.{axis}", "empty axis (expected at least one version)")
            values[axis] = [_version(where, f"axes.{axis}[{i}]", v) for i, v in enumerate(axes[axis])]
        tags = _strings(where, "axes.tags", axes.get("tags", []))
        pins = _pins(where, "axes.extra_pins", axes.get("extra_pins", []))
        cells += [
            Cell(_default_name(tf, pf), tf, pf, extra_pins=pins, tags=tags)
            for tf in values["transformers"]
            for pf in values["peft"]
        ]
    raw_cells = data.get("cells", [])
    if not isinstance(raw_cells, list):
        raise _fail(where, "cells", "expected an array of tables ([[cells]])")
    cells += [_parse_cell(where, i, raw) for i, raw in enumerate(raw_cells)]
    if not cells:
        raise MatrixError(f"{where}: no cells (expected [axes] and/or [[cells]])")

    seen_names: dict[str, int] = {}
    seen_specs: dict[tuple, str] = {}
    for i, cell in enumerate(cells):
        if cell.name in seen_names:
            raise _fail(where, f"cells: {cell.name}", "duplicate cell name")
        seen_names[cell.name] = i
        spec = (cell.transformers, cell.peft, tuple(sorted(cell.extra_pins)))
        if spec in seen_specs:
            raise _fail(where, f"cells: {cell.name}",
                        f"duplicate cell (same versions and pins as {seen_specs[spec]!r})")
        seen_specs[spec] = cell.name

    raw_excludes = data.get("exclude", [])
    if not isinstance(raw_excludes, list):
        raise _fail(where, "exclude", "expected an array of tables ([[exclude]])")
    for i, raw in enumerate(raw_excludes):
        key = f"exclude[{i}]"
        if not isinstance(raw, dict):
            raise _fail(where, key, "expected a table")
        _check_keys(where, f"{key}.", raw, _EXCLUDE_KEYS)
        if not isinstance(raw.get("reason"), str) or not raw["reason"].strip():
            raise _fail(where, f"{key}.reason", "every exclusion needs a reason")
        specs = {k: _specifier(where, f"{key}.{k}", raw[k]) for k in ("transformers", "peft") if k in raw}
        if not specs:
            raise _fail(where, key, "an exclusion must name transformers and/or peft")
        kept = [c for c in cells if not all(getattr(c, k) in s for k, s in specs.items())]
        if len(kept) == len(cells):
            shown = ", ".join(f"{k} {raw[k]!r}" for k in specs)
            raise _fail(where, key, f"exclusion ({shown}) matches no cell")
        cells = kept
    cells = _attach_known(where, data, cells, base)
    return Matrix(path=where, description=str(description), torch=torch, suite=suite, cells=tuple(cells))


def _attach_known(where: str, data: dict, cells: list[Cell], base: Path | None) -> list[Cell]:
    """Give every cell the known issues whose range holds it (inline ones must match a cell)."""
    try:
        inline_raw = data.get("known", [])
        if not isinstance(inline_raw, list):
            raise _fail(where, "known", "expected an array of tables ([[known]])")
        inline = [parse_known(where, f"known[{i}]", raw) for i, raw in enumerate(inline_raw)]
        issues = list(inline)
        for i, name in enumerate(_strings(where, "known_issues", data.get("known_issues", []))):
            if base is None:
                raise _fail(where, f"known_issues[{i}]", "catalogue files need a matrix read from a file")
            try:
                issues += load_catalogue(base / name, named_in=where)
            except UnicodeDecodeError as exc:
                raise _fail(where, f"known_issues[{i}]", f"{base / name}: {_not_utf8(exc)}") from None
    except KnownIssueError as exc:
        raise MatrixError(str(exc)) from None
    seen: dict[str, str] = {}
    for issue in issues:
        if issue.id in seen:
            raise _fail(where, f"known: {issue.id}", f"duplicate known-issue id (also in {seen[issue.id]})")
        seen[issue.id] = issue.source
    for i, issue in enumerate(inline):
        if not any(issue.applies(c.transformers, c.peft) for c in cells):
            raise _fail(where, f"known[{i}]", f"known issue {issue.id!r} matches no cell of this matrix")
    return [
        dataclasses.replace(c, known=tuple(k for k in issues if k.applies(c.transformers, c.peft)))
        for c in cells
    ]


def load_matrix(path: str | Path) -> Matrix:
    """Read and validate the matrix file at ``path`` (catalogues are found next to it)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MatrixError(f"{path}: cannot read matrix file: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise MatrixError(f"{path}: {_not_utf8(exc)}") from None
    return load_matrix_text(text, str(path), base=path.parent)


def _not_utf8(exc: UnicodeDecodeError) -> str:
    """One line for a TOML file that is not UTF-8 (TOML files are UTF-8 by definition).

    >>> try:
    ...     b"a = 1\\n\\xff".decode("utf-8")
    ... except UnicodeDecodeError as exc:
    ...     print(_not_utf8(exc))
    not UTF-8 text (byte 0xff at offset 6); expected a UTF-8 TOML file
    """
    return f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); expected a UTF-8 TOML file"
