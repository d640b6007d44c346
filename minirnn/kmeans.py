"""k-means clustering: k-means++ seeding and Lloyd iterations, Euclidean or cosine (spherical).

Dimension legend: N points, D features, K clusters, L k-means++ candidates per step (2 + ln K).

One numbering for this module and its kernels (`minirnn._kmeans_kernels` uses the same numbers).
The squared Euclidean distance, written two ways:

    (1) d(x, c) = sum_d (x_d - c_d)^2                   direct: exact, no cancellation
    (2) d(x, c) = ||x||^2 - 2 x.c + ||c||^2              expanded: x.c for a block of rows is a GEMM

The algorithm (scikit-learn's "lloyd", same conventions and attribute names):

    (3) seed K centres c_1..c_K: greedy k-means++, K random distinct rows, or a given (K, D) array
    (4) assign   label_i = argmin_k d(x_i, c_k)
    (5) update   c_k = mean of {x_i : label_i = k}
    (6) an empty cluster k takes the point farthest from its own centre (that point moves to k),
        so no centre is ever 0/0 = NaN
    (7) repeat (4)-(6) until no label changes, or sum_k ||c_k_new - c_k||^2 <= tol * mean_d var(X[:, d]),
        or max_iter iterations
    inertia = sum_i d(x_i, c_{label_i}), never larger after an iteration than before it: (4) and (5)
    each minimise it over one set of variables with the other fixed (docs/kmeans.md).

metric="cosine" is spherical k-means (word2vec's ``-classes``, faiss's ``spherical=True``): the rows
of X are scaled to unit length, (5) is followed by c_k <- c_k / ||c_k||, and for unit vectors
||x - c||^2 = 2 (1 - cos(x, c)), so (4) picks the most similar centre. Its inertia is reported as
sum_i (1 - cos(x_i, c_{label_i})).

Greedy k-means++ (Arthur & Vassilvitskii; scikit-learn's variant): the first centre is a uniform
random row; each next one is the best of L = 2 + floor(ln K) rows drawn with probability
proportional to closest_i (the squared distance to the nearest centre so far), "best" being the
candidate that leaves the smallest potential sum_i min(closest_i, d(x_i, candidate)).

Backends. On NumPy arrays the work runs in the Numba kernels of `minirnn._kmeans_kernels`
(assignment: one BLAS GEMM per block of 256 rows inside a parallel Numba loop, distances by (2), with
BLAS held to one thread by threadpoolctl; without threadpoolctl, the array code below on NumPy;
k-means++: candidate distances by (1)). On CuPy arrays (backend "cupy") the same algorithm runs as
array code written once against ``xp``: GEMM + argmin by (2) for (4), sort + cumulative sums for the
segment sums of (5), and k-means++ with candidate distances by (2) as well. The random numbers are
drawn on the host by NumPy in the same order on both paths, so the two seedings make the same draws;
they pick the same rows only up to rounding, though: distances by (1) and by (2) differ in the last
bits, and a draw that lands on the edge between two rows of the cumulative distribution, or two
candidates whose potentials tie to rounding, can go either way. A seed reproduces a run on one path
(on the CPU whatever the number of threads: the potentials are summed per block of points); across
paths the tests check the same rows on random data, which is what to expect, not a guarantee.

Memory: X (N, D) once (twice for cosine: the normalised copy; once more on the CPU during k-means++,
a block-transposed copy), labels and distances (N,), and (B, K) scratch per thread (NumPy) or per
block of 2^24 / K rows (array path).
"""
from __future__ import annotations

import contextlib
import math
import numbers
from typing import Callable, NamedTuple

import numpy as np

from . import backend
from . import _kmeans_kernels as _k
from .errors import DataError

try:  # optional: holds BLAS to one thread while the Numba threads each run their own GEMM
    from threadpoolctl import threadpool_limits as _threadpool_limits
except ImportError:  # pragma: no cover - the array path is used instead
    _threadpool_limits = None

__all__ = ["KMeans", "IterationInfo", "kmeans_plusplus", "METRICS"]

METRICS = ("euclidean", "cosine")
BLOCK_ROWS = 256               # rows per GEMM block in the Numba assignment (B)
XP_BLOCK_ELEMENTS = 1 << 24    # (B, K) elements per block in the array-code assignment


class IterationInfo(NamedTuple):
    """What the progress callback receives after each Lloyd iteration."""
    run: int          # which of the n_init runs, from 0
    iteration: int    # from 1
    inertia: float    # of the assignment made in this iteration
    moved: int        # points whose label changed in this iteration (N in the first)
    shift: float      # sum_k ||c_k_new - c_k||^2 of the update that followed (0.0 when converged)


# ----------------------------------------------------------------------------------------------
# input checks
# ----------------------------------------------------------------------------------------------

def check_data(X, name="X"):
    """X as a C-contiguous float32/float64 2-D array of the backend it lives on, or DataError (a ValueError).

    Integer input becomes float64 (as in scikit-learn); float32 and float64 are kept.
    """
    xp = backend.array_module(X)
    try:
        X = xp.asarray(X)
    except (ValueError, TypeError) as e:
        raise DataError(f"{name} must be a 2-D numeric array: {e}") from None
    if X.ndim != 2:
        raise DataError(f"{name} must be a 2-D array (n_samples, n_features), got shape {X.shape}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise DataError(f"{name} is empty: shape {X.shape}")
    if X.dtype.kind not in "biuf":
        raise DataError(f"{name} must be numeric, got dtype {X.dtype}")
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    finite = xp.isfinite(X).all(axis=1)                                        # (N,)
    if not backend.to_numpy(finite.all()):                                     # one read back
        bad = int(backend.to_numpy(xp.flatnonzero(~finite)[0]))
        raise DataError(f"{name} contains NaN or infinity (first in row {bad})")
    return xp.ascontiguousarray(X)


ROW_CHUNK = 1 << 16           # rows per piece in the passes over X that need float64 (no (N, D) float64 copy)


def mean_variance(X) -> float:
    """mean_d var(X[:, d]) in float64, as X.var(axis=0, dtype=float64).mean() computes it, but a
    block of rows at a time: that call makes (N, D) float64 temporaries, twice X's memory or more."""
    xp = backend.array_module(X)
    N = X.shape[0]
    total = xp.zeros(X.shape[1], dtype=xp.float64)                             # (D,)
    for s in range(0, N, ROW_CHUNK):
        total += X[s:s + ROW_CHUNK].sum(axis=0, dtype=xp.float64)
    mean = total / N                                                           # (D,)
    sq = xp.zeros((), dtype=xp.float64)
    for s in range(0, N, ROW_CHUNK):
        sq += ((X[s:s + ROW_CHUNK].astype(xp.float64) - mean) ** 2).sum()
    return float(backend.to_numpy(sq)) / (N * X.shape[1])


def _normalize_rows(X, name="X"):
    """Rows scaled to unit length, for metric='cosine'; an all-zero row has no direction: DataError (a ValueError)."""
    xp = backend.array_module(X)
    norms = xp.sqrt((X * X).sum(axis=1))                                       # (N,)
    if not backend.to_numpy((norms > 0).all()):                                # one read back
        bad = int(backend.to_numpy(xp.flatnonzero(norms == 0)[0]))
        raise DataError(f"metric='cosine' needs non-zero rows, but row {bad} of {name} is all zeros")
    return xp.ascontiguousarray(X / norms[:, None]).astype(X.dtype, copy=False)  # (N, D)


def distinct_rows(X) -> np.ndarray:
    """Indices (into X) of one copy of each distinct row, on the host."""
    Xh = np.ascontiguousarray(backend.to_numpy(X)) + 0.0                       # (N, D), -0.0 -> 0.0
    rows = Xh.view(np.dtype((np.void, Xh.dtype.itemsize * Xh.shape[1]))).ravel()  # (N,) one blob per row
    _, first = np.unique(rows, return_index=True)
    return np.sort(first)


def _too_few_distinct(K, n_distinct):
    return DataError(f"n_clusters={K} is more than the {n_distinct} distinct points in X")


# ----------------------------------------------------------------------------------------------
# (3) seeding: greedy k-means++
# ----------------------------------------------------------------------------------------------

def n_local_trials_for(K: int) -> int:
    """scikit-learn's number of candidates per k-means++ step: 2 + floor(ln K)."""
    return 2 + int(math.log(K))


def _kpp_numba(X, K, first, u):
    """Greedy k-means++ on the CPU: indices (K,) of the chosen rows. u (K-1, L) uniforms in [0, 1).

    The K steps read a copy of X laid out for `_k.kpp_candidates` (blocks of points, transposed),
    made once: X's memory again, for the length of the seeding.
    """
    N = X.shape[0]
    L = u.shape[1]
    XT = _k.transpose_blocks(X)                          # (nb, D, B) a copy of X, block-transposed
    Np = XT.shape[0] * XT.shape[2]                       # N rounded up to whole blocks
    chosen = np.empty(K, dtype=np.int64)                 # (K,)
    chosen[0] = first
    closest = np.zeros(Np, dtype=X.dtype)                # (Np,) squared distance to nearest centre; 0 for padding
    _k.sq_dist_to_row(X, first, closest[:N])
    new_closest = np.empty((L, Np), dtype=X.dtype)       # (L, Np)
    parts = np.empty((XT.shape[0], L))                   # (nb, L) per-block potentials
    cum = np.empty(N)                                    # (N,) float64 running sum of closest
    for c in range(1, K):
        np.cumsum(closest[:N], dtype=np.float64, out=cum)
        if cum[-1] <= 0:  # every point sits on a centre already
            raise _too_few_distinct(K, c)
        # draw L rows with probability closest_i / sum(closest); side="right" never picks a zero
        cand = np.minimum(np.searchsorted(cum, u[c - 1] * cum[-1], side="right"), N - 1)  # (L,)
        with _dynamic():
            _k.kpp_candidates(XT, np.ascontiguousarray(X[cand]), closest, new_closest, parts)
        best = int(np.argmin(parts.sum(axis=0)))
        chosen[c] = cand[best]
        closest[:] = new_closest[best]
    return chosen


def _kpp_xp(X, K, first, u):
    """Greedy k-means++ in array code (any xp): same steps and random numbers as `_kpp_numba`."""
    xp = backend.array_module(X)
    N = X.shape[0]
    x_sq = (X * X).sum(axis=1)                                                 # (N,)
    u = xp.asarray(u)                                                          # (K-1, L)
    chosen = xp.empty(K, dtype=xp.int64)                                       # (K,)
    chosen[0] = first
    closest = xp.maximum(x_sq - 2 * (X @ X[first]) + x_sq[first], 0)           # (N,)
    totals = xp.empty(K, dtype=xp.float64)                                     # (K,) potential before step c
    totals[0] = 1.0
    for c in range(1, K):
        cum = xp.cumsum(closest, dtype=xp.float64)                             # (N,)
        totals[c] = cum[-1]
        cand = xp.minimum(xp.searchsorted(cum, u[c - 1] * cum[-1], side="right"), N - 1)  # (L,)
        d = x_sq[cand][:, None] - 2 * (X[cand] @ X.T) + x_sq[None, :]          # (L, N) by (2)
        d = xp.minimum(xp.maximum(d, 0), closest[None, :])                     # (L, N)
        best = xp.argmin(d.sum(axis=1, dtype=xp.float64))
        chosen[c] = cand[best]
        closest = d[best]                                                      # (N,)
    bad = xp.flatnonzero(totals <= 0)          # checked once at the end: no device sync per step
    if bad.size:
        raise _too_few_distinct(K, int(backend.to_numpy(bad[0])))
    return chosen


def kmeans_plusplus(X, n_clusters, *, seed=None, n_local_trials=None):
    """Greedy k-means++ seeding alone: returns (centers (K, D), indices (K,)) like scikit-learn's.

    X is used as given (normalise it first for cosine). Raises ValueError when X has fewer than
    n_clusters distinct rows.
    """
    X = check_data(X)
    K = _check_k(n_clusters, X.shape[0])
    rng = np.random.default_rng(seed)
    idx = _seed_kpp(X, K, rng, n_local_trials)
    return X[idx], idx


def _seed_kpp(X, K, rng, n_local_trials=None):
    L = n_local_trials or n_local_trials_for(K)
    first = int(rng.integers(X.shape[0]))
    u = rng.random((K - 1, L))                           # (K-1, L) all the draws, host-side, up front
    if backend.is_device_array(X):
        return _kpp_xp(X, K, first, u)
    return _kpp_numba(X, K, first, u)


# ----------------------------------------------------------------------------------------------
# (4) assignment and (5) segment sums: the Numba implementation and the array-code implementation
# ----------------------------------------------------------------------------------------------

def _n_threads() -> int:
    import numba
    return numba.get_num_threads()


def _dynamic():
    """Parallel loops hand out one iteration at a time to whichever thread is free (OpenMP's dynamic
    schedule): on a busy machine a thread the system pauses delays one block, not half the work."""
    import numba
    return numba.parallel_chunksize(1)


class NumbaOps:
    """CPU kernels. Call inside `single_threaded_blas()`: each Numba thread runs its own GEMM."""

    def __init__(self, X, K):
        self.bufs = np.empty((_n_threads(), min(BLOCK_ROWS, X.shape[0]), K), dtype=X.dtype)  # (P, B, K)

    def assign(self, X, centers, x_sq, labels, min_d):
        if self.bufs.shape[0] < _n_threads():            # one (B, K) scratch per thread id
            self.bufs = np.empty((_n_threads(),) + self.bufs.shape[1:], dtype=self.bufs.dtype)
        Ct = np.ascontiguousarray(centers.T)                                   # (D, K)
        c_sq = np.einsum("kd,kd->k", centers, centers)                         # (K,)
        with _dynamic():
            _k.assign_gemm(X, Ct, c_sq, x_sq, self.bufs, labels, min_d)

    def sums(self, X, labels, K):
        sums = np.empty((K, X.shape[1]))                                       # (K, D) float64
        counts = np.empty(K, dtype=np.int64)                                   # (K,)
        _k.cluster_sums(X, labels, sums, counts)
        return sums, counts


class ArrayOps:
    """The same two steps in array code for any xp (CuPy on the GPU; NumPy in tests and as fallback)."""

    def __init__(self, X, K):
        self.block = max(1, min(X.shape[0], XP_BLOCK_ELEMENTS // K))          # B rows per GEMM

    def assign(self, X, centers, x_sq, labels, min_d):
        xp = backend.array_module(X)
        Ct = centers.T                                                         # (D, K)
        c_sq = (centers * centers).sum(axis=1)                                 # (K,)
        N = X.shape[0]
        for s in range(0, N, self.block):
            e = min(N, s + self.block)
            scores = X[s:e] @ Ct                                               # (B, K) x.c
            scores *= -2
            scores += c_sq                                                     # (B, K) ||c||^2 - 2 x.c
            lab = scores.argmin(axis=1)                                        # (B,)
            labels[s:e] = lab
            best = xp.take_along_axis(scores, lab[:, None], axis=1)[:, 0]      # (B,)
            min_d[s:e] = xp.maximum(best + x_sq[s:e], 0)

    def sums(self, X, labels, K):
        """Segment sums: sort the rows by label, take cumulative sums, difference at segment ends."""
        xp = backend.array_module(X)
        counts = xp.bincount(labels, minlength=K).astype(xp.int64)             # (K,)
        order = xp.argsort(labels)                                             # (N,)
        csum = xp.zeros((X.shape[0] + 1, X.shape[1]), dtype=xp.float64)        # (N+1, D)
        xp.cumsum(X[order], axis=0, dtype=xp.float64, out=csum[1:])
        ends = xp.cumsum(counts)                                               # (K,)
        sums = csum[ends] - csum[ends - counts]                                # (K, D)
        return sums, counts


@contextlib.contextmanager
def single_threaded_blas():
    """BLAS held to one thread for the block (threadpoolctl), so Numba's threads don't oversubscribe."""
    if _threadpool_limits is None:
        yield
    else:
        with _threadpool_limits(limits=1, user_api="blas"):
            yield


def _ops_for(X, K):
    if backend.is_device_array(X) or _threadpool_limits is None:
        return ArrayOps(X, K)
    return NumbaOps(X, K)


# ----------------------------------------------------------------------------------------------
# (5)-(6) centre update with empty-cluster relocation
# ----------------------------------------------------------------------------------------------

def _relocate_empty(X, sums, counts, labels, min_d):
    """(6) Each empty cluster takes the farthest point (from its own centre) of a cluster of 2 or more.

    Works on host copies (empty clusters are rare) and returns them: sums, counts, labels, min_d.
    """
    sums, counts = backend.to_numpy(sums).copy(), backend.to_numpy(counts).copy()
    labels, min_d = backend.to_numpy(labels).copy(), backend.to_numpy(min_d).copy()
    empty = np.flatnonzero(counts == 0)
    j = 0
    for p in np.argsort(-min_d, kind="stable"):          # farthest first
        if j == len(empty) or min_d[p] <= 0:             # done, or every other point sits on its centre
            break
        a = labels[p]
        if counts[a] < 2:                                # moving it would empty its own cluster
            continue
        x = backend.to_numpy(X[p]).astype(np.float64)    # (D,)
        sums[a] -= x
        counts[a] -= 1
        sums[empty[j]] = x
        counts[empty[j]] = 1
        labels[p] = empty[j]
        min_d[p] = 0
        j += 1
    return sums, counts, labels, min_d


def _update_centers(X, sums, counts, labels, min_d, old_centers, spherical, relocate=False):
    """(5)-(6): new centres (K, D) in X's dtype. With relocate (the caller saw an empty cluster),
    (6) first, on the host; labels/min_d then change in place if a point was moved. Without it, an
    empty cluster keeps its old centre."""
    xp = backend.array_module(X)
    if relocate:
        sums, counts, lab_h, min_h = _relocate_empty(X, sums, counts, labels, min_d)
        sums, counts = xp.asarray(sums), xp.asarray(counts)
        labels[...] = xp.asarray(lab_h)
        min_d[...] = xp.asarray(min_h)
    filled = counts > 0                                                        # (K,)
    centers = sums / xp.maximum(counts, 1)[:, None]                            # (K, D) float64
    if spherical:                                                              # c_k <- c_k / ||c_k||
        norms = xp.sqrt((centers * centers).sum(axis=1))                       # (K,)
        filled &= norms > 0
        centers = centers / xp.where(norms > 0, norms, 1)[:, None]
    centers = xp.where(filled[:, None], centers, old_centers)                  # still empty: keep old
    return xp.ascontiguousarray(centers.astype(X.dtype))                       # (K, D)


# ----------------------------------------------------------------------------------------------
# (4)-(7) the Lloyd loop, written once for both implementations
# ----------------------------------------------------------------------------------------------

def lloyd(X, centers, *, max_iter, tol_abs, spherical=False, ops=None, callback=None, run=0):
    """Lloyd iterations from `centers`. Returns (centers (K, D), labels (N,), inertia, n_iter).

    X must already be validated (and unit-normalised when spherical). `ops` chooses the
    implementation (NumbaOps or ArrayOps; default: by X's backend). The returned labels are always
    the assignment to the returned centres; the inertia is in squared Euclidean units (the caller
    halves it for cosine; the callback gets it already halved).
    """
    report = 0.5 if spherical else 1.0                  # ||x - c||^2 = 2 (1 - cos) on the sphere
    xp = backend.array_module(X)
    N, K = X.shape[0], centers.shape[0]
    ops = ops or _ops_for(X, K)
    centers = xp.ascontiguousarray(centers.astype(X.dtype))                    # (K, D)
    x_sq = (X * X).sum(axis=1)                                                 # (N,)
    labels = xp.full(N, -1, dtype=xp.int64)                                    # (N,)
    prev = xp.empty(N, dtype=xp.int64)                                         # (N,)
    min_d = xp.empty(N, dtype=X.dtype)                                         # (N,)
    stable = False
    n_iter = 0
    for it in range(1, max_iter + 1):
        n_iter = it
        labels, prev = prev, labels                      # reuse the two label buffers
        ops.assign(X, centers, x_sq, labels, min_d)      # (4)
        sums, counts = ops.sums(X, labels, K)            # (5)
        new_centers = _update_centers(X, sums, counts, labels, min_d, centers, spherical)  # (5)
        # the iteration's one read back to the host (on a GPU, one synchronisation): four numbers
        moved, inertia, n_empty, shift = backend.to_numpy(xp.stack([
            (labels != prev).sum().astype(xp.float64), min_d.sum(dtype=xp.float64),
            (counts == 0).sum().astype(xp.float64), ((new_centers - centers) ** 2).sum(dtype=xp.float64)]))
        moved, inertia, shift = int(moved), float(inertia), float(shift)
        if moved == 0:                                   # (7) converged: the update would change nothing
            stable = True
            if callback is not None:
                callback(IterationInfo(run, it, inertia * report, 0, 0.0))
            break
        if n_empty > 0:                                  # (6), rare: relocate on the host, then read again
            new_centers = _update_centers(X, sums, counts, labels, min_d, centers, spherical, relocate=True)
            shift = float(backend.to_numpy(((new_centers - centers) ** 2).sum(dtype=xp.float64)))
        centers = new_centers
        if callback is not None:
            callback(IterationInfo(run, it, inertia * report, moved, shift))
        if shift <= tol_abs:                             # (7) centres barely moved
            break
    if not stable:                                       # labels for the final centres
        ops.assign(X, centers, x_sq, labels, min_d)
        inertia = float(backend.to_numpy(min_d.sum(dtype=xp.float64)))
    return centers, labels, inertia, n_iter


# ----------------------------------------------------------------------------------------------
# the estimator
# ----------------------------------------------------------------------------------------------

def _check_k(n_clusters, n_samples):
    if isinstance(n_clusters, bool) or not isinstance(n_clusters, numbers.Integral) or n_clusters < 1:
        raise ValueError(f"n_clusters must be a positive integer, got {n_clusters!r}")
    if n_clusters > n_samples:
        raise DataError(f"n_clusters={n_clusters} is more than the {n_samples} points in X")
    return int(n_clusters)


class KMeans:
    """k-means with scikit-learn's interface: ``KMeans(8).fit(X).labels_``.

    Parameters
    ----------
    n_clusters : int, K.
    init : "k-means++" (greedy, default), "random" (K distinct rows) or an array (K, D) of centres.
    n_init : int or "auto"; runs from different seeds, the lowest inertia kept. "auto" is 1 for
        k-means++ and a given array, 10 for "random" (scikit-learn's rule).
    max_iter : int, Lloyd iterations per run at most (default 300).
    tol : float >= 0; stop when sum_k ||c_k_new - c_k||^2 <= tol * (mean variance of X's columns).
        tol=0 runs until no label changes (or max_iter).
    seed : int or None, for the seeding (scikit-learn's ``random_state``).
    metric : "euclidean" or "cosine" (spherical k-means: unit rows, unit centres).
    callback : callable(IterationInfo) or None, called after every Lloyd iteration.

    Attributes after `fit`: ``cluster_centers_`` (K, D) in X's dtype and backend (unit rows for
    cosine), ``labels_`` (N,) int64, ``inertia_`` (sum of squared distances; for cosine, sum of
    1 - cos), ``n_iter_`` (iterations of the kept run), ``n_features_in_``.
    """

    def __init__(self, n_clusters=8, *, init="k-means++", n_init="auto", max_iter=300, tol=1e-4,
                 seed=None, metric="euclidean", callback: Callable[[IterationInfo], None] | None = None):
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.seed = seed
        self.metric = metric
        self.callback = callback

    # -- checks ---------------------------------------------------------------------------------
    def _check_params(self, X):
        if self.metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {self.metric!r}")
        K = _check_k(self.n_clusters, X.shape[0])
        if isinstance(self.init, str):
            if self.init not in ("k-means++", "random"):
                raise ValueError(f"init must be 'k-means++', 'random' or an array, got {self.init!r}")
            init = self.init
        else:
            init = check_data(backend.to_numpy(self.init), name="init")
            if init.shape != (K, X.shape[1]):
                raise ValueError(f"init array must have shape (n_clusters, n_features) = "
                                 f"{(K, X.shape[1])}, got {init.shape}")
        n_init = self.n_init
        if isinstance(n_init, str) and n_init == "auto":
            n_init = 10 if isinstance(init, str) and init == "random" else 1
        if isinstance(n_init, bool) or not isinstance(n_init, numbers.Integral) or n_init < 1:
            raise ValueError(f"n_init must be a positive integer or 'auto', got {self.n_init!r}")
        if not isinstance(init, str):
            n_init = 1                                   # a given start gives the same run every time
        if isinstance(self.max_iter, bool) or not isinstance(self.max_iter, numbers.Integral) \
                or self.max_iter < 1:
            raise ValueError(f"max_iter must be a positive integer, got {self.max_iter!r}")
        if not isinstance(self.tol, numbers.Real) or not (self.tol >= 0) or math.isinf(self.tol):
            raise ValueError(f"tol must be a finite number >= 0, got {self.tol!r}")
        return K, init, int(n_init)

    def _prepare(self, X, name="X"):
        """Validated X on the right backend; unit rows for cosine."""
        if backend.get_backend() == "cupy" and not backend.is_device_array(X):
            X = backend.to_device(np.asarray(X))
        X = check_data(X, name=name)
        return _normalize_rows(X, name) if self.metric == "cosine" else X

    # -- fit / predict --------------------------------------------------------------------------
    def fit(self, X, y=None):
        """Cluster X (N, D); returns self. `y` is ignored (scikit-learn signature)."""
        if self.metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {self.metric!r}")
        X = self._prepare(X)
        xp = backend.array_module(X)
        K, init, n_init = self._check_params(X)
        spherical = self.metric == "cosine"
        tol_abs = float(self.tol) * mean_variance(X)
        rng = np.random.default_rng(self.seed)
        if not (isinstance(init, str) and init == "k-means++"):
            candidates = distinct_rows(X)                # k-means++ finds this out for free; these can't
            if K > len(candidates):
                raise _too_few_distinct(K, len(candidates))
        if not isinstance(init, str):
            init = xp.asarray(init, dtype=X.dtype)
            if spherical:
                init = _normalize_rows(init, "init")
        best = None
        with single_threaded_blas():
            ops = _ops_for(X, K)
            for run in range(n_init):
                if isinstance(init, str) and init == "k-means++":
                    centers = X[_seed_kpp(X, K, rng)]                          # (K, D)
                elif isinstance(init, str):                                    # "random"
                    centers = X[xp.asarray(rng.choice(candidates, K, replace=False))]
                else:
                    centers = init
                result = lloyd(X, centers, max_iter=int(self.max_iter), tol_abs=tol_abs,
                               spherical=spherical, ops=ops, callback=self.callback, run=run)
                if best is None or result[2] < best[2]:
                    best = result
        centers, labels, inertia, n_iter = best
        self.cluster_centers_ = centers
        self.labels_ = labels
        self.inertia_ = inertia / 2 if spherical else inertia   # ||x - c||^2 = 2 (1 - cos) on the sphere
        self.n_iter_ = n_iter
        self.n_features_in_ = X.shape[1]
        return self

    def _distances(self, X):
        if not hasattr(self, "cluster_centers_"):
            raise ValueError("this KMeans is not fitted yet: call fit(X) first")
        X = self._prepare(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but KMeans was fitted with "
                             f"{self.n_features_in_}")
        xp = backend.array_module(X)
        centers = backend.to_module(self.cluster_centers_, xp, dtype=X.dtype)  # fitted on either side
        labels = xp.empty(X.shape[0], dtype=xp.int64)                          # (N,)
        min_d = xp.empty(X.shape[0], dtype=X.dtype)                            # (N,)
        with single_threaded_blas():
            _ops_for(X, centers.shape[0]).assign(X, centers, (X * X).sum(axis=1), labels, min_d)
        return labels, min_d

    def predict(self, X):
        """Index of the nearest fitted centre for each row of X (N, D): (N,) int64."""
        return self._distances(X)[0]

    def fit_predict(self, X, y=None):
        """fit(X), then the labels of X: (N,) int64."""
        return self.fit(X).labels_

    def score(self, X, y=None):
        """Minus the inertia of X against the fitted centres (scikit-learn's convention)."""
        d = self._distances(X)[1]
        total = float(backend.to_numpy(d.sum(dtype=np.float64)))
        return -(total / 2 if self.metric == "cosine" else total)
