"""Skip-gram word2vec: sampling tables, the Numba kernel against its NumPy reference, training, bad inputs."""
import math

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minirnn import _word2vec_kernels as kernels
from minirnn.errors import UsageError
from minirnn.keyedvectors import KeyedVectors
from minirnn.word2vec import (Word2Vec, _chunk_bounds, keep_probabilities, neg_log_sigmoid, noise_table,
                              sgns_block_reference, sgns_pair_reference)


# ---- sampling tables ----------------------------------------------------------------------------
def test_keep_probabilities_formula():
    counts = np.array([1000, 100, 10, 1])
    p = keep_probabilities(counts, sample=1e-2)
    t = 1e-2 * counts.sum()  # 11.11
    np.testing.assert_allclose(p[0], (math.sqrt(1000 / t) + 1) * t / 1000)
    np.testing.assert_allclose(p[1], (math.sqrt(100 / t) + 1) * t / 100)
    assert p[2] == 1.0 and p[3] == 1.0  # rare words always kept
    assert np.all(np.diff(p) >= 0)  # the more frequent, the more often dropped
    np.testing.assert_array_equal(keep_probabilities(counts, 0), 1.0)


def test_subsampling_drops_frequent_words_at_that_rate(rng):
    counts = np.array([5000, 50])
    p = keep_probabilities(counts, 1e-3)
    draws = rng.random(200_000) < p[0]
    assert abs(draws.mean() - p[0]) < 0.005 and p[0] < 0.1


@pytest.mark.parametrize("size", [1000, 12345])
def test_noise_table_distribution(size):
    counts = np.array([900, 300, 100, 27, 8, 1])
    table = noise_table(counts, size=size)
    assert table.dtype == np.int32 and table.shape == (size,)
    share = np.bincount(table, minlength=len(counts)) / size  # (V,)
    want = counts ** 0.75 / (counts ** 0.75).sum()
    np.testing.assert_allclose(share, want, atol=1.0 / size + 1e-12)
    assert np.all(np.diff(table) >= 0)  # word ids in blocks, frequent words first

@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 10 ** 6), min_size=1, max_size=300), st.integers(1, 5000))
def test_noise_table_is_its_definition_entry_by_entry(counts, size):
    # built by repeating each word, it must equal the definition: entry s holds the first word whose
    # cumulative share exceeds (s + 0.5)/S, written here as one searchsorted over every entry
    w = np.asarray(counts, dtype=np.float64) ** 0.75
    cum = np.cumsum(w) / w.sum()
    want = np.minimum(np.searchsorted(cum, (np.arange(size) + 0.5) / size, side="right"), len(counts) - 1)
    np.testing.assert_array_equal(noise_table(counts, size=size), want)



def test_chunk_bounds_cut_at_sentence_ends():
    ids = np.array([3, 4, -1, 5, 6, 7, -1, 1, -1, 2, 2, 2, -1], dtype=np.int32)
    b = _chunk_bounds(ids, 3)
    assert b[0] == 0 and b[-1] == len(ids) and np.all(np.diff(b) > 0)
    assert all(ids[x - 1] == -1 for x in b[1:])


# ---- kernel against the NumPy reference ---------------------------------------------------------
def _tiny_case(seed=0, V=7, D=5, n=40):
    r = np.random.default_rng(seed)
    ids = r.integers(0, V, n).astype(np.int32)  # (n,)
    ids[[9, 10, 18, 28, n - 1]] = -1  # sentence ends (one empty sentence)
    win = r.integers(1, 4, n).astype(np.int32)  # (n,)
    syn0 = (r.standard_normal((V, D)) * 0.3).astype(np.float32)  # (V, D)
    syn1neg = (r.standard_normal((V, D)) * 0.3).astype(np.float32)  # (V, D)
    table = noise_table(r.integers(1, 50, V), size=64)  # (S,)
    seeds = r.integers(0, 2**63, 3, dtype=np.uint64)
    return ids, win, syn0, syn1neg, table, seeds


@pytest.mark.parametrize("n_chunks", [1, 3])
def test_kernel_matches_numpy_reference(n_chunks):
    ids, win, syn0, syn1neg, table, seeds = _tiny_case()
    bounds = _chunk_bounds(ids, n_chunks)
    assert len(bounds) == n_chunks + 1
    alpha = np.array([0.05, 0.01], dtype=np.float32)
    s0_ref, s1_ref = syn0.copy(), syn1neg.copy()
    out_ref = sgns_block_reference(ids, win, bounds, seeds, s0_ref, s1_ref, table, 3, alpha)
    s0, s1, out = syn0.copy(), syn1neg.copy(), np.zeros((n_chunks, 2))
    old = numba.get_num_threads()
    numba.set_num_threads(1)  # chunks one after another, as in the reference
    try:
        kernels.sgns_block(ids, win, bounds, seeds[:n_chunks], s0, s1, table, 3, alpha, out)
    finally:
        numba.set_num_threads(old)
    assert out_ref[:, 1].sum() > 50  # the case really trains pairs
    np.testing.assert_array_equal(out[:, 1], out_ref[:, 1])
    np.testing.assert_allclose(out[:, 0], out_ref[:, 0], rtol=1e-5)
    assert np.abs(s0 - syn0).max() > 1e-3  # weights moved...
    np.testing.assert_allclose(s0, s0_ref, rtol=1e-4, atol=1e-6)  # ...identically
    np.testing.assert_allclose(s1, s1_ref, rtol=1e-4, atol=1e-6)


def test_pair_kernel_matches_reference_and_random_state():
    _, _, syn0, syn1neg, table, _ = _tiny_case(seed=3)
    a0, a1 = syn0.copy(), syn1neg.copy()
    loss_ref, rnd_ref = sgns_pair_reference(a0, a1, table, 2, 5, 4, np.float32(0.1), 12345)
    b0, b1 = syn0.copy(), syn1neg.copy()
    loss, rnd = kernels.sgns_pair(b0, b1, table, 2, 5, 4, np.float32(0.1), np.uint64(12345), np.empty(5, np.float32))
    assert int(rnd) == rnd_ref
    assert loss == pytest.approx(loss_ref, rel=1e-5)
    np.testing.assert_allclose(b0, a0, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(b1, a1, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("negative", [1, 2000])
def test_pair_kernel_loss_with_many_negatives(negative):
    """The kernel sums the pair's K + 1 log terms as one log of a product, taking the log early when
    the product grows past 1e300 (K > ~1,000): the loss still equals the reference's sum of logs."""
    _, _, syn0, syn1neg, table, _ = _tiny_case(seed=5)
    a0, a1 = syn0.copy(), syn1neg.copy()
    loss_ref, rnd_ref = sgns_pair_reference(a0, a1, table, 1, 4, negative, np.float32(1e-4), 99)
    b0, b1 = syn0.copy(), syn1neg.copy()
    loss, rnd = kernels.sgns_pair(b0, b1, table, 1, 4, negative, np.float32(1e-4), np.uint64(99),
                                  np.empty(syn0.shape[1], np.float32))
    assert int(rnd) == rnd_ref
    assert loss > 0.5 * negative  # each negative term adds about log 2 at these small weights
    assert loss == pytest.approx(loss_ref, rel=1e-5)
    np.testing.assert_allclose(b1, a1, rtol=1e-4, atol=1e-6)


def test_reference_update_is_sgd_on_the_negative_sampling_loss():
    """With one negative word n: L = -log σ(u·v_o) - log σ(-u·v_n); the update is -alpha ∂L at the old weights."""
    r = np.random.default_rng(7)
    syn0 = r.standard_normal((3, 4)).astype(np.float32)
    syn1neg = r.standard_normal((3, 4)).astype(np.float32)
    ctx, center, neg, alpha = 0, 1, 2, 0.1
    table = np.array([neg], dtype=np.int32)

    def loss_fn(u, vo, vn):
        sig = lambda x: 1 / (1 + np.exp(-x))
        return -np.log(sig(u @ vo)) - np.log(sig(-(u @ vn)))

    x = [syn0[ctx].astype(np.float64), syn1neg[center].astype(np.float64), syn1neg[neg].astype(np.float64)]
    grads = []
    for k in range(3):  # central differences, float64
        g = np.zeros(4)
        for j in range(4):
            hi = [a.copy() for a in x]
            lo = [a.copy() for a in x]
            hi[k][j] += 1e-6
            lo[k][j] -= 1e-6
            g[j] = (loss_fn(*hi) - loss_fn(*lo)) / 2e-6
        grads.append(g)
    s0, s1 = syn0.copy(), syn1neg.copy()
    loss, _ = sgns_pair_reference(s0, s1, table, ctx, center, 1, alpha, 1)
    assert loss == pytest.approx(loss_fn(*x), rel=1e-5)
    np.testing.assert_allclose(s0[ctx], x[0] - alpha * grads[0], atol=1e-5)
    np.testing.assert_allclose(s1[center], x[1] - alpha * grads[1], atol=1e-5)
    np.testing.assert_allclose(s1[neg], x[2] - alpha * grads[2], atol=1e-5)


@pytest.mark.parametrize("z", [-1000.0, -40.0, -3.0, 0.0, 0.5, 40.0, 1000.0])
def test_neg_log_sigmoid_is_exact_and_never_overflows(z):
    nls, one_minus_sig = neg_log_sigmoid(z)
    if abs(z) < 30:  # where the textbook formulas are still exact enough to compare with
        sig = 1.0 / (1.0 + math.exp(-z))
        assert nls == pytest.approx(-math.log(sig), rel=1e-12, abs=1e-15)
        assert one_minus_sig == pytest.approx(1.0 - sig, rel=1e-9, abs=1e-15)
    else:  # -log σ(z) -> max(-z, 0) + log(1 + e^-|z|), 1 - σ(z) -> e^-z or 1
        assert nls == pytest.approx(max(-z, 0.0) + math.log1p(math.exp(-abs(z))), rel=1e-15)
        assert one_minus_sig == pytest.approx(math.exp(-z) if z > 0 else 1.0, rel=1e-12)


def test_reference_loss_is_stable_for_large_dot_products():
    """u·v = 50 for the negative (1 - σ = 0 in float64) and -800 for the positive (e^800 overflows):
    the textbook -log(1 - σ) / -log σ fail there; (5) gives L = 50 + 800 and finite updates."""
    D, ctx, center, neg, alpha = 5, 0, 1, 2, np.float32(0.1)
    syn0 = np.zeros((3, D), np.float32)
    syn0[ctx] = 10.0                              # u
    syn1neg = np.zeros((3, D), np.float32)
    syn1neg[center] = -16.0                       # u·v_o = -800
    syn1neg[neg] = 1.0                            # u·v_n = 50
    table = np.array([neg], dtype=np.int32)
    u, vo, vn = syn0[ctx].copy(), syn1neg[center].copy(), syn1neg[neg].copy()
    s0, s1 = syn0.copy(), syn1neg.copy()
    loss, _ = sgns_pair_reference(s0, s1, table, ctx, center, 1, alpha, 1)
    assert loss == pytest.approx(850.0, rel=1e-12)
    # both terms saturate: g_o = +alpha, g_n = -alpha (to float32 rounding)
    np.testing.assert_allclose(s1[center], vo + alpha * u, rtol=1e-6)
    np.testing.assert_allclose(s1[neg], vn - alpha * u, rtol=1e-6, atol=1e-6)  # = 0
    np.testing.assert_allclose(s0[ctx], u + alpha * vo - alpha * vn, rtol=1e-6)
    k0, k1 = syn0.copy(), syn1neg.copy()
    kloss, _ = kernels.sgns_pair(k0, k1, table, ctx, center, 1, alpha, np.uint64(1), np.empty(D, np.float32))
    assert kloss == pytest.approx(loss, rel=1e-6)
    np.testing.assert_allclose(k0, s0, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(k1, s1, rtol=1e-6, atol=1e-6)


# ---- training -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def shared_context_corpus(tmp_path_factory):
    """'gato' and 'perro' always share contexts; 'barco' and 'tren' share other ones."""
    r = np.random.default_rng(0)
    animals = "come duerme juega corre ladra maulla bebe salta".split()
    vehicles = "navega viaja frena acelera pita arranca llega sale".split()
    lines = []
    for _ in range(1500):
        if r.random() < 0.5:
            target, ctx = r.choice(["gato", "perro"]), animals
        else:
            target, ctx = r.choice(["barco", "tren"]), vehicles
        c = r.choice(ctx, 4, replace=False)
        lines.append(f"{c[0]} {c[1]} {target} {c[2]} {c[3]}\n\n")
    path = tmp_path_factory.mktemp("corpus") / "tiny.txt"
    path.write_text("".join(lines), encoding="utf-8")
    return path


def test_words_sharing_contexts_end_up_closer(shared_context_corpus):
    m = Word2Vec(dim=16, window=2, min_count=1, sample=0, epochs=5, workers=1, seed=3, alpha=0.05)
    m.train(shared_context_corpus)
    wv = m.wv
    assert len(wv) == 20
    for a, b in [("gato", "perro"), ("barco", "tren")]:
        same = wv.similarity(a, b)
        for other in ("barco", "tren") if a == "gato" else ("gato", "perro"):
            assert same > wv.similarity(a, other) + 0.3, (a, b, other)
    assert wv.most_similar("gato", topn=1)[0][0] == "perro"
    # the loss is a mean per pair: (1+K) log 2 at the start, falling as training goes on
    assert m.losses[0] < 6 * math.log(2) and m.losses[-1] < m.losses[0] - 0.1
    assert m.timings["words_per_s"] > 0


def test_training_is_deterministic_with_one_worker(shared_context_corpus):
    kw = dict(dim=8, window=2, min_count=1, epochs=1, workers=1, seed=11)
    a = Word2Vec(**kw).train(shared_context_corpus)
    b = Word2Vec(**kw).train(shared_context_corpus)
    c = Word2Vec(**{**kw, "seed": 12}).train(shared_context_corpus)
    np.testing.assert_array_equal(a.syn0, b.syn0)
    assert a.losses == b.losses
    assert not np.array_equal(a.syn0, c.syn0)


def test_vocab_and_id_cache(tmp_path):
    p = tmp_path / "c.txt"
    p.write_text("a b a c a b\nd\n\nb a e e e e\n", encoding="utf-8")
    m = Word2Vec(min_count=2, max_vocab=3)
    cache = str(tmp_path / "ids")
    n = m.build_vocab(p, cache)
    assert m.vocab.words == ["a", "e", "b"] and list(m.vocab.counts) == [4, 4, 3]  # ties alphabetical
    ids = np.fromfile(cache, dtype=np.int32)
    assert n == len(ids)
    words = m.vocab.words
    decoded = [words[i] if i >= 0 else "|" for i in ids]
    # 'c' and 'd' are cut (ids dropped), sentence ends (blank lines) kept as -1
    want = [w for w in "a b a c a b d | b a e e e e |".split() if w in words or w == "|"]
    assert decoded == want


def test_max_vocab_and_multithreaded_training(shared_context_corpus):
    m = Word2Vec(dim=8, min_count=1, max_vocab=5, epochs=1, workers=numba.config.NUMBA_NUM_THREADS, seed=0)
    m.train(shared_context_corpus)
    assert len(m.wv) == 5 and m.wv.vectors.shape == (5, 8)
    assert np.isfinite(m.syn0).all() and np.isfinite(m.losses).all()


def test_save_load_model_and_vectors(tmp_path, shared_context_corpus):
    m = Word2Vec(dim=8, min_count=1, epochs=1, workers=1, seed=0).train(shared_context_corpus)
    m.save(tmp_path / "m.npz")
    m2 = Word2Vec.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(m2.syn0, m.syn0)
    np.testing.assert_array_equal(m2.syn1neg, m.syn1neg)
    assert m2.vocab.words == m.vocab.words and m2.losses == m.losses and m2.dim == 8
    m.wv.save_word2vec_format(tmp_path / "v.bin", binary=True)
    kv = KeyedVectors.load(tmp_path / "v.bin")
    np.testing.assert_array_equal(kv.vectors, m.syn0)
    np.testing.assert_array_equal(kv.counts, m.vocab.counts)


@pytest.mark.parametrize("kwargs", [dict(dim=0), dict(window=0), dict(negative=0), dict(min_count=0),
                                    dict(epochs=0), dict(sample=-1), dict(alpha=0), dict(workers=0),
                                    dict(workers=10_000)])
def test_bad_hyperparameters(kwargs):
    with pytest.raises(UsageError):
        Word2Vec(**kwargs)


def test_bad_corpora(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    with pytest.raises(UsageError, match="no such file"):
        Word2Vec().train(tmp_path / "missing.txt", cache_dir=cache)
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(UsageError, match="empty"):
        Word2Vec().train(tmp_path / "empty.txt", cache_dir=cache)
    (tmp_path / "digits.txt").write_text("123 456 !!\n", encoding="utf-8")
    with pytest.raises(UsageError, match="no words"):
        Word2Vec().train(tmp_path / "digits.txt", cache_dir=cache)
    (tmp_path / "rare.txt").write_text("uno dos tres uno\n", encoding="utf-8")
    with pytest.raises(UsageError, match="min_count=5"):
        Word2Vec(min_count=5).train(tmp_path / "rare.txt", cache_dir=cache)
    with pytest.raises(UsageError, match="not trained"):
        Word2Vec().wv
    assert list(cache.iterdir()) == []  # no id cache left behind


# ---- the training script ------------------------------------------------------------------------
SCRIPT = __import__("pathlib").Path(__file__).resolve().parents[1] / "scripts" / "train_word2vec.py"


def _script_main():
    import importlib.util
    spec = importlib.util.spec_from_file_location("train_word2vec", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.main


def test_script_trains_and_writes_vectors(tmp_path, shared_context_corpus, capsys):
    from minirnn.errors import run_cli
    out = tmp_path / "v.txt"
    rc = run_cli(_script_main(), ["--corpus", str(shared_context_corpus), "--dim", "8", "--min-count", "1",
                                  "--epochs", "1", "--workers", "1", "--out", str(out), "--show", "gato", "zzz"])
    assert rc == 0
    kv = KeyedVectors.load(out)
    assert len(kv) == 20 and kv.vector_size == 8 and kv.counts is not None
    printed = capsys.readouterr().out
    assert "gato: " in printed and "zzz: not in the vocabulary" in printed


@pytest.mark.parametrize("argv, message", [
    (["--corpus", "/nonexistent/corpus.txt"], "no such file"),
    (["--corpus", "EMPTY"], "empty"),
    (["--corpus", "RARE", "--min-count", "5"], "min_count=5"),
    (["--corpus", "RARE", "--dim", "0"], "dim must be"),
    (["--corpus", "RARE", "--out", "/nonexistent/dir/v.txt"], "does not exist"),
])
def test_script_bad_inputs_exit_2_with_one_line(tmp_path, capsys, argv, message):
    from minirnn.errors import run_cli
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "rare.txt").write_text("uno dos tres uno\n", encoding="utf-8")
    argv = [{"EMPTY": str(tmp_path / "empty.txt"), "RARE": str(tmp_path / "rare.txt")}.get(a, a) for a in argv]
    argv += ["--out", str(tmp_path / "v.txt")] if "--out" not in argv else []
    assert run_cli(_script_main(), argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err


def test_script_exit_status_in_a_subprocess(tmp_path):
    import subprocess
    import sys
    r = subprocess.run([sys.executable, str(SCRIPT), "--corpus", str(tmp_path / "missing.txt")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [f"error: {tmp_path / 'missing.txt'}: no such file"]
