"""Numba kernels for two array moves NumPy does slowly: CPU code on raw NumPy arrays.

    scatter_add_rows(a, idx, values)   a[idx[k]] += values[k], repeated rows summed (np.add.at)
    transpose_into(src, dst)           dst[...] = src.T

Each has a one-line NumPy reference (named above) that tests/test_array_kernels.py compares it
against. ``backend.scatter_add`` and ``layers/lstm.py`` call them; nothing else needs to know.
Measured on the 2-core AMD EPYC: np.add.at of 2500 rows of 2048 float32 into 65 rows takes
~68 ms, ``scatter_add_rows`` ~1.5 ms; NumPy's transposed copy of a (512, 2048) float32 matrix
~9 ms, ``transpose_into`` ~1.2 ms.
"""
from numba import njit


@njit(cache=True)
def scatter_add_rows(a, idx, values):
    """a (V, D), idx (K,) integers in [0, V) (checked by the caller), values (K, D):
    a[idx[k]] += values[k] for k = 0 .. K-1, in that order."""
    for k in range(idx.shape[0]):
        row, v = a[idx[k]], values[k]                        # (D,) each
        for j in range(row.shape[0]):
            row[j] += v[j]


@njit(cache=True)
def transpose_into(src, dst):
    """dst[...] = src.T, for 2-D C-contiguous src (R, C) and dst (C, R).

    Copies strips of 16 source rows: each destination row then receives 16 adjacent numbers
    (one cache line) per strip, instead of one number per row as a plain strided copy does.
    """
    R, C = src.shape
    S = 16
    for r0 in range(0, R - S + 1, S):
        for c in range(C):
            d = dst[c]
            for k in range(S):
                d[r0 + k] = src[r0 + k, c]
    for r in range(R - R % S, R):                            # the last R % S rows
        for c in range(C):
            dst[c, r] = src[r, c]
