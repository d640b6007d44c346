"""The word pipeline at scale, in small: ids stream from disk, counting is bounded, nothing grows with the corpus.

The memory test runs each stage of the pipeline in a child process on a corpus and on the same corpus
twice as long, with the same vocabulary, and compares the peak RSS of each stage (VmHWM, reset between
stages through /proc/self/clear_refs). A stage that held its token or cluster ids in memory would grow
by at least 4 bytes a token (int32 ids; the word2vec cache read through a plain memory map grows as
much, its pages staying resident); a streaming stage grows by nothing but allocator noise. To make
that visible with a corpus of a second's tokenizing, the child shrinks the chunks the stages read and
write in (constants of minirnn.idfile and minirnn.word2vec: a stage's transient peak would otherwise
hide a slower growth that comes after it) and sends every allocation of 64 KB or
more to mmap (glibc's M_MMAP_THRESHOLD), so that freed chunks leave the process at once.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from minirnn import idfile
from minirnn.word2vec import Word2Vec

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import ctypes, json, sys
import numpy as np
from minirnn import idfile, word2vec
from minirnn.word2vec import Word2Vec
from minirnn.wordlm import WordTask, encode_corpus, targets

libc = ctypes.CDLL("libc.so.6")
libc.mallopt(-3, 65536)                               # M_MMAP_THRESHOLD: chunks >= 64 KB go to mmap
idfile.CHUNK = word2vec._FLUSH_TOKENS = 1 << 15      # chunks of 32k ids (128 KB), not 1M
word2vec.BLOCK_TOKENS = 1 << 14


def peak_kb():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))


def reset():
    libc.malloc_trim(0)                               # what earlier stages freed leaves the process
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")                                  # VmHWM := VmRSS


def stages(corpus, cache):
    peaks = {}
    reset()
    m = Word2Vec(dim=8, window=2, negative=1, min_count=1, epochs=1, workers=1, seed=0)
    m.build_vocab(corpus, cache)                      # the vocabulary pass
    peaks["vocabulary"] = peak_kb()
    reset()
    m._train_epochs(idfile.open_ids(cache), None)     # one word2vec epoch over the id cache
    peaks["word2vec"] = peak_kb()
    reset()
    ids, _ = encode_corpus(corpus, {w: i for i, w in enumerate(m.vocab.words)})
    peaks["encode"] = peak_kb()
    reset()
    V = len(m.vocab)                                  # train_word's loading and its passes over windows
    task = WordTask.clusters(m.vocab.words, m.syn0, np.arange(V) % 10, np.eye(10, 8, dtype=np.float32))
    train, val, val_words = task.split(ids, 0.1, 32, 32)
    task.fit_within(ids[:len(ids) - int(len(ids) * 0.1)])
    task.within_ce(targets(val_words))
    for windows in (train, val):
        for k in range(len(windows)):
            windows.window(k)
    peaks["windows"] = peak_kb()
    return peaks


stages(sys.argv[3], sys.argv[2])                      # warm-up: kernels loaded, allocator pools filled
print(json.dumps(stages(sys.argv[1], sys.argv[2])))
"""


def _corpus(path, n_tokens, seed):
    """n_tokens of 100 two-letter words, 20-word paragraphs: every word appears, whatever the size."""
    words = np.array([a + b for a in "abcdefghij" for b in "klmnopqrst"])
    toks = words[np.random.default_rng(seed).integers(0, 100, n_tokens)]
    path.write_text("\n\n".join(" ".join(toks[i:i + 20]) for i in range(0, n_tokens, 20)), encoding="utf-8")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self and uses glibc's mallopt")
def test_doubling_the_corpus_does_not_grow_any_stage(tmp_path):
    n = 1_000_000
    _corpus(tmp_path / "tiny.txt", 20_000, 0)
    _corpus(tmp_path / "1x.txt", n, 1)
    _corpus(tmp_path / "2x.txt", 2 * n, 2)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    procs = {k: subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path / f"{k}.txt"), str(tmp_path / f"{k}.ids"),
                                  str(tmp_path / "tiny.txt")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True, env=env) for k in ("1x", "2x")}
    peaks = {}
    for k, p in procs.items():
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        peaks[k] = json.loads(out)
    # 1M more tokens held as int32 would add 4,000 KB; 1,500 KB is what allocator noise may reach
    for stage in peaks["1x"]:
        grew = peaks["2x"][stage] - peaks["1x"][stage]
        assert grew < 1500, f"{stage}: peak RSS {peaks['1x'][stage]} KB -> {peaks['2x'][stage]} KB for twice the corpus"


def test_vocabulary_pass_prunes_beyond_max_types_and_keeps_the_frequent_words_whole(tmp_path):
    # 8 frequent words, 12 middling ones, and a new rare word every fifth token: with max_types=30
    # the pass prunes many times; the frequent words keep every count and every occurrence
    rng = np.random.default_rng(0)
    lines, k = [], 0
    for i in range(300):
        sentence = []
        for _ in range(12):
            r = rng.random()
            if r < 0.6:
                sentence.append("abcdefgh"[rng.integers(8)])
            elif r < 0.8:
                sentence.append("mid" + "xyz"[rng.integers(3)] + "q" * int(rng.integers(4)))
            else:
                sentence.append("rare" + "".join("abcdefghij"[int(c)] for c in str(k)))
                k += 1
        lines.append(" ".join(sentence) + ("\n\n" if i % 3 == 2 else "\n"))
    corpus = tmp_path / "c.txt"
    corpus.write_text("".join(lines), encoding="utf-8")

    def run(max_types):
        m = Word2Vec(min_count=2, max_types=max_types)
        m.build_vocab(str(corpus), str(tmp_path / "ids"))
        ids = np.fromfile(tmp_path / "ids", dtype=np.int32)
        return m.vocab, ["|" if i < 0 else m.vocab.words[i] for i in ids]

    whole, stream = run(10 ** 6)
    pruned, pruned_stream = run(30)
    assert whole.n_tokens == pruned.n_tokens == 300 * 12
    frequent = [w for w in whole.words if len(w) == 1]
    assert len(frequent) == 8 and all(pruned.count(w) == whole.count(w) for w in frequent)
    assert [w for w in pruned_stream if w in frequent] == [w for w in stream if w in frequent]
    assert all(pruned.count(w) <= whole.count(w) for w in pruned.words)      # counts are lower bounds
    rest = iter(stream)                      # the pruned stream is the whole one with occurrences left out
    assert all(any(w == x for x in rest) for w in pruned_stream)
    assert len(pruned_stream) < len(stream) and len(pruned) < len(whole)


def test_released_pages_leave_the_process_and_reads_still_see_the_ids(tmp_path):
    def rss_file_kb():
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("RssFile:"))
    with open(tmp_path / "ids", "wb") as f:
        for i in range(8):
            idfile.write(f, np.arange(1 << 20) + i)                            # 32 MB
    ids = idfile.open_ids(tmp_path / "ids")
    assert ids.dtype == np.int32 and not ids.flags.writeable and ids.shape == (8 << 20,)
    before = rss_file_kb()
    total = int(ids.sum(dtype=np.int64))                                       # every page read
    if sys.platform.startswith("linux"):
        assert rss_file_kb() - before > 20_000
        idfile.release(ids)
        assert rss_file_kb() - before < 2_000
    assert sum(int(c.sum(dtype=np.int64)) for c in idfile.chunks(ids, size=3 << 18)) == total
    view = ids[5:]
    idfile.release(view, 1, 3)                                                  # not page-aligned: fine
    assert view[:3].tolist() == [5, 6, 7]
    (tmp_path / "empty").write_bytes(b"")
    assert idfile.open_ids(tmp_path / "empty").shape == (0,)
    idfile.release(np.arange(10))                                              # not mapped: nothing to do
