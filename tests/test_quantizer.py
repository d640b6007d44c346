"""EmbeddingQuantizer: complete and consistent maps, frequency order, probabilities, reconstruction,
compression ratio, save/load without pickle, bad input."""
import json
import os

import numpy as np
import pytest

from minirnn.quantizer import EmbeddingQuantizer


def word_groups(rng, groups=4, per=6, dim=8):
    """Words in `groups` tight direction-groups: (words, vectors (V, dim) float32, counts, group ids)."""
    dirs = rng.standard_normal((groups, dim))                                 # (G, dim)
    words, vecs, group = [], [], []
    for g in range(groups):
        for j in range(per):
            words.append(f"w{g}_{j}")
            vecs.append(dirs[g] * rng.uniform(0.5, 3.0) + 0.02 * rng.standard_normal(dim))
            group.append(g)
    counts = rng.integers(1, 1000, size=len(words))
    return words, np.array(vecs, dtype=np.float32), counts, np.array(group)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_maps_consistent_and_complete(rng, metric):
    words, vecs, counts, _ = word_groups(rng)
    q = EmbeddingQuantizer(5, metric=metric, seed=0).fit(words, vecs, counts)
    members = [w for ws in q.cluster_to_words for w in ws]
    assert sorted(members) == sorted(words)                 # every word exactly once
    assert len(q.cluster_to_words) == 5 and all(len(ws) > 0 for ws in q.cluster_to_words)
    assert set(q.word_to_cluster) == set(words)
    cnt = dict(zip(words, counts.tolist()))
    for k, ws in enumerate(q.cluster_to_words):
        assert all(q.word_to_cluster[w] == k for w in ws)
        c = [cnt[w] for w in ws]
        assert c == sorted(c, reverse=True)                 # most frequent first
        np.testing.assert_allclose(q.cluster_word_probs[k], np.array(c) / sum(c))
        assert [words[i] for i in q.cluster_to_indices[k]] == ws
        np.testing.assert_array_equal(q.index_in_cluster[q.cluster_to_indices[k]], np.arange(len(ws)))
    np.testing.assert_array_equal(q.labels, [q.word_to_cluster[w] for w in words])
    assert q.centroids.shape == (5, 8) and q.centroids.dtype == np.float32


def test_cosine_groups_words_by_direction(rng):
    words, vecs, counts, group = word_groups(rng)
    q = EmbeddingQuantizer(4, metric="cosine", seed=0).fit(words, vecs, counts)
    for k in range(4):                                      # each cluster is exactly one group
        assert len({group[words.index(w)] for w in q.cluster_to_words[k]}) == 1
    np.testing.assert_allclose(np.linalg.norm(q.centroids, axis=1), 1.0, rtol=1e-6)
    assert 0 <= q.reconstruction_error < 1e-3              # ||v|| c_k reconstructs each word closely


def test_no_counts_means_given_order(rng):
    words, vecs, _, _ = word_groups(rng)
    q = EmbeddingQuantizer(3, seed=0).fit(words, vecs)
    for ws in q.cluster_to_words:
        pos = [words.index(w) for w in ws]
        assert pos == sorted(pos)


def test_reconstruction_and_compression(rng):
    words = [f"w{i}" for i in range(50)]
    vecs = rng.standard_normal((50, 10)).astype(np.float32)
    exact = EmbeddingQuantizer(50, metric="euclidean", seed=0).fit(words, vecs)
    assert exact.reconstruction_error == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(exact.reconstruct(), vecs, atol=1e-6)
    q = EmbeddingQuantizer(5, metric="euclidean", seed=0).fit(words, vecs)
    assert 0 < q.reconstruction_error < 1
    assert q.compression_ratio == pytest.approx(50 * 10 * 4 / (5 * 10 * 4 + 50 * 1))    # uint8 codes
    qc = EmbeddingQuantizer(5, metric="cosine", seed=0).fit(words, vecs)
    assert qc.compression_ratio == pytest.approx(50 * 10 * 4 / (5 * 10 * 4 + 50 * 1 + 50 * 4))  # + norms
    assert q.summary()["clusters"] == 5


def test_save_load_roundtrip_without_pickle(rng, tmp_path):
    words, vecs, counts, _ = word_groups(rng)
    words[0] = "señor"                                     # non-ASCII survives the JSON
    q = EmbeddingQuantizer(5, seed=0).fit(words, vecs, counts)
    q.save(tmp_path / "q")
    assert sorted(os.listdir(tmp_path / "q")) == ["quantizer.json", "quantizer.npz"]
    with np.load(tmp_path / "q" / "quantizer.npz", allow_pickle=False) as z:
        assert all(z[k].dtype != object for k in z.files)
    r = EmbeddingQuantizer.load(tmp_path / "q")
    assert r.words == q.words and r.word_to_cluster == q.word_to_cluster
    assert r.cluster_to_words == q.cluster_to_words
    np.testing.assert_array_equal(r.centroids, q.centroids)
    for a, b in zip(r.cluster_word_probs, q.cluster_word_probs):
        np.testing.assert_allclose(a, b)
    assert r.reconstruction_error == q.reconstruction_error and r.metric == q.metric
    assert r.compression_ratio == q.compression_ratio


def test_load_rejects_bad_directories(rng, tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        EmbeddingQuantizer.load(tmp_path)
    words, vecs, counts, _ = word_groups(rng)
    EmbeddingQuantizer(3, seed=0).fit(words, vecs, counts).save(tmp_path)
    meta = json.loads((tmp_path / "quantizer.json").read_text(encoding="utf-8"))
    meta["words"] = meta["words"][:-1]
    (tmp_path / "quantizer.json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(ValueError, match="disagree"):
        EmbeddingQuantizer.load(tmp_path)
    meta["format"] = "something-else"
    (tmp_path / "quantizer.json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(ValueError, match="not an embedding quantizer"):
        EmbeddingQuantizer.load(tmp_path)


@pytest.mark.parametrize("change, match", [
    (lambda w, v, c: (w[:-1], v, None), "words but"),
    (lambda w, v, c: (["a"] * len(w), v, None), "unique"),
    (lambda w, v, c: (w, v[:, 0], None), "2-D"),
    (lambda w, v, c: (w, v, c[:-1]), "counts must have shape"),
    (lambda w, v, c: (w, v, -c), "non-negative"),
    (lambda w, v, c: (w, np.where(np.arange(len(w))[:, None] == 3, np.nan, v), c), "NaN"),
])
def test_bad_input(rng, change, match):
    words, vecs, counts, _ = word_groups(rng)
    with pytest.raises(ValueError, match=match):
        EmbeddingQuantizer(3).fit(*change(words, vecs, counts))
    with pytest.raises(ValueError, match="distinct|points"):
        EmbeddingQuantizer(len(words) + 1).fit(words, vecs, counts)
    with pytest.raises(ValueError, match="metric"):
        EmbeddingQuantizer(3, metric="l1")


def _load_script():
    import importlib.util
    path = os.path.join(os.path.dirname(__file__), os.pardir, "scripts", "quantize.py")
    spec = importlib.util.spec_from_file_location("quantize_script", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_quantize_script(rng, tmp_path, capsys):
    from minirnn.errors import run_cli
    words, vecs, _, _ = word_groups(rng)
    path = tmp_path / "v.txt"
    with open(path, "w", encoding="utf-8") as f:                 # word2vec text format
        f.write(f"{len(words)} {vecs.shape[1]}\n")
        for w, v in zip(words, vecs):
            f.write(w + " " + " ".join(f"{x:.6f}" for x in v) + "\n")
    script = _load_script()
    out = tmp_path / "q"
    assert run_cli(script.main, ["--vectors", str(path), "--clusters", "4", "--out", str(out),
                                 "--words", "w0_0"]) == 0
    text = capsys.readouterr().out
    assert "iter   1" in text and "compression" in text and "<- w0_0" in text
    q = EmbeddingQuantizer.load(out)
    assert len(q.cluster_to_words) == 4 and sorted(q.words) == sorted(words)
    for bad in (["--clusters", "0"], ["--clusters", str(len(words) + 1)]):
        assert run_cli(script.main, ["--vectors", str(path), "--out", str(out)] + bad) == 2
    assert run_cli(script.main, ["--vectors", str(tmp_path / "missing.txt"), "--out", str(out)]) == 2
    assert "error:" in capsys.readouterr().err
