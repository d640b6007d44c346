"""Numba kernels for k-means on the CPU, each next to the NumPy reference the tests compare it with.

Dimension legend: N points, D features, K clusters, L k-means++ candidates per step,
B rows in a block, P parallel parts.

The kernels take raw NumPy arrays and scalars and write into output arrays the caller owns; they do
no validation, draw no random numbers and print nothing (that is `minirnn.kmeans`'s job). They are
compiled on first use and cached on disk (``cache=True``).

The equation numbers are `minirnn.kmeans`'s (one numbering for both files): the squared Euclidean
distance is written two ways there,

    (1) d(x, c) = sum_d (x_d - c_d)^2                      direct: exact, no cancellation
    (2) d(x, c) = ||x||^2 - 2 x.c + ||c||^2                 expanded: x.c for a block of rows is a GEMM

and (3) is the k-means++ seeding, (4) the assignment, (5) the centre update (its sums).

Assignment uses (2): `assign_gemm` gets the (B, K) dot products of a block of rows from one BLAS
GEMM and scans them for the nearest centroid, step (4). `assign_direct` is the all-Numba alternative by (1);
it gives the same labels (tested) but is much slower than a BLAS GEMM at the sizes k-means meets
(docs/studies.md, k-means), so `minirnn.kmeans` uses `assign_gemm`.
k-means++ (3) uses (1): it compares every point with only L ~ 2 + ln K candidates per step, a GEMM
too thin to pay off, and (1) has no cancellation when a candidate sits next to a point.
"""
from __future__ import annotations

import numpy as np
from numba import get_thread_id, njit, prange


# ----------------------------------------------------------------------------------------------
# (4) assignment: label_i = argmin_j d(x_i, c_j)
# ----------------------------------------------------------------------------------------------

@njit(parallel=True, fastmath=True, cache=True)
def assign_gemm(X, Ct, c_sq, x_sq, bufs, labels, min_d):
    """(4) Nearest centroid of each row by (2), one GEMM per block of B rows.

    X      (N, D)     the points
    Ct     (D, K)     the centroids, transposed (contiguous, so each block is one BLAS call)
    c_sq   (K,)       ||c_j||^2
    x_sq   (N,)       ||x_i||^2
    bufs   (P, B, K)  scratch: one (B, K) block of dot products per thread
    labels (N,)       out: argmin_j d(x_i, c_j) (lowest j on ties)
    min_d  (N,)       out: min_j d(x_i, c_j), clipped at 0 (rounding in (2) can make it slightly negative)

    The blocks are shared out to the threads as they come free (call it inside
    ``numba.parallel_chunksize(1)``: a thread that the system pauses then holds up one block, not a
    share of them), each thread writing its dot products into its own bufs[p]. The caller must limit
    BLAS to one thread: the P threads each run their own GEMM, as scikit-learn's Lloyd does
    (threaded BLAS here would oversubscribe).
    """
    N = X.shape[0]
    K = Ct.shape[1]
    B = bufs.shape[1]
    n_blocks = (N + B - 1) // B
    for b in prange(n_blocks):
        s = b * B
        e = min(N, s + B)
        dots = bufs[get_thread_id(), : e - s]            # (B, K) this thread's scratch
        np.dot(X[s:e], Ct, dots)                         # dots = x . c
        for i in range(e - s):
            best = c_sq[0] - 2 * dots[i, 0]              # (2) less the ||x||^2 every j shares
            best_j = 0
            for j in range(1, K):
                v = c_sq[j] - 2 * dots[i, j]
                if v < best:
                    best = v
                    best_j = j
            labels[s + i] = best_j
            min_d[s + i] = max(x_sq[s + i] + best, 0)


@njit(parallel=True, fastmath=True, cache=True)
def assign_direct(X, C, labels, min_d):
    """(4) Nearest centroid of each row by (1), no GEMM: the all-Numba alternative to `assign_gemm`.

    X (N, D), C (K, D); labels (N,) and min_d (N,) are written.
    """
    N, D = X.shape
    K = C.shape[0]
    for i in prange(N):
        best = np.inf
        best_j = 0
        for j in range(K):
            s = X[i, 0] - X[i, 0]                        # a zero of X's dtype: float32 sums stay float32
            for d in range(D):
                t = X[i, d] - C[j, d]
                s += t * t
            if s < best:
                best = s
                best_j = j
        labels[i] = best_j
        min_d[i] = best


def assign_ref(X, C):
    """NumPy reference of both assignment kernels, by (1) on the full (N, K) matrix in float64."""
    d = ((X[:, None, :].astype(np.float64) - C[None, :, :]) ** 2).sum(axis=2)  # (N, K)
    labels = np.argmin(d, axis=1)                                              # (N,)
    return labels, d[np.arange(len(X)), labels]                                # (N,), (N,)


# ----------------------------------------------------------------------------------------------
# (5) centroid update: per-cluster sums and sizes
# ----------------------------------------------------------------------------------------------

@njit(cache=True)
def cluster_sums(X, labels, sums, counts):
    """(5) sums[k] = sum_{i: labels_i = k} x_i and counts[k] = |{i: labels_i = k}|.

    X (N, D), labels (N,); sums (K, D) float64 and counts (K,) int64 are overwritten.
    Serial on purpose: N*D additions are ~1/K of an assignment's work, and a parallel reduction
    (one (K, D) buffer per thread) measured no faster (docs/studies.md, k-means).
    """
    N, D = X.shape
    sums[:] = 0.0
    counts[:] = 0
    for i in range(N):
        k = labels[i]
        counts[k] += 1
        for d in range(D):
            sums[k, d] += X[i, d]


def cluster_sums_ref(X, labels, K):
    """NumPy reference of `cluster_sums`: returns (sums (K, D) float64, counts (K,) int64)."""
    sums = np.zeros((K, X.shape[1]))                             # (K, D)
    np.add.at(sums, labels, X.astype(np.float64))
    counts = np.bincount(labels, minlength=K).astype(np.int64)   # (K,)
    return sums, counts


# ----------------------------------------------------------------------------------------------
# (3) k-means++ (greedy): one step scores L candidate centres against every point
# ----------------------------------------------------------------------------------------------

KPP_BLOCK = 1024   # points per block of k-means++'s transposed copy (B): D x B floats, in L2 cache


def transpose_blocks(X, B=KPP_BLOCK):
    """X (N, D) -> XT (ceil(N / B), D, B): blocks of B points, each block transposed (point index
    last), the last block padded with zero rows. The layout of `kpp_candidates`."""
    N, D = X.shape
    nb = -(-N // B)
    XT = np.zeros((nb, D, B), dtype=X.dtype)                                    # (nb, D, B)
    full = N // B
    XT[:full] = X[:full * B].reshape(full, B, D).transpose(0, 2, 1)
    if full < nb:
        XT[full, :, :N - full * B] = X[full * B:].T
    return XT


@njit(parallel=True, fastmath=True, cache=True)
def kpp_candidates(XT, C, closest, new_closest, parts):
    """(3) Score k-means++ candidates: the potential if each one were added as a centre.

    XT          (nb, D, B)  the points, B to a block, transposed in each block (`transpose_blocks`)
    C           (L, D)      the candidate rows
    closest     (nb*B,)     squared distance of each point to its nearest centre so far (0 for padding)
    new_closest (L, nb*B)   out: min(closest_i, d(x_i, c_l)) by (1)
    parts       (nb, L)     out: sum over block b of new_closest[l] (float64); the potential with
                            candidate l added is parts[:, l].sum(), the same whatever the threads

    Blocks go to the threads as they come free under ``numba.parallel_chunksize(1)``.

    Why this layout: the inner loop runs over the B points of a block (contiguous), one coordinate
    d and one candidate at a time, so it vectorizes whatever D is; the block (D x B floats) is read
    from memory once per step and from cache for the L candidates. Row by row (d innermost) the
    compiler vectorizes the first multiple of 64 of D and loops over the rest one float at a time.
    """
    nb, D, B = XT.shape
    L = C.shape[0]
    for b in prange(nb):
        lo = b * B
        for l in range(L):
            acc = new_closest[l, lo:lo + B]                  # (B,) accumulates d(x_i, c_l)
            acc[:] = 0
            for d in range(D):
                c = C[l, d]
                x = XT[b, d]                                 # (B,) coordinate d of the block's points
                for i in range(B):
                    t = x[i] - c
                    acc[i] += t * t
            s = 0.0
            for i in range(B):
                v = min(acc[i], closest[lo + i])
                acc[i] = v
                s += v
            parts[b, l] = s


def kpp_candidates_ref(X, cand, closest):
    """NumPy reference of `kpp_candidates` (on X (N, D) and cand (L,) indices, no padding):
    returns (new_closest (L, N), pot (L,)) in float64."""
    d = ((X[None, :, :].astype(np.float64) - X[cand][:, None, :]) ** 2).sum(axis=2)  # (L, N)
    new_closest = np.minimum(closest[None, :], d)                                    # (L, N)
    return new_closest, new_closest.sum(axis=1)


@njit(parallel=True, fastmath=True, cache=True)
def sq_dist_to_row(X, r, out):
    """out_i = d(x_i, x_r) by (1): distances to the first k-means++ centre. X (N, D), out (N,)."""
    N, D = X.shape
    for i in prange(N):
        s = X[i, 0] - X[i, 0]                            # a zero of X's dtype
        for d in range(D):
            t = X[i, d] - X[r, d]
            s += t * t
        out[i] = s


def sq_dist_to_row_ref(X, r):
    """NumPy reference of `sq_dist_to_row` in float64."""
    return ((X.astype(np.float64) - X[r]) ** 2).sum(axis=1)      # (N,)
