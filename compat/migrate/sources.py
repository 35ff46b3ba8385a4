"""Reading and writing the files ``compat migrate`` checks, byte-faithfully.

A file is decoded the way Python itself would (PEP 263 encoding declaration,
UTF-8 BOM; ``tokenize.detect_encoding``) and written back in the same encoding,
with the BOM kept and line endings untouched (the text is never newline-translated).
Each file also gets its dotted module name (walking up through ``__init__.py``
packages) so the tree index can resolve imports between files.

>>> import tempfile, os
>>> d = tempfile.mkdtemp()
>>> p = os.path.join(d, "m.py")
>>> _ = open(p, "wb").write(b"# -*- coding: latin-1 -*-\\r\\nx = '\\xe9'\\r\\n")
>>> f = read_source(p)
>>> f.encoding, f.text.splitlines(keepends=True)[1]
('iso-8859-1', "x = 'é'\\r\\n")
>>> write_source(f, f.text); open(p, "rb").read().endswith(b"'\\xe9'\\r\\n")
True
"""

from __future__ import annotations

import dataclasses
import io
import os
import tokenize

__all__ = ["SourceFile", "module_for_path", "read_source", "write_source"]


@dataclasses.dataclass(frozen=True)
class SourceFile:
    """One file's text, the encoding to write it back in, and its module name."""

    path: str
    text: str
    encoding: str
    module: str
    is_package: bool


def module_for_path(path: str) -> tuple[str, bool]:
    """``(dotted module name, is a package __init__)``: packages found by their ``__init__.py``."""
    path = os.path.abspath(path)
    directory, name = os.path.split(path)
    stem = name[:-3] if name.endswith(".py") else name
    is_package = stem == "__init__"
    parts = [] if is_package else [stem]
    while os.path.isfile(os.path.join(directory, "__init__.py")):
        directory, package = os.path.split(directory)
        parts.insert(0, package)
        if not package:
            break
    return ".".join(parts) or "__main__", is_package


def read_source(path: str) -> SourceFile:
    """Decode ``path`` as Python would. Raises OSError, or UnicodeDecodeError/SyntaxError with the reason."""
    with open(path, "rb") as handle:
        raw = handle.read()
    encoding, _ = tokenize.detect_encoding(io.BytesIO(raw).readline)
    text = raw.decode(encoding)
    if encoding == "utf-8-sig" and text.startswith("\ufeff"):
        text = text[1:]
    module, is_package = module_for_path(path)
    return SourceFile(path, text, encoding, module, is_package)


def write_source(source: SourceFile, text: str) -> None:
    """Write ``text`` back in ``source``'s encoding (a BOM stays a BOM)."""
    with open(source.path, "wb") as handle:
        handle.write(text.encode(source.encoding))
