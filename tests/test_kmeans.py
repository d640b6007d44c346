"""k-means: kernels against their NumPy references, the Numba path against the array (GPU) path,
blob recovery, monotone inertia, cosine mode, empty clusters, bad input, and scikit-learn parity."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minirnn import _kmeans_kernels as K
from minirnn import backend
from minirnn.kmeans import (ArrayOps, KMeans, NumbaOps, _kpp_numba, _kpp_xp, _relocate_empty,
                            kmeans_plusplus, lloyd, single_threaded_blas)


def blobs(rng, n_per=40, k=6, d=5, spread=0.05, scale=10.0, dtype=np.float64):
    """k well-separated Gaussian blobs: (X (k*n_per, d), true labels)."""
    centers = rng.standard_normal((k, d)) * scale                     # (k, d)
    X = np.concatenate([c + spread * rng.standard_normal((n_per, d)) for c in centers])
    y = np.repeat(np.arange(k), n_per)
    perm = rng.permutation(len(X))
    return X[perm].astype(dtype), y[perm]


def same_partition(a, b):
    """True when labelings a and b split the points the same way (up to renaming the clusters)."""
    pairs = set(zip(np.asarray(a).tolist(), np.asarray(b).tolist()))
    return len(pairs) == len(set(np.asarray(a).tolist())) == len(set(np.asarray(b).tolist()))


# ----------------------------------------------------------------------------------------------
# kernels == NumPy references
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_assignment_kernels_match_reference(rng, dtype):
    N, D, Kc = 301, 7, 13                       # N not a multiple of the block size
    X = rng.standard_normal((N, D)).astype(dtype)
    C = rng.standard_normal((Kc, D)).astype(dtype)
    ref_labels, ref_d = K.assign_ref(X, C)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    for B in (1, 16, 256):                      # blocks smaller than, around and beyond N / P
        labels = np.empty(N, np.int64)
        min_d = np.empty(N, dtype)
        bufs = np.empty((2, B, Kc), dtype)
        with single_threaded_blas():
            K.assign_gemm(X, np.ascontiguousarray(C.T), (C * C).sum(1), (X * X).sum(1), bufs,
                          labels, min_d)
        np.testing.assert_array_equal(labels, ref_labels)
        np.testing.assert_allclose(min_d, ref_d, rtol=tol, atol=tol)
    labels = np.empty(N, np.int64)
    min_d = np.empty(N, dtype)
    K.assign_direct(X, C, labels, min_d)
    np.testing.assert_array_equal(labels, ref_labels)
    np.testing.assert_allclose(min_d, ref_d, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cluster_sums_matches_reference(rng, dtype):
    X = rng.standard_normal((97, 4)).astype(dtype)
    labels = rng.integers(0, 6, size=97)
    labels[labels == 3] = 2                     # cluster 3 empty
    ref_s, ref_n = K.cluster_sums_ref(X, labels, 6)
    sums, counts = np.full((6, 4), np.nan), np.full(6, -1, np.int64)
    K.cluster_sums(X, labels, sums, counts)
    np.testing.assert_allclose(sums, ref_s, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(counts, ref_n)
    assert ref_n[3] == 0 and np.all(ref_s[3] == 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kpp_kernels_match_reference(rng, dtype):
    X = rng.standard_normal((83, 6)).astype(dtype)
    closest = np.empty(83, dtype)
    K.sq_dist_to_row(X, 5, closest)
    np.testing.assert_allclose(closest, K.sq_dist_to_row_ref(X, 5), rtol=1e-5)
    assert closest[5] == 0
    cand = np.array([0, 17, 17, 82])            # a repeated candidate scores the same twice
    XT = K.transpose_blocks(X, 32)              # 3 blocks of 32 points, the last padded with 13
    assert XT.shape == (3, 6, 32) and np.array_equal(XT[1, :, 4], X[36]) and not XT[2, :, 19:].any()
    padded = np.zeros(96, dtype)
    padded[:83] = closest
    new_closest, parts = np.full((4, 96), np.nan, dtype), np.empty((3, 4))
    K.kpp_candidates(XT, X[cand], padded, new_closest, parts)
    ref_new, ref_pot = K.kpp_candidates_ref(X, cand, closest)
    np.testing.assert_allclose(new_closest[:, :83], ref_new, rtol=1e-5)
    assert not new_closest[:, 83:].any()        # padding: distance 0, adds nothing to the potentials
    pot = parts.sum(axis=0)
    np.testing.assert_allclose(pot, ref_pot, rtol=1e-5)
    assert pot[1] == pot[2] and np.all(new_closest[:, :83] <= closest)


def test_kmeans_plusplus_numba_equals_array_code(rng):
    X = rng.standard_normal((500, 8))
    u = rng.random((29, 5))
    a = _kpp_numba(X, 30, 7, u)
    b = _kpp_xp(X, 30, 7, u)
    np.testing.assert_array_equal(a, b)
    assert a[0] == 7 and len(set(a.tolist())) == 30


def test_kmeans_plusplus_spreads_over_blobs(rng):
    X, y = blobs(rng, k=8)
    centers, idx = kmeans_plusplus(X, 8, seed=3)
    assert len(set(y[idx].tolist())) == 8      # one seed per blob
    np.testing.assert_array_equal(centers, X[idx])


# ----------------------------------------------------------------------------------------------
# the whole algorithm
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_blobs_recovered_exactly(xp, rng, dtype, metric):
    X, y = blobs(rng, dtype=dtype)
    km = KMeans(6, seed=0, metric=metric).fit(xp.asarray(X))
    labels = backend.to_numpy(km.labels_)
    assert same_partition(labels, y)
    assert km.cluster_centers_.dtype == dtype and backend.array_module(km.cluster_centers_) is xp
    np.testing.assert_array_equal(backend.to_numpy(km.predict(xp.asarray(X))), labels)
    if metric == "euclidean":                  # centres are the blob means
        for k in range(6):
            np.testing.assert_allclose(backend.to_numpy(km.cluster_centers_)[k],
                                       X[labels == k].mean(0), rtol=1e-4, atol=1e-4)
        assert km.inertia_ < len(X) * 5 * 0.05 ** 2 * 2


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numba_path_equals_array_path(rng, dtype):
    """The CPU kernels and the array code the GPU runs give the same clustering from the same start."""
    X = rng.standard_normal((400, 6)).astype(dtype)
    start = X[:12].copy()
    with single_threaded_blas():
        a = lloyd(X, start, max_iter=50, tol_abs=0.0, ops=NumbaOps(X, 12))
        b = lloyd(X, start, max_iter=50, tol_abs=0.0, ops=ArrayOps(X, 12))
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_allclose(a[0], b[0], rtol=1e-5, atol=1e-6)
    assert a[3] == b[3] and a[2] == pytest.approx(b[2], rel=1e-5)
    sums_a, counts_a = NumbaOps(X, 12).sums(X, a[1], 12)
    sums_b, counts_b = ArrayOps(X, 12).sums(X, a[1], 12)
    np.testing.assert_allclose(sums_a, sums_b, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(counts_a, counts_b)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(12, 80), d=st.integers(1, 5),
       k=st.integers(1, 10), metric=st.sampled_from(["euclidean", "cosine"]),
       array_path=st.booleans())
def test_inertia_never_rises(seed, n, d, k, metric, array_path):
    r = np.random.default_rng(seed)
    X = r.standard_normal((n, d)) * r.uniform(0.1, 10)
    X[: n // 4] = X[0]                          # duplicates make ties and empty clusters likelier
    seen = []
    start = X[r.choice(n, k)] if r.random() < 0.3 else "k-means++"   # repeats -> empty clusters
    km = KMeans(k, init=start, seed=seed, tol=0.0, metric=metric, callback=seen.append)
    U = X if metric == "euclidean" else X / np.linalg.norm(X, axis=1, keepdims=True)
    if k > len(np.unique(U, axis=0)):
        with pytest.raises(ValueError, match="distinct"):
            km.fit(X)
        return
    if array_path:
        import minirnn.kmeans as kmeans_mod
        saved, kmeans_mod._ops_for = kmeans_mod._ops_for, lambda X, K: ArrayOps(X, K)
        try:
            km.fit(X)
        finally:
            kmeans_mod._ops_for = saved
    else:
        km.fit(X)
    inertia = [s.inertia for s in seen]
    assert all(b <= a * (1 + 1e-9) + 1e-9 for a, b in zip(inertia, inertia[1:])), inertia
    assert km.inertia_ <= inertia[-1] * (1 + 1e-9) + 1e-9
    assert np.isfinite(km.cluster_centers_).all()
    assert set(np.unique(km.labels_).tolist()) <= set(range(k))


def test_cosine_mode_is_spherical(rng):
    X = rng.standard_normal((300, 5)) * rng.uniform(0.1, 20, size=(300, 1))  # lengths must not matter
    km = KMeans(7, metric="cosine", seed=1).fit(X)
    C = km.cluster_centers_
    np.testing.assert_allclose(np.linalg.norm(C, axis=1), 1.0, rtol=1e-12)
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    cos = U @ C.T                                                          # (N, K)
    np.testing.assert_array_equal(km.labels_, cos.argmax(1))
    assert km.inertia_ == pytest.approx((1 - cos.max(1)).sum(), rel=1e-9)
    km2 = KMeans(7, metric="cosine", seed=1).fit(X * 3.0)                 # scale-invariant
    np.testing.assert_array_equal(km2.labels_, km.labels_)
    for k in range(7):                                                    # centre = normalised mean
        m = U[km.labels_ == k].mean(0)
        np.testing.assert_allclose(C[k], m / np.linalg.norm(m), atol=1e-9)


def test_empty_cluster_reseeded_from_farthest_point(rng):
    X, y = blobs(rng, k=3, n_per=30)
    far = np.full((1, X.shape[1]), 1e4)                 # a centre no point is nearest to
    start = np.concatenate([X[[np.flatnonzero(y == c)[0] for c in range(3)]], far, far])
    km = KMeans(5, init=start, tol=0.0).fit(X)
    assert np.isfinite(km.cluster_centers_).all()
    counts = np.bincount(km.labels_, minlength=5)
    assert (counts > 0).all(), counts                   # both empty clusters were refilled
    assert not np.any(np.all(km.cluster_centers_ == 1e4, axis=1))


def test_relocate_empty_takes_farthest_point():
    X = np.array([[0.0], [1.0], [10.0], [5.0]])
    labels = np.array([0, 0, 0, 2])
    min_d = np.array([9.0, 4.0, 25.0, 0.0])             # point 2 is farthest from its centre
    sums, counts = K.cluster_sums_ref(X, labels, 3)
    sums, counts, labels, min_d = _relocate_empty(X, sums, counts, labels, min_d)
    assert labels.tolist() == [0, 0, 1, 2] and counts.tolist() == [2, 1, 1]
    np.testing.assert_array_equal(sums[:, 0], [1.0, 10.0, 5.0])
    assert min_d[2] == 0


def test_duplicate_start_centres_never_nan(rng):
    X = rng.standard_normal((60, 3))
    km = KMeans(4, init=np.repeat(X[:1], 4, axis=0), tol=0.0).fit(X)
    assert np.isfinite(km.cluster_centers_).all()
    assert len(np.unique(km.labels_)) == 4


def test_seed_reproducible_and_n_init_keeps_best(rng):
    X = rng.standard_normal((300, 4))
    a = KMeans(9, seed=5).fit(X)
    b = KMeans(9, seed=5).fit(X)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    finals = {}
    km = KMeans(9, seed=5, n_init=4, callback=lambda s: finals.__setitem__(s.run, s.inertia)).fit(X)
    assert sorted(finals) == [0, 1, 2, 3]
    assert km.inertia_ <= min(finals.values()) * (1 + 1e-12)
    assert km.inertia_ == pytest.approx(-km.score(X))
    np.testing.assert_array_equal(KMeans(9, seed=5).fit_predict(X), a.labels_)


def test_random_init(rng):
    X, y = blobs(rng, k=4)
    km = KMeans(4, init="random", seed=0).fit(X)        # n_init="auto" -> 10 runs
    assert same_partition(km.labels_, y)


# ----------------------------------------------------------------------------------------------
# bad input
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("X, match", [
    (np.zeros(5), "2-D"),
    (np.zeros((2, 3, 4)), "2-D"),
    (np.zeros((0, 3)), "empty"),
    (np.array([[1.0, np.nan], [0.0, 1.0]]), "NaN or infinity"),
    (np.array([[1.0, 2.0], [np.inf, 1.0]]), "NaN or infinity"),
    (np.array([["a", "b"], ["c", "d"]]), "numeric"),
])
def test_bad_data(X, match):
    with pytest.raises(ValueError, match=match):
        KMeans(1).fit(X)


@pytest.mark.parametrize("init", ["k-means++", "random", "array"])
def test_more_clusters_than_distinct_points(init):
    X = np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 0.0], [1.0, 1.0], [2.0, 2.0]])
    start = np.arange(8.0).reshape(4, 2) if init == "array" else init
    with pytest.raises(ValueError, match="3 distinct points"):
        KMeans(4, init=start, seed=0).fit(X)
    with pytest.raises(ValueError, match="5 points"):
        KMeans(6).fit(X)


@pytest.mark.parametrize("kwargs, match", [
    ({"n_clusters": 0}, "positive integer"),
    ({"n_clusters": 2.5}, "positive integer"),
    ({"n_clusters": True}, "positive integer"),
    ({"n_clusters": 2, "metric": "manhattan"}, "metric"),
    ({"n_clusters": 2, "init": "kmeans"}, "init"),
    ({"n_clusters": 2, "init": np.zeros((3, 2))}, "shape"),
    ({"n_clusters": 2, "n_init": 0}, "n_init"),
    ({"n_clusters": 2, "max_iter": 0}, "max_iter"),
    ({"n_clusters": 2, "tol": -1.0}, "tol"),
])
def test_bad_parameters(rng, kwargs, match):
    with pytest.raises(ValueError, match=match):
        KMeans(**kwargs).fit(rng.standard_normal((10, 2)))


def test_predict_checks(rng):
    with pytest.raises(ValueError, match="not fitted"):
        KMeans(2).predict(np.zeros((3, 2)))
    km = KMeans(2, seed=0).fit(rng.standard_normal((10, 2)))
    with pytest.raises(ValueError, match="features"):
        km.predict(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="all zeros"):
        KMeans(2, metric="cosine").fit(np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]]))


# ----------------------------------------------------------------------------------------------
# scikit-learn parity (optional)
# ----------------------------------------------------------------------------------------------

def test_matches_scikit_learn_lloyd_from_same_start(rng):
    sk = pytest.importorskip("sklearn.cluster", reason="scikit-learn not installed (optional reference)")
    X = rng.standard_normal((500, 6))
    start = X[rng.choice(500, 15, replace=False)]
    ours = KMeans(15, init=start, tol=0.0, max_iter=100).fit(X)
    ref = sk.KMeans(15, init=start, n_init=1, tol=0.0, max_iter=100, algorithm="lloyd").fit(X)
    np.testing.assert_array_equal(ours.labels_, ref.labels_)
    np.testing.assert_allclose(ours.cluster_centers_, ref.cluster_centers_, rtol=1e-9, atol=1e-12)
    assert ours.inertia_ == pytest.approx(ref.inertia_, rel=1e-9)
    assert ours.n_iter_ == ref.n_iter_


def test_mean_variance_in_blocks_equals_numpy(rng, monkeypatch):
    import minirnn.kmeans as km
    monkeypatch.setattr(km, "ROW_CHUNK", 7)                 # many blocks, the last one short
    X = (rng.standard_normal((60, 5)) * 3 + 10).astype(np.float32)
    np.testing.assert_allclose(km.mean_variance(X), X.var(axis=0, dtype=np.float64).mean(), rtol=1e-12)


def test_kmeans_plusplus_is_the_same_whatever_the_thread_count(rng):
    import numba
    X = rng.standard_normal((3000, 12)).astype(np.float32)  # 3 blocks of k-means++'s transposed copy
    before = numba.get_num_threads()
    try:
        runs = []
        for n in sorted({1, numba.config.NUMBA_NUM_THREADS}):
            numba.set_num_threads(n)
            runs.append(kmeans_plusplus(X, 40, seed=5)[1])
    finally:
        numba.set_num_threads(before)
    assert all(np.array_equal(runs[0], r) for r in runs)
