"""The quantized word pipeline end to end on a tiny corpus: stages, maps, frozen table, generation."""
import json
import os
import sys

import numpy as np
import pytest

from minirnn import chardata, checkpoint, idfile
from minirnn.errors import run_cli
from minirnn.model import RNNLM
from minirnn.wordlm import UNK, WordTask, encode_corpus, generate, targets

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import generate_words  # noqa: E402
import train_word  # noqa: E402

SENTENCES = ["el caballero andante salió de la aldea", "sancho panza el escudero fiel comía pan",
             "la señora dulcinea del toboso era hermosa", "don quijote y sancho hablaban de la ínsula"]
SMALL = ["--dim", "12", "--min-count", "2", "--w2v-epochs", "2", "--workers", "1", "--clusters", "6",
         "--hidden", "16", "--batch", "4", "--seq", "8", "--iters", "12", "--eval-every", "6",
         "--print-every", "6", "--sample-length", "5", "--kmeans-iter", "20"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("word")
    rng = np.random.default_rng(0)
    corpus = d / "corpus.txt"
    corpus.write_text("\n".join(SENTENCES[i] + " rarísimo" * (k == 7) for k, i in
                                enumerate(rng.integers(0, 4, 300))), encoding="utf-8")
    ck = d / "ck"
    assert run_cli(train_word.main, ["--corpus", str(corpus), *SMALL, "--checkpoint-dir", str(ck)]) == 0
    return corpus, ck


def test_pipeline_writes_every_stage_and_metrics(trained):
    corpus, ck = trained
    assert (ck / "vectors.txt").exists() and (ck / "quantizer" / "quantizer.npz").exists()
    lines = [json.loads(x) for x in open(ck / "metrics.jsonl")]
    assert [m["iter"] for m in lines] == [6, 12]
    for m in lines:
        assert m["word_ce"] > m["cluster_ce"] == m["val_loss"] > 0         # (3): a within-cluster term is added
        assert np.isclose(m["word_ppl"], np.exp(m["word_ce"]))


def test_stages_are_reused_and_resume_refuses_other_flags(trained, tmp_path, capsys):
    corpus, ck = trained
    d = tmp_path / "again"
    assert run_cli(train_word.main, ["--corpus", str(corpus), *SMALL, "--checkpoint-dir", str(d),
                                     "--vectors", str(ck / "vectors.txt"),
                                     "--quantizer", str(ck / "quantizer")]) == 0
    out = capsys.readouterr().out
    assert "stage 1" not in out and "stage 2" not in out
    assert run_cli(train_word.main, ["--checkpoint-dir", str(d), "--resume", "--iters", "14"]) == 0
    for other in (["--hidden", "8"], ["--finetune-embedding"], ["--clusters", "0"], ["--clusters", "5"],
                  ["--corpus", str(d / "vectors.txt")]):
        capsys.readouterr()
        assert run_cli(train_word.main, ["--checkpoint-dir", str(d), "--resume", "--iters", "16", *other]) == 2
        assert capsys.readouterr().err.count("\n") == 1


def test_cluster_ids_map_back_to_member_words(trained):
    corpus, ck = trained
    arrays, meta = checkpoint.load(str(ck / "best.npz"))
    task = WordTask(meta["words"], arrays["extra/labels"], arrays["param/embed.W"], arrays["extra/vectors"],
                    arrays["extra/logp_in"])
    assert task.words[-1] == UNK and task.labels[-1] == task.C - 1
    members = sorted(int(w) for m in task.members for w in m)
    assert members == list(range(len(task.words)))                       # every word in exactly one class
    for c, m in enumerate(task.members):
        assert (task.labels[m] == c).all()
        p = np.exp(task.logp_in[m])
        assert np.isclose(p.sum(), 1.0) and (np.diff(p) <= 1e-12).all()   # a distribution, most frequent first
    # the quantizer on disk agrees with the checkpoint's map
    from minirnn.quantizer import EmbeddingQuantizer
    q = EmbeddingQuantizer.load(str(ck / "quantizer"))
    for w, c in q.word_to_cluster.items():
        assert task.labels[task.words.index(w)] == c
        assert w in q.cluster_to_words[c]


def test_frozen_embedding_stays_frozen(trained):
    corpus, ck = trained
    arrays, _ = checkpoint.load(str(ck / "best.npz"))
    from minirnn.quantizer import EmbeddingQuantizer
    q = EmbeddingQuantizer.load(str(ck / "quantizer"))
    table = arrays["param/embed.W"]
    np.testing.assert_array_equal(table[:-1], q.centroids)             # bit for bit after training
    assert not table[-1].any()                                          # the <unk> row
    assert not any(k.endswith("embed.W") for k in arrays if k.startswith("opt/"))


def test_finetune_embedding_changes_the_table(trained, tmp_path):
    corpus, ck = trained
    d = tmp_path / "ft"
    assert run_cli(train_word.main, ["--corpus", str(corpus), *SMALL, "--checkpoint-dir", str(d),
                                     "--vectors", str(ck / "vectors.txt"), "--quantizer", str(ck / "quantizer"),
                                     "--finetune-embedding"]) == 0
    arrays, _ = checkpoint.load(str(d / "latest.npz"))
    from minirnn.quantizer import EmbeddingQuantizer
    q = EmbeddingQuantizer.load(str(ck / "quantizer"))
    assert not np.allclose(arrays["param/embed.W"][:-1], q.centroids)


def test_generation_is_reproducible_and_names_dropped_words(trained, capsys):
    corpus, ck = trained
    outs = []
    for seed in ["5", "5", "6"]:
        assert run_cli(generate_words.main, ["--checkpoint", str(ck / "best.npz"), "--start",
                                             "sancho panza zapatilla", "--length", "30", "--seed", seed]) == 0
        captured = capsys.readouterr()
        assert "zapatilla" in captured.err
        outs.append(captured.out)
    assert outs[0] == outs[1] != outs[2]
    words = outs[0].split()
    assert words[:2] == ["sancho", "panza"] and len(words) == 32 and UNK not in words
    assert run_cli(generate_words.main, ["--checkpoint", str(ck / "best.npz"), "--choice", "nearest",
                                         "--length", "5", "--seed", "1"]) == 0


def test_generate_never_gives_unk_even_when_it_is_the_best_class():
    words = ["a", "b", "c", "d"]
    task = WordTask.clusters(words, np.eye(4, dtype=np.float32), np.array([0, 0, 1, 1]),
                             np.eye(2, 4, dtype=np.float32))
    model = RNNLM(task.C, hidden=4, layers=1, embedding=task.embedding, seed=0)
    model.params["out.b"][...] = np.array([1.0, 5.0, 50.0])               # <unk> (class 2) is the argmax
    got = list(generate(model, task, [0], 30, np.random.default_rng(0), temperature=0))
    assert set(got) <= {2, 3}                                              # greedy: cluster 1, the best real one


def test_generate_words_only_from_the_sampled_cluster():
    words = ["a", "b", "c", "d"]
    vectors = np.eye(4, dtype=np.float32)
    task = WordTask.clusters(words, vectors, np.array([0, 0, 1, 1]), np.eye(2, 4, dtype=np.float32))
    task.fit_within(np.array([0, 0, 0, 1, 2, 3, 3]))
    model = RNNLM(task.C, hidden=4, layers=1, embedding=task.embedding, seed=0)
    model.params["out.b"][...] = np.array([50.0, -50.0, -50.0])           # always cluster 0
    got = list(generate(model, task, [2], 200, np.random.default_rng(0)))
    assert set(got) <= {0, 1}                                              # members of cluster 0
    share_a = got.count(0) / len(got)
    assert abs(share_a - 4 / 6) < 0.1                                      # p(a|0) = (3+1)/(4+2)


@pytest.mark.parametrize("argv, message", [
    (["--corpus", "{tmp}/missing.txt"], "no such file"),
    (["--corpus", "{tmp}/empty.txt"], "empty"),
    (["--clusters", "-1"], "--clusters"),
    (["--clusters", "100000"], "--clusters"),
    (["--vectors", "{tmp}/missing.vec"], ""),
    (["--quantizer", "{tmp}"], ""),
])
def test_bad_inputs(argv, message, trained, tmp_path, capsys):
    corpus, ck = trained
    (tmp_path / "empty.txt").write_bytes(b"")
    argv = [a.format(tmp=tmp_path) for a in argv]
    assert run_cli(train_word.main, ["--corpus", str(corpus), *SMALL, *argv,
                                     "--checkpoint-dir", str(tmp_path / "ck")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_generate_bad_inputs(trained, capsys):
    corpus, ck = trained
    assert run_cli(generate_words.main, ["--checkpoint", str(ck / "best.npz"), "--start", "xyz qwerty"]) == 2
    assert "none of the start words" in capsys.readouterr().err
    assert run_cli(generate_words.main, ["--checkpoint", str(ck / "nope.npz")]) == 2


def test_encode_corpus_marks_unknown_words(tmp_path):
    p = tmp_path / "c.txt"
    p.write_text("Sancho come pan.\nSancho duerme", encoding="utf-8")
    ids, n_unk = encode_corpus(str(p), {"sancho": 0, "pan": 1})
    assert ids.tolist() == [0, 2, 1, 0, 2] and n_unk == 2
    assert not ids.flags.writeable and idfile._mapping(ids) is not None      # memory-mapped, read-only
    assert [f.name for f in tmp_path.iterdir()] == ["c.txt"]                  # no id file left behind


def test_streamed_windows_and_within_cluster_terms_equal_the_in_memory_ones(tmp_path, monkeypatch):
    # the ids stay on disk and every window is mapped to classes as it is read; the numbers are
    # those of the windows over the whole class array held in memory
    monkeypatch.setattr(idfile, "CHUNK", 50)                                   # many pieces, the last short
    rng = np.random.default_rng(0)
    V, C = 30, 5
    words = [f"w{chr(97 + i // 26)}{chr(97 + i % 26)}" for i in range(V)]
    text = rng.choice(words + ["zzz"], size=3001)
    (tmp_path / "c.txt").write_text(" ".join(text), encoding="utf-8")
    ids, n_unk = encode_corpus(str(tmp_path / "c.txt"), {w: i for i, w in enumerate(words)})
    assert n_unk == int((text == "zzz").sum()) > 0
    labels = rng.integers(0, C, V)
    task = WordTask.clusters(words, rng.standard_normal((V, 4)).astype(np.float32), labels,
                             rng.standard_normal((C, 4)).astype(np.float32))
    train, val, val_words = task.split(ids, 0.1, 4, 8)
    held = np.array(ids)                                                       # (n,) in memory
    want_train, want_val = chardata.split(task.labels[held], 0.1, 4, 8)
    for got, want in ((train, want_train), (val, want_val)):
        assert len(got) == len(want) and got.B == want.B
        for k in range(len(want)):
            for a, b in zip(got.window(k), want.window(k)):
                np.testing.assert_array_equal(a, b)
    n_train = len(held) - int(len(held) * 0.1)
    task.fit_within(ids[:n_train])
    n = np.bincount(held[:n_train], minlength=V + 1) + 1.0
    want_logp = np.log(n) - np.log(np.bincount(task.labels, weights=n, minlength=C + 1))[task.labels]
    np.testing.assert_allclose(task.logp_in, want_logp, rtol=1e-12)
    scored = targets(val_words)                                                # (B, n_windows * T)
    np.testing.assert_allclose(task.within_ce(scored), -task.logp_in[np.array(scored)].mean(), rtol=1e-12)


def test_generate_words_beam(trained, capsys):
    corpus, ck = trained
    capsys.readouterr()
    assert run_cli(generate_words.main, ["--checkpoint", str(ck / "best.npz"), "--start", "sancho panza",
                                         "--length", "4", "--beam", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    logp = [float(h.split("=")[1].split()[0]) for h in lines[0::2]]
    assert len(logp) == 3 and logp == sorted(logp, reverse=True)
    for text in lines[1::2]:
        words = text.split()
        assert words[:2] == ["sancho", "panza"] and len(words) == 6 and UNK not in words
    assert run_cli(generate_words.main, ["--checkpoint", str(ck / "best.npz"), "--beam", "2",
                                         "--beam-end", "zapatilla"]) == 2
