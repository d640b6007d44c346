"""KeyedVectors: lookup, cosine neighbours, word-pair evaluation, word2vec text/binary round trips."""
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minirnn.errors import UsageError
from minirnn.keyedvectors import KeyedVectors, pearson, rankdata, spearman


def make_kv(rng, V=6, D=4, counts=True):
    words = ["sancho", "panza", "quijote", "ñandú", "árbol", "x1"][:V]
    vecs = rng.standard_normal((V, D)).astype(np.float32)
    return KeyedVectors(words, vecs, np.arange(V, 0, -1) * 10 if counts else None)


def test_lookup_and_contract(rng):
    kv = make_kv(rng)
    assert len(kv) == 6 and "ñandú" in kv and "nandu" not in kv
    assert kv.index_to_key[kv.key_to_index["árbol"]] == "árbol"
    np.testing.assert_array_equal(kv["panza"], kv.vectors[1])
    assert kv.vectors.dtype == np.float32 and kv.counts.dtype == np.int64
    with pytest.raises(KeyError):
        kv["molino"]


def test_bad_construction():
    with pytest.raises(UsageError):
        KeyedVectors(["a", "b"], np.zeros((3, 2)))
    with pytest.raises(UsageError):
        KeyedVectors(["a", "a"], np.zeros((2, 2)))
    with pytest.raises(UsageError):
        KeyedVectors(["a"], np.zeros((1, 2)), counts=[1, 2])


def test_similarity_and_most_similar():
    words = ["a", "b", "c", "d"]
    vecs = np.array([[1, 0], [0.9, 0.1], [0, 1], [-1, 0]], dtype=np.float32)
    kv = KeyedVectors(words, vecs)
    assert kv.similarity("a", "d") == pytest.approx(-1.0)
    assert kv.similarity("a", "c") == pytest.approx(0.0, abs=1e-7)
    top = kv.most_similar("a", topn=3)
    assert [w for w, _ in top] == ["b", "c", "d"]
    assert top[0][1] == pytest.approx(0.9 / np.hypot(0.9, 0.1))
    assert len(kv.most_similar("a", topn=100)) == 3  # never the word itself


def test_most_similar_matches_brute_force(rng):
    kv = KeyedVectors([f"w{i}" for i in range(50)], rng.standard_normal((50, 8)))
    got = kv.most_similar("w7", topn=5)
    cos = [(w, kv.similarity("w7", w)) for w in kv.index_to_key if w != "w7"]
    want = sorted(cos, key=lambda t: -t[1])[:5]
    assert [w for w, _ in got] == [w for w, _ in want]
    np.testing.assert_allclose([c for _, c in got], [c for _, c in want], rtol=1e-5)


@pytest.mark.parametrize("binary", [False, True])
def test_round_trip(tmp_path, rng, binary):
    kv = make_kv(rng)
    path = tmp_path / "v.bin"
    kv.save_word2vec_format(path, binary=binary)
    for loaded in (KeyedVectors.load(path), KeyedVectors.load_word2vec_format(path, binary=binary)):
        assert loaded.index_to_key == kv.index_to_key
        np.testing.assert_array_equal(loaded.vectors, kv.vectors)  # exact, text included
        np.testing.assert_array_equal(loaded.counts, kv.counts)


def test_counts_sidecar_absent_and_stale(tmp_path, rng):
    path = tmp_path / "v.txt"
    make_kv(rng).save_word2vec_format(path)
    assert (tmp_path / "v.txt.counts.json").exists()
    make_kv(rng, counts=False).save_word2vec_format(path)  # removes the now-stale sidecar
    assert not (tmp_path / "v.txt.counts.json").exists()
    assert KeyedVectors.load(path).counts is None


def test_text_format_is_word2vec_c(tmp_path):
    kv = KeyedVectors(["sí", "no"], np.array([[0.5, -1.25], [2.0, 0.0]]))
    kv.save_word2vec_format(tmp_path / "v.txt")
    lines = (tmp_path / "v.txt").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "2 2"
    assert lines[1].split() == ["sí", "0.5", "-1.25"]


def test_binary_format_is_word2vec_c(tmp_path):
    kv = KeyedVectors(["sí"], np.array([[0.5, -1.25]]))
    kv.save_word2vec_format(tmp_path / "v.bin", binary=True)
    raw = (tmp_path / "v.bin").read_bytes()
    assert raw == b"1 2\n" + "sí ".encode() + struct.pack("<2f", 0.5, -1.25) + b"\n"


def test_reads_binary_without_newlines(tmp_path):
    """gensim writes binary records with no newline after the vector."""
    raw = b"2 2\n" + b"a " + struct.pack("<2f", 1, 2) + b"b " + struct.pack("<2f", 3, 4)
    (tmp_path / "g.bin").write_bytes(raw)
    kv = KeyedVectors.load(tmp_path / "g.bin")
    assert kv.index_to_key == ["a", "b"]
    np.testing.assert_array_equal(kv.vectors, [[1, 2], [3, 4]])


@pytest.mark.parametrize("content, match", [
    (b"", "empty"),
    (b"hello world\n", "not a word2vec file"),
    (b"3 2\na 1 2\n", "header says 3"),
    (b"1 2\na 1 2 3\n", "3 numbers"),
])
def test_bad_files(tmp_path, content, match):
    (tmp_path / "bad.txt").write_bytes(content)
    with pytest.raises(UsageError, match=match):
        KeyedVectors.load_word2vec_format(tmp_path / "bad.txt", binary=False)


def test_missing_file(tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        KeyedVectors.load(tmp_path / "nope.txt")


def test_save_rejects_whitespace_word(tmp_path):
    with pytest.raises(UsageError):
        KeyedVectors(["a b"], np.ones((1, 2))).save_word2vec_format(tmp_path / "v.txt")


def test_evaluate_word_pairs(tmp_path):
    words = ["a", "b", "c", "d"]
    vecs = np.array([[1, 0], [0.9, 0.3], [0.2, 1], [-1, 0.1]], dtype=np.float32)
    kv = KeyedVectors(words, vecs)
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("# comment\nA\tb\t9\na\tc\t5\na\td\t1\nb\tzzz\t3\n\n", encoding="utf-8")
    r = kv.evaluate_word_pairs(pairs)
    assert r["n_pairs"] == 3 and r["n_oov"] == 1 and r["oov_rate"] == pytest.approx(0.25)
    assert r["spearman"] == pytest.approx(1.0)
    sims = [kv.similarity("a", w) for w in "bcd"]
    assert r["pearson"] == pytest.approx(np.corrcoef(sims, [9, 5, 1])[0, 1], rel=1e-6)
    pairs.write_text("a\tb\n", encoding="utf-8")
    with pytest.raises(UsageError, match=":1:"):
        kv.evaluate_word_pairs(pairs)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(-5, 5), min_size=2, max_size=30), st.lists(st.integers(-5, 5), min_size=2, max_size=30))
def test_spearman_matches_scipy_definition(xs, ys):
    n = min(len(xs), len(ys))
    x, y = np.array(xs[:n], float), np.array(ys[:n], float)
    r = rankdata(x)
    # average ranks: each rank is 1 + (#smaller) + (#equal - 1) / 2
    want = np.array([1 + (x < v).sum() + ((x == v).sum() - 1) / 2 for v in x])
    np.testing.assert_array_equal(r, want)
    s = spearman(x, y)
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        assert np.isnan(s)
    else:
        assert s == pytest.approx(np.corrcoef(rankdata(x), rankdata(y))[0, 1])
        assert -1 - 1e-9 <= pearson(x, y) <= 1 + 1e-9


def test_reads_file_written_by_gensim(tmp_path, rng):
    gensim_models = pytest.importorskip("gensim.models", reason="gensim not installed (optional cross-check)")
    gkv = gensim_models.KeyedVectors(vector_size=5)
    words = ["sancho", "panza", "ñandú", "árbol"]
    vecs = rng.standard_normal((4, 5)).astype(np.float32)
    gkv.add_vectors(words, vecs)
    for binary in (False, True):
        path = tmp_path / f"g{int(binary)}"
        gkv.save_word2vec_format(str(path), binary=binary)
        kv = KeyedVectors.load(path)
        assert kv.index_to_key == words
        np.testing.assert_allclose(kv.vectors, vecs, rtol=1e-6)
        # and gensim reads ours
        kv.save_word2vec_format(path, binary=binary)
        back = gensim_models.KeyedVectors.load_word2vec_format(str(path), binary=binary)
        assert list(back.index_to_key) == words
        np.testing.assert_allclose(back.vectors, vecs, rtol=1e-6)
