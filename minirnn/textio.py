"""Reading user text files safely: UTF-8 (BOM stripped), with one-line errors for bad files.

``read_text`` loads a whole file (the char model needs every character); ``iter_lines`` streams
a corpus line by line (word2vec on a multi-GB dump). Both reject a missing, empty, binary or
non-UTF-8 file with a ``UsageError`` that names the file and the problem.
"""
from __future__ import annotations

import codecs
import os
from importlib import resources

from .errors import UsageError

_SNIFF = 1 << 16  # bytes read up front to tell text from binary


def default_corpus() -> str:
    """Path of the bundled novel (Don Quijote, public domain, UTF-8), the default corpus."""
    return str(resources.files("minirnn").joinpath("data", "quijote.txt"))


def check_text_file(path) -> str:
    """Return ``path`` as str if it names a readable, non-empty, non-binary file; else UsageError."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise UsageError(f"{path}: no such file")
    if os.path.isdir(path):
        raise UsageError(f"{path}: is a directory, expected a text file")
    try:
        with open(path, "rb") as f:
            head = f.read(_SNIFF)
    except OSError as e:
        raise UsageError(f"{path}: cannot read ({e.strerror})") from None
    if not head:
        raise UsageError(f"{path}: the file is empty")
    if b"\x00" in head:
        raise UsageError(f"{path}: looks like a binary file (NUL bytes), expected UTF-8 text")
    return path


def _decode_error(path, e: UnicodeDecodeError, offset: int = 0) -> UsageError:
    return UsageError(f"{path}: not valid UTF-8 (byte 0x{e.object[e.start]:02x} at offset {offset + e.start})")


def read_text(path) -> str:
    """The whole file as str: UTF-8, BOM stripped, universal newlines."""
    path = check_text_file(path)
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise _decode_error(path, e) from None
    del raw
    text = text.replace("\r\n", "\n")
    if not text.strip():
        raise UsageError(f"{path}: the file holds only whitespace")
    return text


def iter_lines(path):
    """Yield the lines of a UTF-8 file (BOM stripped) one at a time, in bounded memory."""
    path = check_text_file(path)
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, first, pending = 0, True, ""
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 20)
            try:
                s = decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as e:
                raise _decode_error(path, e, offset) from None
            offset += len(chunk)
            if first:
                s, first = s.removeprefix("\ufeff"), False
            pending += s
            lines = pending.split("\n")
            pending = lines.pop()
            yield from lines
            if not chunk:
                break
    if pending:
        yield pending
