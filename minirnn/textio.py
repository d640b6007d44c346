"""Reading user files safely, and checking output paths before the long work starts.

``read_text`` loads a whole file (the char model needs every character); ``iter_lines`` streams
a corpus line by line (word2vec on a multi-GB dump). Both reject a missing, empty, binary or
non-UTF-8 file with a ``UsageError`` that names the file and the problem.

``check_input_file`` is the one gate every input file passes (texts, checkpoints, word vectors,
quantizers): it must be a regular file. A FIFO, a device or a shell's ``<(cat file)`` (a pipe) is
refused with a message instead of being opened, which would block forever or be read only once
while the loaders need to read twice. ``check_output_file`` is the one rule for every file a
command writes (``check_output_dir`` applies it to each file a command writes in a directory):
checked before the work, never one of the command's inputs, never a directory, FIFO or device, in
a directory where a file can be created (probed by creating and removing one); the write itself is
atomic (``checkpoint.atomic_write``). So a bad ``--out`` fails before hours of training, not after,
and is input the user can fix (exit 2), a read-only directory included, and so is a name the file
system cannot hold (longer than NAME_MAX bytes, a side file's suffix included) or one that ends in
``/``.

One writer: ``check_output_file`` also records what is at each output path when it is checked (a
file, by device and inode, or nothing), and ``checkpoint.atomic_write`` renames over that path only
if the same is there at the rename: a file that another process created (or replaced) there while
the command worked is never replaced (``OutputTaken``, exit 1, naming where the result was kept).
Paths are compared by the real path of their directory, so a symlinked alias of a directory is the
same place (``check_distinct``: no two outputs of one command are one file).
"""
from __future__ import annotations

import codecs
import errno
import os
import stat
import tempfile
from importlib import resources

from .errors import UsageError, at_end

_SNIFF = 1 << 16  # bytes read up front to tell text from binary


def default_corpus() -> str:
    """Path of the bundled novel (Don Quijote, public domain, UTF-8), the default corpus."""
    return str(resources.files("minirnn").joinpath("data", "quijote.txt"))


def check_input_file(path, what: str = "file") -> str:
    """Return ``path`` as str if it names an existing regular file; else UsageError.

    Never opens the file, so a FIFO or a device cannot block here."""
    path = os.fspath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except OSError as e:
        raise UsageError(f"{path}: cannot read ({e.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        raise UsageError(f"{path}: is a directory, expected a {what}")
    if not stat.S_ISREG(st.st_mode):
        kind = "a pipe or FIFO (such as <(...))" if stat.S_ISFIFO(st.st_mode) else \
            "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else "not a regular file"
        raise UsageError(f"{path}: is {kind}; expected a regular {what} (it is read more than "
                         f"once): save it to a file first")
    return path


def _probe_dir(directory: str, flag: str) -> None:
    """UsageError unless a file can be created in `directory` (tried, then removed)."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".minirnn-probe-", dir=directory)
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        raise UsageError(f"{flag} {directory}: cannot write there ({e.strerror})") from None


def _same_file(a: str, b: str) -> bool:
    """True when paths a and b name one file (an existing one: os.path.samefile, so hard links,
    symlinks and ``./x`` count; otherwise the same real path)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


# what an existing file must start with for a command to replace it (``check_output_file``'s ``kind``)
KINDS = {"png": ("a PNG image", (b"\x89PNG\r\n\x1a\n",)),
         "html": ("an HTML page", (b"<!DOCTYPE html", b"<!doctype html", b"<html"))}


def name_max(directory: str) -> int:
    """The longest file name, in bytes, that `directory` (or its nearest existing parent) holds."""
    d = os.path.abspath(directory)
    while not os.path.isdir(d) and os.path.dirname(d) != d:
        d = os.path.dirname(d)
    try:
        return int(os.pathconf(d, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return 255


def _existing_parent(directory: str) -> str:
    d = os.path.abspath(directory)
    while not os.path.lexists(d) and os.path.dirname(d) != d:
        d = os.path.dirname(d)
    return d


# ---- one writer: what was at each output path when it was checked --------------------------------
_CHECKED: dict = {}          # place -> (dev, ino) of the entry there at the check, or None (nothing)


def place(path) -> tuple:
    """Where `path` is: (real path of its directory, its name). Two paths of one place name one
    file, whatever symlinked directories, ``..`` or ``./`` they go through."""
    path = os.path.abspath(os.fspath(path))
    return os.path.realpath(os.path.dirname(path)), os.path.basename(path)


def _entry(path):
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


def note_checked(path) -> None:
    """Record what is at `path` now (the one-writer rule holds it to that at the rename)."""
    _CHECKED[place(path)] = _entry(path)


def note_written(path) -> None:
    """After this process wrote `path`: what is there now is its own."""
    key = place(path)
    if key in _CHECKED:
        _CHECKED[key] = _entry(path)


class OutputTaken(FileExistsError):
    """An output path that another process wrote while this command worked: not replaced."""


def expected_at(path):
    """(checked, entry): whether `path` was checked as an output, and what was there then."""
    key = place(path)
    return key in _CHECKED, _CHECKED.get(key)


@at_end
def _forget_checked() -> None:
    _CHECKED.clear()


def check_distinct(outputs) -> None:
    """UsageError when two of a command's outputs ({what: path} or pairs) are one place."""
    seen = {}
    for what, path in (outputs.items() if isinstance(outputs, dict) else outputs):
        if path is None:
            continue
        key = place(path)
        if key in seen:
            raise UsageError(f"{what} {os.fspath(path)} and {seen[key][0]} {seen[key][1]} name the same "
                             f"file: give each its own name")
        seen[key] = (what, os.fspath(path))


def check_output_file(path, flag: str = "--out", inputs=None, kind=None, _dir_made_later=False) -> str:
    """The one rule for every file a command writes, checked before the work starts.

    UsageError (exit 2) unless `path` can be written as a regular file: not empty, not ending in
    ``/``, a name no longer than the file system holds, not a directory, not a FIFO, device or
    socket (it would block, or be replaced by a plain file), in a directory where a file can be
    created (a read-only or missing directory is refused here, before any work), and not one of the
    command's own inputs.
    `inputs`: {what: path} of the files the command reads (e.g. ``{"--text": ...}``, or a list of
    such pairs); a None path is skipped. `kind` (a key of KINDS): the command writes a file of that
    kind and replaces an existing file only if it is one (a picture may replace an older picture,
    never a checkpoint or a metrics file). What is at `path` now is recorded (``note_checked``):
    the write (``checkpoint.atomic_write``, a temporary file renamed over `path`) replaces nothing else."""
    path = os.fspath(path)
    if not path:
        raise UsageError(f"{flag}: an empty file name")
    name = os.path.basename(path)
    if path.endswith(os.sep) or name in (".", ".."):
        raise UsageError(f"{flag} {path}: names a directory (it ends in {os.sep or name!r}); give a file name")
    if os.path.isdir(path):
        raise UsageError(f"{flag} {path}: is a directory; give a file name")
    if os.path.exists(path) and not os.path.isfile(path):
        mode = os.stat(path).st_mode
        kind = ("a pipe or FIFO" if stat.S_ISFIFO(mode) else
                "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file")
        raise UsageError(f"{flag} {path}: is {kind}; give the name of a regular file to write")
    directory = os.path.dirname(os.path.abspath(path))
    limit = name_max(directory)
    if len(os.fsencode(name)) > limit:
        raise UsageError(f"{flag} {path}: the name is {len(os.fsencode(name))} bytes long, the file system "
                         f"holds names of at most {limit}: give a shorter name")
    for what, src in (inputs.items() if isinstance(inputs, dict) else inputs or ()):
        if src is not None and os.path.lexists(src) and _same_file(path, os.fspath(src)):
            raise UsageError(f"{flag} {path}: is the input {what} {os.fspath(src)}; writing there would "
                             f"destroy it: give another {flag}")
    if kind is not None and os.path.isfile(path) and os.path.getsize(path) > 0:
        what, magics = KINDS[kind]
        with open(path, "rb") as f:
            head = f.read(max(map(len, magics)))
        if not head.startswith(magics):
            raise UsageError(f"{flag} {path}: exists and is not {what}; refusing to replace it: give "
                             f"another {flag}, or remove that file first")
    if not _dir_made_later:
        if not os.path.isdir(directory):
            raise UsageError(f"{flag} {path}: directory {directory} does not exist")
        _probe_dir(directory, flag)
    note_checked(path)
    return path


def refuse_existing(paths, flag: str, overwrite: bool) -> None:
    """UsageError if any of `paths` exists, unless `overwrite` (a new run never replaces an earlier
    run's files by default). Run it before the long work."""
    there = [os.fspath(p) for p in paths if os.path.lexists(p)]
    if there and not overwrite:
        raise UsageError(f"{flag}: {', '.join(there)} already exist{'s' * (len(there) == 1)}: give another "
                         f"{flag}, or --overwrite to replace {'them' if len(there) > 1 else 'it'}")


def check_output_dir(path, flag: str = "--out", names=(), inputs=None, kind=None) -> str:
    """UsageError unless `path` is a writable directory, or one that can be made where its nearest
    existing parent is (it is not made here: a refused command leaves no empty directory behind),
    in which each of the files `names` passes ``check_output_file`` (not one of `inputs`, ...)."""
    path = os.fspath(path)
    if not path:
        raise UsageError(f"{flag}: an empty directory name")
    if os.path.exists(path) and not os.path.isdir(path):
        raise UsageError(f"{flag} {path}: exists and is not a directory")
    parent = _existing_parent(path)
    if not os.path.isdir(parent):
        raise UsageError(f"{flag} {path}: {parent} exists and is not a directory")
    for part in os.path.abspath(path)[len(parent):].split(os.sep):
        if len(os.fsencode(part)) > name_max(parent):
            raise UsageError(f"{flag} {path}: a name of {len(os.fsencode(part))} bytes; the file system "
                             f"holds names of at most {name_max(parent)}")
    _probe_dir(parent, flag)
    for name in names:
        check_output_file(os.path.join(path, name), flag, inputs, kind, _dir_made_later=True)
    return path


def make_dirs(path) -> list:
    """os.makedirs(path); returns the directories it made, outermost first (so that a command that
    stops before writing anything can remove them again)."""
    path = os.path.abspath(os.fspath(path))
    missing = []
    d = path
    while not os.path.lexists(d) and os.path.dirname(d) != d:
        missing.append(d)
        d = os.path.dirname(d)
    os.makedirs(path, exist_ok=True)
    return missing[::-1]


def check_text_file(path) -> str:
    """Return ``path`` as str if it names a readable, non-empty, non-binary file; else UsageError."""
    path = check_input_file(path, "text file")
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


def iter_lines(path, max_len: int | None = None):
    """Yield the lines of a UTF-8 file (BOM stripped) one at a time, in linear time.

    ``max_len``: a line longer than this many characters is yielded in pieces, each cut just after
    a whitespace character (or at ``max_len`` when it holds none), so memory stays bounded even for
    a file with no newline at all. Words never span whitespace, so tokenizing the pieces gives the
    tokens of the whole line. Without ``max_len`` a line is held whole.
    """
    path = check_text_file(path)
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, first = 0, True
    parts, held = [], 0          # the unfinished line, as pieces (joined once: no quadratic +=)
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
            lines = s.split("\n")
            if len(lines) > 1:
                parts.append(lines[0])
                yield "".join(parts)
                yield from lines[1:-1]
                parts, held = [], 0
            parts.append(lines[-1])
            held += len(lines[-1])
            if max_len is not None and held > max_len:
                tail = "".join(parts)
                while len(tail) > max_len:
                    cut = max(tail.rfind(" ", 0, max_len), tail.rfind("\t", 0, max_len),
                              tail.rfind("\r", 0, max_len)) + 1 or max_len
                    yield tail[:cut]
                    tail = tail[cut:]
                parts, held = [tail], len(tail)
            if not chunk:
                break
    pending = "".join(parts)
    if pending:
        yield pending
