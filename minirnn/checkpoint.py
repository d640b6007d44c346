"""Checkpoints: arrays in one .npz, metadata as JSON, written atomically, never pickled.

A checkpoint ``NAME`` is two files in a directory:

    NAME.npz    every array (weights, optimizer moments, carried hidden state) and, under the key
                ``__meta__``, the metadata JSON as UTF-8 bytes: config, vocabulary, optimizer
                scalars, iteration, RNG seed. This file alone is the checkpoint.
    NAME.json   the same metadata, pretty-printed, for people (never read back).

Each file is written to a temporary name in the same directory, flushed to disk and renamed over
the old one (``os.replace`` is atomic), so a crash or Ctrl-C leaves either the old checkpoint or
the new one, never half of one; ``clean_stale_tmp`` removes the temporary files a killed process
(SIGKILL, power loss) left behind. The rename keeps the one-writer rule of ``textio``: a path checked
as an output is replaced only if what was there at the check is still there (a file created meanwhile
by another process is never replaced: ``rename_noreplace``). Loading checks the file's first bytes (a zip archive) before
NumPy sees it, then uses ``np.load(allow_pickle=False)``: a JSON or random file is named as such,
never answered with NumPy's advice about pickles.
"""
from __future__ import annotations

import ctypes
import errno
import glob
import json
import os
import tempfile
import zipfile

import numpy as np

from .backend import to_numpy
from .errors import UsageError
from . import textio
from .textio import check_input_file

META_KEY = "__meta__"
TMP_SUFFIX = ".tmp"


# ---- renames that Python's os module does not offer (Linux renameat2; a fallback elsewhere) ----------
_RENAME_NOREPLACE, _RENAME_EXCHANGE, _AT_FDCWD = 1, 2, -100


def _renameat2(src: str, dst: str, flags: int) -> bool:
    """renameat2(2) with `flags`; False where the system or the file system lacks it, OSError on
    any other failure."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint)
    if fn(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), flags) == 0:
        return True
    e = ctypes.get_errno()
    if e in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(e, os.strerror(e), dst)


def rename_noreplace(src: str, dst: str) -> None:
    """Rename src to dst only if dst does not exist (FileExistsError otherwise), atomically: no other
    process can slip a file in between the check and the rename."""
    if _renameat2(src, dst, _RENAME_NOREPLACE):
        return
    try:
        os.link(src, dst)                                     # fails if dst exists, atomically
    except FileExistsError:
        raise
    except OSError:                                           # no hard links here: check, then rename
        if os.path.lexists(dst):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), dst) from None
        os.replace(src, dst)
        return
    os.remove(src)


def exchange(a: str, b: str) -> bool:
    """Swap the two paths atomically (both exist; directories included). False where the system
    cannot; the caller then falls back to two renames."""
    return _renameat2(a, b, _RENAME_EXCHANGE)


def _tmp_prefix(path: str) -> str:
    """The temporary file's prefix: the target's name (cut so that the whole name fits)."""
    name = os.path.basename(path)
    while len(os.fsencode(name)) > textio.name_max(os.path.dirname(os.path.abspath(path))) - 24:
        name = name[:len(name) // 2]
    return name + "."


def atomic_write(path: str, write) -> None:
    """Call write(file) on a temp file beside `path`, fsync, then rename it onto `path`.

    If `path` was checked as an output (``textio.check_output_file``), the rename replaces only what
    was there at the check: a file that appeared or changed since is kept, this write's result is
    left beside it as ``<path>.<random>.new`` and ``textio.OutputTaken`` (exit 1) names both."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_tmp_prefix(path), suffix=TMP_SUFFIX, dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)                        # mkstemp makes 0600; give the usual mode
        checked, before = textio.expected_at(path)
        try:
            if checked and before is None:
                rename_noreplace(tmp, path)                  # nothing was there: nothing may be now
            else:
                now = textio._entry(path)
                if checked and now is not None and now != before:
                    raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), path)
                os.replace(tmp, path)
        except FileExistsError:
            kept = tmp[:-len(TMP_SUFFIX)] + ".new"
            os.replace(tmp, kept)
            raise textio.OutputTaken(errno.EEXIST, f"another process wrote this file while this command "
                                     f"worked; it is not replaced, and this command's result is in {kept}",
                                     path) from None
        textio.note_written(path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


STALE_NAMES = ("latest.npz", "best.npz", "latest.json", "best.json", "metrics.jsonl", "vectors.txt",
               "vectors.txt.counts.json")


def clean_stale_tmp(directory: str, names=STALE_NAMES) -> list:
    """Remove the temporary files (``NAME.xxxx.tmp``) that a killed save left in `directory`.

    Call it only while holding the directory's lock (``minirnn.cli.claim_checkpoint_dir``): then no
    other process is writing one. Returns the removed paths."""
    removed = []
    for name in names:
        for tmp in glob.glob(os.path.join(glob.escape(directory), glob.escape(name) + ".*" + TMP_SUFFIX)):
            try:
                os.remove(tmp)
                removed.append(tmp)
            except FileNotFoundError:
                pass
    return removed


def save(path: str, arrays: dict, meta: dict) -> str:
    """Write checkpoint `path` (ending in .npz) and its .json twin. Returns the .npz path."""
    if not path.endswith(".npz"):
        path += ".npz"
    text = json.dumps(meta, indent=1, sort_keys=True)
    payload = {k: np.asarray(to_numpy(v)) for k, v in arrays.items()}
    payload[META_KEY] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    atomic_write(path, lambda f: np.savez(f, **payload))
    atomic_write(path[:-4] + ".json", lambda f: f.write(text.encode("utf-8") + b"\n"))
    return path


def load_meta(path: str) -> dict:
    """The metadata of checkpoint `path`, its arrays left unread (UsageError as ``load``)."""
    return load(path, meta_only=True)[1]


def load(path: str, meta_only: bool = False) -> tuple[dict, dict]:
    """Read checkpoint `path` -> (arrays, meta). A missing, corrupt or truncated file is a UsageError.
    `meta_only`: read the metadata alone (the arrays come back empty)."""
    if os.path.isdir(path):
        raise UsageError(f"{path}: is a directory; give a checkpoint file such as {path}/latest.npz")
    if not os.path.lexists(path):
        raise UsageError(f"{path}: no such checkpoint")
    check_input_file(path, "checkpoint file (.npz)")
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as e:
        raise UsageError(f"{path}: cannot read ({e.strerror})") from None
    if not head.startswith(b"PK"):                            # an .npz is a zip archive
        if head.startswith(b"\x93NUMPY"):
            kind = "a single array (.npy), not an .npz archive"
        elif head.lstrip()[:1] in (b"{", b"["):
            kind = "a JSON file (the .json beside a checkpoint is for people; give the .npz)"
        elif not head:
            kind = "an empty file"
        else:
            kind = "neither a zip archive nor JSON"
        raise UsageError(f"{path}: not a minirnn checkpoint: {kind}")
    try:
        z = np.load(path, allow_pickle=False)
        if not isinstance(z, np.lib.npyio.NpzFile):          # a plain .npy holds one bare array
            raise ValueError("a single array, not an .npz archive")
        with z:
            arrays = {k: z[k] for k in z.files if not meta_only or k == META_KEY}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as e:
        if "pickle" in str(e):                                # NumPy's text advises allow_pickle: never
            raise UsageError(f"{path}: holds Python objects (pickled data), which minirnn never loads; "
                             f"not a minirnn checkpoint") from None
        raise UsageError(f"{path}: not a readable minirnn checkpoint (corrupt or truncated: {e})") from None
    if META_KEY not in arrays:
        raise UsageError(f"{path}: not a minirnn checkpoint (no metadata inside)")
    try:
        meta = json.loads(arrays.pop(META_KEY).tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UsageError(f"{path}: checkpoint metadata is corrupt ({e})") from None
    if not isinstance(meta, dict):
        raise UsageError(f"{path}: checkpoint metadata is corrupt (a JSON {type(meta).__name__}, "
                         f"expected an object)")
    return arrays, meta
