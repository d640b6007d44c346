"""Token ids on disk: written in chunks, read through a memory map, never all in memory at once.

A corpus of n tokens is n int32 ids (4n bytes: 2.8 GB for the Spanish Wikipedia's 700M words). The word
pipeline keeps them in a file: a writer appends one chunk at a time, and readers map the file
(``open_ids``: a read-only NumPy array over ``mmap``) and copy out the pieces they need: a block of
word2vec, a window of the RNN.

A mapped page that has been read stays resident, and counts in the process's RSS, until the kernel
needs the memory back: a reader that walks through a 2.8 GB file would look as large as the file.
So readers give the pages back as they go, ``release(ids, start, stop)`` (``madvise(MADV_DONTNEED)``:
the page leaves this process, stays in the page cache, and a later read maps it again). What stays
resident is what one reader holds between two releases: a block or a few hundred windows, whatever the
length of the corpus.
"""
from __future__ import annotations

import mmap
import os
import tempfile

import numpy as np

DTYPE = np.dtype(np.int32)
CHUNK = 1 << 20            # ids per chunk, written or read (4 MB)
FAULT_AROUND = 1 << 21     # bytes: how far before a fault the kernel may map pages back (see release)
_PAGE = mmap.PAGESIZE


def temporary_file(dir=None):
    """An anonymous file for ids (``tempfile.TemporaryFile``): it has no name, so nothing is ever left
    behind, and it lives until its last user (the file object or a map of it) is closed."""
    return tempfile.TemporaryFile(prefix="minirnn-ids-", dir=dir)


def write(f, ids) -> int:
    """Append ids (any integer array) to the open binary file f as int32; returns how many."""
    a = np.ascontiguousarray(ids, dtype=DTYPE)                  # (n,)
    f.write(a.tobytes())
    return a.shape[0]


def open_ids(f) -> np.ndarray:
    """The ids of a path or an open file as a read-only (n,) int32 array over a memory map.

    The map keeps its own handle on the file: f may be closed (an anonymous file then lives on,
    as long as the array does).
    """
    if isinstance(f, (str, bytes, os.PathLike)):
        with open(f, "rb") as fh:
            return open_ids(fh)
    f.flush()
    size = os.fstat(f.fileno()).st_size
    if size == 0:
        return np.empty(0, dtype=DTYPE)
    mm = mmap.mmap(f.fileno(), size, access=mmap.ACCESS_READ)
    return np.frombuffer(mm, dtype=DTYPE, count=size // DTYPE.itemsize)   # (n,) its .base is the map


def _mapping(a):
    """The mmap.mmap under array a (through its chain of bases), or None."""
    while a is not None and not isinstance(a, mmap.mmap):
        a = a.obj if isinstance(a, memoryview) else getattr(a, "base", None)
    return a


def release(ids, start: int = 0, stop: int | None = None) -> None:
    """Give back the resident pages of ids[start:stop] (1-D, contiguous); a no-op for an array that
    is not memory-mapped or where madvise is missing. The pages at either end, which the range
    only partly covers, go too: reading them again maps them again.

    The FAULT_AROUND bytes before start go as well. On a page fault Linux maps the cached pages
    around the faulting one too (``fault_around_bytes``, 64 KB by default, at most 2 MB), those
    before it included: a reader that gave back only its own range would find the end of the
    previous range mapped again by its first read, and over a file that adds up to all of it.
    """
    mm = _mapping(ids)
    if mm is None or not hasattr(mm, "madvise") or ids.size == 0:
        return
    stop = ids.shape[0] if stop is None else min(int(stop), ids.shape[0])
    if stop <= start:
        return
    origin = np.frombuffer(mm, dtype=np.uint8).ctypes.data                # address of byte 0 of the map
    lo = ids.ctypes.data - origin + int(start) * ids.itemsize
    hi = ids.ctypes.data - origin + stop * ids.itemsize
    lo = max(0, lo - FAULT_AROUND)
    lo -= lo % _PAGE
    mm.madvise(mmap.MADV_DONTNEED, lo, min(hi, len(mm)) - lo)


def chunks(ids, start: int = 0, stop: int | None = None, size: int | None = None):
    """Copies of ids[start:stop] in pieces of at most `size` (default CHUNK), each piece's pages given
    back once copied: a pass over a mapped file in bounded memory."""
    stop = ids.shape[0] if stop is None else stop
    size = size or CHUNK
    for lo in range(start, stop, size):
        hi = min(lo + size, stop)
        piece = np.array(ids[lo:hi])                                       # (hi - lo,) a copy
        release(ids, lo, hi)
        yield piece
