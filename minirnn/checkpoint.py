"""Checkpoints: arrays in one .npz, metadata as JSON, written atomically, never pickled.

A checkpoint ``NAME`` is two files in a directory:

    NAME.npz    every array (weights, optimizer moments, carried hidden state) and, under the key
                ``__meta__``, the metadata JSON as UTF-8 bytes: config, vocabulary, optimizer
                scalars, iteration, RNG seed. This file alone is the checkpoint.
    NAME.json   the same metadata, pretty-printed, for people (never read back).

Each file is written to a temporary name in the same directory, flushed to disk and renamed over
the old one (``os.replace`` is atomic), so a crash or Ctrl-C leaves either the old checkpoint or
the new one, never half of one; ``clean_stale_tmp`` removes the temporary files a killed process
(SIGKILL, power loss) left behind. Loading checks the file's first bytes (a zip archive) before
NumPy sees it, then uses ``np.load(allow_pickle=False)``: a JSON or random file is named as such,
never answered with NumPy's advice about pickles.
"""
from __future__ import annotations

import glob
import json
import os
import tempfile
import zipfile

import numpy as np

from .backend import to_numpy
from .errors import UsageError
from .textio import check_input_file

META_KEY = "__meta__"
TMP_SUFFIX = ".tmp"


def atomic_write(path: str, write) -> None:
    """Call write(file) on a temp file beside `path`, fsync, then rename it onto `path`."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=TMP_SUFFIX, dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)                        # mkstemp makes 0600; give the usual mode
        os.replace(tmp, path)
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


def load(path: str) -> tuple[dict, dict]:
    """Read checkpoint `path` -> (arrays, meta). A missing, corrupt or truncated file is a UsageError."""
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
            arrays = {k: z[k] for k in z.files}
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
