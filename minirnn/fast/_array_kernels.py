"""Numba kernels for two array moves NumPy does slowly: CPU code on raw NumPy arrays.

    scatter_add_rows(a, idx, values)   a[idx[k]] += values[k], repeated rows summed (np.add.at)
    transpose_into(src, dst)           dst[...] = src.T

Each has a one-line NumPy reference (named above) that tests/test_array_kernels.py compares it
against. The engine's lstm.py and embedding.py call them; ``row_indices`` checks ids for them
(the kernels read rows without bounds checks) and ``scatter_add`` picks the kernel or np.add.at.
Both exist because NumPy's versions are slow here: np.add.at runs an unbuffered loop element by element
instead of adding whole rows, and a plain transposed copy writes one number per
destination row per source row, striding across memory. How much faster each kernel is:
docs/studies.md, Engine.
"""
import numpy as np
from numba import njit


def row_indices(indices, n: int):
    """NumPy integer indices into n rows -> the same rows as int64 in [0, n), negative ones counted
    from the end as a[indices] does; IndexError for any outside [-n, n). The result is C-contiguous."""
    indices = np.ascontiguousarray(indices, dtype=np.int64)
    if indices.size and (indices.min() < -n or indices.max() >= n):
        raise IndexError(f"index out of range for {n} rows: got {indices.min()} .. {indices.max()}")
    return np.where(indices < 0, indices + n, indices)


def scatter_add(a, indices, values) -> None:
    """np.add.at(a, indices, values) on NumPy arrays: by ``scatter_add_rows`` for whole rows
    (a (V, D) C-contiguous, indices (K,) integers, values (K, D)); np.add.at otherwise."""
    indices = np.asarray(indices)
    if (a.ndim == 2 and a.flags.c_contiguous and indices.ndim == 1 and indices.dtype.kind in "iu"
            and np.shape(values) == (indices.size, a.shape[1])):
        values = np.ascontiguousarray(values, dtype=a.dtype)
        scatter_add_rows(a, row_indices(indices, a.shape[0]), values)
    else:
        np.add.at(a, indices, values)


@njit(cache=True, nogil=True)
def scatter_add_rows(a, idx, values):
    """a (V, D), idx (K,) integers in [0, V) (checked by the caller), values (K, D):
    a[idx[k]] += values[k] for k = 0 .. K-1, in that order."""
    for k in range(idx.shape[0]):
        row, v = a[idx[k]], values[k]                        # (D,) each
        for j in range(row.shape[0]):
            row[j] += v[j]


@njit(cache=True, nogil=True, inline="always")
def _strip_transpose(src, dst, S):
    """dst[...] = src.T by strips of S source rows: each destination row receives S adjacent
    numbers per strip (S = 16 fills one 64-byte cache line of float32), instead of one number per
    row as a plain strided copy does. S is a constant at each call site, so the k loop unrolls."""
    R, C = src.shape
    for r0 in range(0, R - S + 1, S):
        for c in range(C):
            d = dst[c]
            for k in range(S):
                d[r0 + k] = src[r0 + k, c]
    for r in range(R - R % S, R):                            # the last R % S rows
        for c in range(C):
            dst[c, r] = src[r, c]


@njit(cache=True, nogil=True)
def transpose_into(src, dst):
    """dst[...] = src.T, for 2-D C-contiguous src (R, C) and dst (C, R).

    Strips of 16 source rows for tall or square matrices (the LSTM's per-step (4H, N) results), of 8
    for wide ones (Wh, (H, 4H)): each strip width measured faster on those shapes than the other
    (docs/studies.md, Engine).
    """
    R, C = src.shape
    if C > R:
        _strip_transpose(src, dst, 8)
    else:
        _strip_transpose(src, dst, 16)
