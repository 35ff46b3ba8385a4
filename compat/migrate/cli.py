"""``python -m compat migrate [PATH...]``: lint (and ``--fix``) deprecated cache usage.

Exit codes (ruff's convention, plus one for unreadable files):
0 no findings remain; 1 findings remain (with ``--diff``: a rewrite would be made);
2 a file could not be read or parsed, or the command line was wrong. Every
other file is still checked when one fails.

>>> main(["--list-rules"])  # doctest: +ELLIPSIS
PCC001  from-legacy-cache  [*]  DynamicCache.from_legacy_cache(x) ...
...
0
"""

from __future__ import annotations

import argparse
import ast
import concurrent.futures
import dataclasses
import importlib.util
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from compat.migrate import INSTALL_HINT
from compat.migrate.engine import Finding, ParseFailure, Result, check_source, parse
from compat.migrate.prefilter import may_match
from compat.migrate.project import ModuleFacts, ProjectIndex, collect
from compat.migrate.reporter import FileError, render_diff, render_json, render_statistics, render_text
from compat.migrate.rules import RULES, UnknownRuleError, select_rules
from compat.migrate.sources import SourceFile, read_source, write_source

__all__ = ["EXCLUDED_DIRS", "iter_python_files", "main"]

# Directories never walked into (ruff's defaults, abridged); files named explicitly are always checked.
EXCLUDED_DIRS = frozenset(
    {"__pycache__", "node_modules", "site-packages", "venv", "build", "dist", "__pypackages__"}
)


def iter_python_files(paths: Sequence[str]) -> Iterator[tuple[str, str | None]]:
    """``(path, None)`` for each file to check, ``(path, reason)`` for a path that does not exist."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in EXCLUDED_DIRS)
                for name in sorted(files):
                    if name.endswith(".py"):
                        yield os.path.join(root, name), None
        elif path.is_file():
            yield str(path), None
        else:
            yield str(path), "no such file or directory"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m compat migrate",
        description="Find (and with --fix rewrite) transformers KV-cache usage that breaks across versions.",
    )
    parser.add_argument("paths", nargs="*", default=["."], help="files or directories (walked for *.py); default: .")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--fix", action="store_true", help="apply the safe rewrites and leave TODO(compat) comments")
    mode.add_argument("--diff", action="store_true", help="print the --fix rewrites as a unified diff; write nothing")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    parser.add_argument("--select", action="append", default=[], metavar="IDS",
                        help="comma-separated rule ids or prefixes to enable (default: all)")
    parser.add_argument("--ignore", action="append", default=[], metavar="IDS",
                        help="comma-separated rule ids or prefixes to disable")
    parser.add_argument("--statistics", action="store_true", help="print the count of findings per rule")
    parser.add_argument("--list-rules", action="store_true", help="print the rule table and exit")
    parser.add_argument("--jobs", "-j", type=int, default=0, metavar="N",
                        help="files checked in parallel (default: the CPU count; 1: no worker processes)")
    return parser


def _split(values: Sequence[str]) -> list[str]:
    return [part for value in values for part in value.split(",") if part.strip()]


def _list_rules() -> int:
    for rule in RULES.values():
        print(f"{rule.id}  {rule.name}  {'[*]' if rule.fix else '   '}  {rule.pattern}")
    return 0


# Below this many files to scan or analyse, worker processes cost more than they save.
_PARALLEL_MIN_FILES = 8


@dataclasses.dataclass
class _WorkerState:
    """What a worker process of the parallel check holds; the pool's initializer sets it once."""

    index: ProjectIndex | None = None


_WORKER = _WorkerState()


@dataclasses.dataclass(frozen=True)
class _Job:
    source: SourceFile
    rules: tuple[str, ...]
    fix: bool


@dataclasses.dataclass(frozen=True)
class _Scan:
    """Step 1 for one file: its syntax checked, its facts for the tree index, whether any rule's
    word occurs in it (else step 2 skips it), or the one-line reason it could not be parsed."""

    facts: ModuleFacts | None
    candidate: bool
    error: str | None = None
    tree: ast.Module | None = None  # kept for step 2 when both run in this process


def _init_worker(index: ProjectIndex) -> None:
    _WORKER.index = index


def _scan(source: SourceFile, keep_tree: bool = False) -> _Scan:
    try:
        tree = parse(source.text)
    except ParseFailure as exc:
        return _Scan(None, False, str(exc))
    candidate = may_match(source.text)
    facts = collect(source.module, tree, source.is_package, deep=candidate)
    return _Scan(facts, candidate, tree=tree if keep_tree and candidate else None)


def _check(job: _Job, index: ProjectIndex | None = None, tree: ast.Module | None = None) -> Result | str:
    """One file's result, or the one-line reason it could not be checked."""
    try:
        return check_source(job.source.text, job.source.path, rules=job.rules, fix=job.fix,
                            index=index if index is not None else _WORKER.index, module=job.source.module,
                            tree=tree)
    except ParseFailure as exc:
        return str(exc)
    except RecursionError:
        return "cannot parse: RecursionError: nested too deeply"


def _read_all(paths: Sequence[str], errors: list[FileError]) -> list[SourceFile]:
    files = []
    for path, missing in iter_python_files(paths):
        if missing:
            errors.append(FileError(path, missing))
            continue
        try:
            files.append(read_source(path))
        except (OSError, UnicodeDecodeError, SyntaxError, LookupError) as exc:
            errors.append(FileError(path, f"cannot read: {exc}"))
    return files


def _pool(workers: int, index: ProjectIndex | None = None) -> concurrent.futures.ProcessPoolExecutor:
    if index is None:
        return concurrent.futures.ProcessPoolExecutor(workers)
    return concurrent.futures.ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(index,))


def _chunks(count: int, workers: int) -> int:
    return max(1, count // (workers * 4))


def _run(files: list[SourceFile], rules: tuple[str, ...], fix: bool, workers: int) -> list[Result | str]:
    """Step 1 (every file: parse, index facts, prefilter), then step 2 (the files some rule's
    word occurs in: the rules), each in ``workers`` processes when there are enough files."""
    if workers > 1 and len(files) >= _PARALLEL_MIN_FILES:
        with _pool(workers) as pool:
            scans = list(pool.map(_scan, files, chunksize=_chunks(len(files), workers)))
    else:
        scans = [_scan(f, keep_tree=True) for f in files]
    index = ProjectIndex.from_facts(s.facts for s in scans if s.facts is not None)
    words = index.cache_class_names()
    todo = [i for i, (f, s) in enumerate(zip(files, scans))
            if s.error is None and (s.candidate or (words and may_match(f.text, words)))]
    jobs = [_Job(files[i], rules, fix) for i in todo]
    if workers > 1 and len(jobs) >= _PARALLEL_MIN_FILES:
        with _pool(workers, index) as pool:
            checked = list(pool.map(_check, jobs, chunksize=_chunks(len(jobs), workers)))
    else:
        checked = [_check(job, index, scans[i].tree) for i, job in zip(todo, jobs)]
    results: list[Result | str] = [
        s.error if s.error is not None else Result(f.path, [], f.text, f.text) for f, s in zip(files, scans)]
    for i, result in zip(todo, checked):
        results[i] = result
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (see the module docstring)."""
    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.list_rules:
        return _list_rules()
    try:
        enabled = select_rules(_split(args.select) or None, _split(args.ignore))
    except UnknownRuleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if (args.fix or args.diff) and importlib.util.find_spec("libcst") is None:
        # --fix re-renders an import line that loses some of its names with libcst
        print(f"error: --fix and --diff need libcst, which is not installed; install the migrate extra: "
              f"{INSTALL_HINT}", file=sys.stderr)
        return 2
    if args.jobs < 0:
        print(f"error: --jobs must be 0 (the CPU count) or more, got {args.jobs}", file=sys.stderr)
        return 2
    findings: list[Finding] = []
    errors: list[FileError] = []
    fixed = 0
    changed_files = 0
    diffs: dict[str, str] = {}
    files = _read_all(args.paths, errors)
    results = _run(files, tuple(enabled), args.fix or args.diff, args.jobs or os.cpu_count() or 1)
    for source, result in zip(files, results):
        if isinstance(result, str):
            errors.append(FileError(source.path, result))
            continue
        path = source.path
        if args.diff:  # previewed, not applied
            findings.extend(dataclasses.replace(f, fixed=False) for f in result.findings)
        else:
            findings.extend(result.findings)
        if args.diff:
            diff = render_diff(path, result.source, result.fixed_source)
            if diff:
                changed_files += 1
                diffs[path] = diff
                if args.format == "text":
                    sys.stdout.write(diff)
        elif args.fix:
            fixed += sum(f.fixed for f in result.findings)
            if result.changed:
                changed_files += 1
                write_source(source, result.fixed_source)
    for error in errors:
        print(error.text(), file=sys.stderr)
    if args.diff:
        if args.format == "json":
            print(render_json(findings, errors, 0, diffs=diffs))
        else:
            print(f"Would rewrite {changed_files} file{'s' * (changed_files != 1)}.", file=sys.stderr)
        return 2 if errors else (1 if changed_files else 0)
    if args.format == "json":
        print(render_json(findings, errors, fixed))
    elif args.statistics:
        if findings:
            print(render_statistics([f for f in findings if not f.fixed] or findings))
    else:
        print(render_text(findings, errors, fixed))
    if errors:
        return 2
    return 1 if any(not f.fixed for f in findings) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
