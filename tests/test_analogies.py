"""KeyedVectors analogies: most_similar with positive/negative, most_similar_cosmul, doesnt_match,
evaluate_word_analogies; by hand on tiny vectors, and equal to gensim's KeyedVectors where installed."""
import numpy as np
import pytest

from minirnn.errors import UsageError
from minirnn.keyedvectors import KeyedVectors


def unit(v):
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def analogy_kv(rng, noise=0.35, R=12, D=16):
    """Words root_{m,f}_{s,p} = base(root) + gender + number + noise: analogies that mostly work;
    plus a capitalised variant of some words (after them, so less frequent) and unrelated words."""
    g, n = rng.standard_normal(D), rng.standard_normal(D)
    words, vecs = [], []
    for r in range(R):
        base = rng.standard_normal(D)
        for gi, gs in enumerate("mf"):
            for ni, ns in enumerate("sp"):
                words.append(f"r{r}{gs}{ns}")
                vecs.append(base + gi * g + ni * n + noise * rng.standard_normal(D))
    for r in range(0, R, 3):
        words.append(f"R{r}ms")
        vecs.append(rng.standard_normal(D))
    for i in range(20):
        words.append(f"x{i}")
        vecs.append(rng.standard_normal(D))
    return KeyedVectors(words, np.array(vecs, dtype=np.float32))


def write_questions(path, R=12):
    lines = [": gender"]
    for a in range(R):
        for b in range(R):
            if a != b:
                lines.append(f"r{a}ms r{a}fs R{b}ms r{b}fs" if b % 3 == 0 and a % 2 else f"r{a}ms r{a}fs r{b}ms r{b}fs")
    lines += [": plural", "not a question line", ""]
    for a in range(R):
        for b in range(a + 1, R):
            lines.append(f"r{a}fs r{a}fp r{b}fs r{b}fp")
    lines.append("r0ms r0mp unknownword r1mp")
    lines.append(": empty-section")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_most_similar_analogy_by_hand():
    words = ["hombre", "mujer", "rey", "reina", "queso"]
    vecs = np.array([[1, 0, 0], [1, 1, 0], [1, 0, 1], [1, 1, 1], [-1, 0, 0.2]], dtype=np.float32)
    kv = KeyedVectors(words, vecs)
    top = kv.most_similar(positive=["rey", "mujer"], negative=["hombre"], topn=2)
    assert [w for w, _ in top] == ["reina", "queso"]  # the three input words are never returned
    m = unit(unit(vecs[2]) + unit(vecs[1]) - unit(vecs[0]))
    assert top[0][1] == pytest.approx(float(unit(vecs[3]) @ m), rel=1e-6)
    # weights: (word, weight) pairs; a weight of 2 on one word, the mean is still normalised
    w = kv.most_similar(positive=[("rey", 2.0), "mujer"], negative=["hombre"], topn=None)
    m2 = unit(2 * unit(vecs[2]) + unit(vecs[1]) - unit(vecs[0]))
    np.testing.assert_allclose(w, [unit(v) @ m2 for v in vecs], rtol=1e-5, atol=1e-6)
    # restrict_vocab: only the first R words are candidates
    assert sorted(w for w, _ in kv.most_similar("hombre", topn=10, restrict_vocab=3)) == ["mujer", "rey"]
    assert kv.most_similar("hombre", topn=None, restrict_vocab=3).shape == (3,)
    # a raw vector as input: nothing left out
    assert kv.most_similar(positive=[vecs[3]], topn=1)[0][0] == "reina"
    with pytest.raises(KeyError):
        kv.most_similar(positive=["molino"])
    with pytest.raises(ValueError):
        kv.most_similar(positive=[], negative=[])


def test_cosmul_and_doesnt_match_by_hand():
    words = ["hombre", "mujer", "rey", "reina", "queso"]
    vecs = np.array([[1, 0, 0], [1, 1, 0], [1, 0, 1], [1, 1, 1], [-1, 0, 0.2]], dtype=np.float32)
    kv = KeyedVectors(words, vecs)
    scores = kv.most_similar_cosmul(positive=["rey", "mujer"], negative=["hombre"], topn=None)
    s = lambda x, y: (1 + unit(x) @ unit(y)) / 2
    want = [s(v, vecs[2]) * s(v, vecs[1]) / (s(v, vecs[0]) + 1e-6) for v in vecs]
    np.testing.assert_allclose(scores, want, rtol=1e-5)
    top = kv.most_similar_cosmul(positive=["rey", "mujer"], negative=["hombre"], topn=5)
    order = [words[i] for i in np.argsort(want)[::-1] if words[i] in ("reina", "queso")]
    assert [w for w, _ in top] == order  # the input words are never returned
    assert top[0][1] == pytest.approx(max(want[3], want[4]), rel=1e-5)
    assert kv.doesnt_match(["hombre", "mujer", "rey", "queso"]) == "queso"
    with pytest.warns(UserWarning):
        assert kv.doesnt_match(["hombre", "mujer", "rey", "queso", "molino"]) == "queso"
    with pytest.raises(ValueError):
        kv.doesnt_match(["molino"])


def test_evaluate_word_analogies_by_hand(tmp_path):
    words = ["hombre", "mujer", "rey", "reina", "Rey", "queso"]
    vecs = np.array([[1, 0, 0], [1, 1, 0], [1, 0, 1], [1, 1, 1], [0, 0, 1], [-1, 0, 0.2]], dtype=np.float32)
    kv = KeyedVectors(words, vecs)
    path = tmp_path / "q.txt"
    path.write_text(": gender\nhombre mujer rey reina\nhombre mujer REY reina\nmujer hombre reina queso\n"
                    "hombre mujer rey princesa\n: other\nbad line\n", encoding="utf-8")
    score, sections = kv.evaluate_word_analogies(path)
    assert [s["section"] for s in sections] == ["gender", "other", "Total accuracy"]
    # REY stands for 'rey' (its most frequent case variant); 'princesa' is unknown: skipped
    assert sections[0]["correct"] == [("HOMBRE", "MUJER", "REY", "REINA")] * 2
    assert sections[0]["incorrect"] == [("MUJER", "HOMBRE", "REINA", "QUESO")]
    assert score == pytest.approx(2 / 3)
    score, sections = kv.evaluate_word_analogies(path, dummy4unknown=True)
    assert score == pytest.approx(2 / 4) and len(sections[-1]["incorrect"]) == 2
    score, sections = kv.evaluate_word_analogies(path, case_insensitive=False)
    assert sections[0]["correct"] == [("hombre", "mujer", "rey", "reina")] and score == pytest.approx(1 / 2)
    bad = tmp_path / "bad.txt"
    bad.write_text("hombre mujer rey reina\n: s\n", encoding="utf-8")
    with pytest.raises(UsageError, match="section"):
        kv.evaluate_word_analogies(bad)
    bad.write_text(": s\n", encoding="utf-8")
    with pytest.raises(UsageError, match="no analogy questions"):
        kv.evaluate_word_analogies(bad)


def test_evaluate_analogies_cosmul_option(tmp_path, rng):
    kv = analogy_kv(rng)
    path = write_questions(tmp_path / "q.txt")
    score, _ = kv.evaluate_word_analogies(path, similarity_function="most_similar_cosmul")
    assert 0.3 < score <= 1.0
    with pytest.raises(UsageError):
        kv.evaluate_word_analogies(path, similarity_function="nearest")


# ---- equal to gensim -------------------------------------------------------------------------------
@pytest.fixture
def gensim_pair(rng):
    models = pytest.importorskip("gensim.models", reason="gensim not installed (optional cross-check)")
    kv = analogy_kv(rng)
    gkv = models.KeyedVectors(vector_size=kv.vector_size)
    gkv.add_vectors(kv.index_to_key, kv.vectors)
    return kv, gkv


def assert_same_ranking(got, want):
    assert [w for w, _ in got] == [w for w, _ in want]
    np.testing.assert_allclose([s for _, s in got], [s for _, s in want], rtol=1e-5, atol=1e-6)


QUERIES = [
    dict(positive=["r1fs", "r2ms"], negative=["r1ms"]),
    dict(positive=["r3mp", "r5fs", "x3"], negative=["r3ms", "x1"]),
    dict(positive=["r4fp"]),
    dict(positive="r4fp", negative="r7ms"),
    dict(positive=[("r1fs", 2.5), "r2ms"], negative=[("r1ms", -0.5)]),
    dict(negative=["r6mp"]),
]


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("restrict_vocab", [None, 30])
def test_most_similar_equals_gensim(gensim_pair, query, restrict_vocab):
    kv, gkv = gensim_pair
    assert_same_ranking(kv.most_similar(**query, topn=7, restrict_vocab=restrict_vocab),
                        gkv.most_similar(**query, topn=7, restrict_vocab=restrict_vocab))
    np.testing.assert_allclose(kv.most_similar(**query, topn=None, restrict_vocab=restrict_vocab),
                               gkv.most_similar(**query, topn=None, restrict_vocab=restrict_vocab),
                               rtol=1e-5, atol=1e-6)


def test_vector_input_equals_gensim(gensim_pair, rng):
    kv, gkv = gensim_pair
    v = rng.standard_normal(kv.vector_size).astype(np.float32)
    assert_same_ranking(kv.most_similar(positive=[v, "r2fs"], negative=["r2ms"], topn=6),
                        gkv.most_similar(positive=[v, "r2fs"], negative=["r2ms"], topn=6))
    assert_same_ranking(kv.similar_by_vector(v, topn=6), gkv.similar_by_vector(v, topn=6))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # gensim's own init_sims
@pytest.mark.parametrize("query", [q for q in QUERIES if not any(isinstance(k, tuple) for k in
                                                                  list(q.get("positive", [])) + list(q.get("negative", [])))
                                   and q.get("positive")])
def test_most_similar_cosmul_equals_gensim(gensim_pair, query):
    kv, gkv = gensim_pair
    assert_same_ranking(kv.most_similar_cosmul(**query, topn=7), gkv.most_similar_cosmul(**query, topn=7))
    np.testing.assert_allclose(kv.most_similar_cosmul(**query, topn=None),
                               gkv.most_similar_cosmul(**query, topn=None), rtol=1e-5)


def test_doesnt_match_equals_gensim(gensim_pair, rng):
    kv, gkv = gensim_pair
    for _ in range(20):
        words = list(rng.choice(kv.index_to_key, size=int(rng.integers(2, 7)), replace=False))
        assert kv.doesnt_match(words) == gkv.doesnt_match(words)


@pytest.mark.parametrize("restrict_vocab,case_insensitive,dummy4unknown",
                         [(300000, True, False), (40, True, False), (300000, False, True), (25, True, True)])
def test_evaluate_word_analogies_equals_gensim(gensim_pair, tmp_path, restrict_vocab, case_insensitive, dummy4unknown):
    kv, gkv = gensim_pair
    path = write_questions(tmp_path / "q.txt")
    opts = dict(restrict_vocab=restrict_vocab, case_insensitive=case_insensitive, dummy4unknown=dummy4unknown)
    score, sections = kv.evaluate_word_analogies(path, **opts)
    gscore, gsections = gkv.evaluate_word_analogies(str(path), **opts)
    assert sections == gsections
    assert score == gscore
    assert 0 < len(sections[-1]["correct"]) and 0 < len(sections[-1]["incorrect"])  # a test that can fail
