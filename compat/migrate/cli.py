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
import concurrent.futures
import dataclasses
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from compat.migrate.engine import Finding, ParseFailure, Result, check_source
from compat.migrate.project import ProjectIndex
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


# Below this many files to analyse, worker processes cost more than they save.
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


def _init_worker(index: ProjectIndex) -> None:
    _WORKER.index = index


def _check(job: _Job, index: ProjectIndex | None = None) -> Result | str:
    """One file's result, or the one-line reason it could not be checked."""
    try:
        return check_source(job.source.text, job.source.path, rules=job.rules, fix=job.fix,
                            index=index if index is not None else _WORKER.index, module=job.source.module)
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


def _run(jobs: list[_Job], index: ProjectIndex, workers: int) -> list[Result | str]:
    if workers == 1 or len(jobs) < _PARALLEL_MIN_FILES:
        return [_check(job, index) for job in jobs]
    with concurrent.futures.ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(index,)) as pool:
        return list(pool.map(_check, jobs, chunksize=max(1, len(jobs) // (workers * 4))))


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
    if args.jobs < 0:
        print(f"error: --jobs must be 0 (the CPU count) or more, got {args.jobs}", file=sys.stderr)
        return 2
    findings: list[Finding] = []
    errors: list[FileError] = []
    fixed = 0
    changed_files = 0
    diffs: dict[str, str] = {}
    files = _read_all(args.paths, errors)
    index = ProjectIndex.build({f.module: f.text for f in files}, packages=[f.module for f in files if f.is_package])
    jobs = [_Job(f, tuple(enabled), args.fix or args.diff) for f in files]
    results = _run(jobs, index, args.jobs or os.cpu_count() or 1)
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
