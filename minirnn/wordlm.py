"""The quantized word language model: words -> cluster ids for the RNN, and cluster ids -> words back.

Shapes and names
    V   words in the word2vec vocabulary; id V is <unk>, every word below min_count
    K   clusters of the quantizer; class K is the <unk> cluster, holding only <unk>
    C   classes the RNN predicts: K + 1 for the cluster model, V + 1 for the plain word model
    D   word-vector size
    n   tokens in the corpus

The cluster model factorises the next word w (in cluster c(w)) as
    (1) p(w | history) = p(c(w) | history) * p(w | c(w))
where the RNN gives p(c | history) over C = K + 1 classes and p(w | c) is the unigram frequency of w
among the members of c, counted on the training split with add-one smoothing:
    (2) p(w | c) = (n_w + 1) / (sum_{u in c} n_u + |c|)
So its word-level cross-entropy is the cluster cross-entropy plus the within-cluster term:
    (3) CE_word = CE_cluster + mean_t [ -log p(w_t | c(w_t)) ]
and this is what makes it comparable with a plain word model (C = V + 1, p(w | c) = 1).

The RNN's input table is the quantizer's centroid matrix (K, D) plus a zero row for <unk>: frozen
unless asked otherwise. The plain word model's input table is the word vectors themselves.
"""
from __future__ import annotations

import numpy as np

from . import chardata, idfile
from .errors import UsageError
from .textio import iter_lines
from .tokenize import MAX_PIECE, tokenize

UNK = "<unk>"


def encode_corpus(path, key_to_index: dict, dir=None) -> tuple[np.ndarray, int]:
    """Token ids of a corpus: (ids (n,) int32, with len(key_to_index) for unknown words; n_unknown).

    One pass over the text; the ids go to an anonymous temporary file in ``dir`` (default: the
    system's, ``$TMPDIR``), one chunk at a time, and come back memory-mapped (``minirnn.idfile``):
    read-only, 4 bytes a token on disk, never all in memory.
    """
    unk = len(key_to_index)
    get = key_to_index.get
    n_unknown = n = 0
    with idfile.temporary_file(dir) as f:
        buf: list[int] = []
        for line in iter_lines(path, max_len=MAX_PIECE):
            buf.extend([get(t, unk) for t in tokenize(line)])
            if len(buf) >= idfile.CHUNK:
                chunk = np.array(buf, dtype=np.int32)                      # (b,)
                n_unknown += int((chunk == unk).sum())
                n += idfile.write(f, chunk)
                buf = []
        chunk = np.array(buf, dtype=np.int32)
        n_unknown += int((chunk == unk).sum())
        n += idfile.write(f, chunk)
        if n == 0:
            raise UsageError(f"{path}: no words in the corpus")
        return idfile.open_ids(f), n_unknown


class StreamWindows(chardata.Windows):
    """``chardata.Windows`` over ids that stay on disk (memory-mapped), read one window at a time.

    data (n,) ids; ``table`` (optional) maps each id as it is read: word -> class for the cluster
    model's windows, so that the class sequence is never written out whole. Every
    ``RELEASE_EVERY`` windows the pages read so far are given back (``idfile.release``): whatever
    the length of the corpus, what stays resident is a few hundred windows.
    """
    RELEASE_EVERY = 256

    def __init__(self, data, batch: int, seq: int, table=None):
        super().__init__(data, batch, seq)                   # x, y: views of the map, nothing read yet
        self.data = data
        self.table = None if table is None else np.asarray(table)

    def window(self, k: int):
        x, y = super().window(k)                             # (B, T) int64 copies
        if (k + 1) % self.RELEASE_EVERY == 0 or k + 1 == len(self):
            idfile.release(self.data)
        if self.table is not None:
            x, y = self.table[x], self.table[y]              # (B, T) classes
        return x, y


def _pieces(ids, size=None):
    """ids (any shape, possibly a view of a memory map) in pieces of about `size` elements, each
    a copy, the pages read given back as it goes: one pass in bounded memory."""
    ids, size = np.asarray(ids), size or idfile.CHUNK
    if ids.ndim == 1:
        yield from idfile.chunks(ids, size=size)
        return
    rows = ids.reshape(-1, ids.shape[-1])                    # (R, L): B streams of the val split
    step = max(1, size // max(rows.shape[0], 1))
    for lo in range(0, rows.shape[1], step):
        yield np.array(rows[:, lo:lo + step]).reshape(-1)
        idfile.release(_base_1d(ids))


def _base_1d(a):
    """The 1-D array a view was cut from (for idfile.release), or a itself."""
    while isinstance(a.base, np.ndarray) and a.ndim != 1:
        a = a.base
    return a


class WordTask:
    """A corpus encoded for one model: the classes it predicts and the way back to words.

    words      V + 1 words: the vocabulary in frequency order, then <unk>
    labels     (V + 1,) class of each word: its cluster, or the word itself for the plain model
    embedding  (C, D) the RNN's input table
    vectors    (V + 1, D) the word vectors (<unk>: zeros), for the "nearest" word choice
    logp_in    (V + 1,) log p(w | class of w), equation (2); all 0 for the plain word model
    members    list of C int arrays: the words of each class, most frequent first
    """

    def __init__(self, words, labels, embedding, vectors, logp_in=None, clustered=True):
        self.words = list(words)
        self.labels = np.asarray(labels, dtype=np.int64)                    # (V+1,)
        self.embedding = np.asarray(embedding, dtype=np.float32)            # (C, D)
        self.vectors = np.asarray(vectors, dtype=np.float32)                # (V+1, D)
        self.C = self.embedding.shape[0]
        self.clustered = bool(clustered)
        self.logp_in = np.zeros(len(self.words)) if logp_in is None else np.asarray(logp_in, np.float64)
        self._order_members()

    @classmethod
    def clusters(cls, words, vectors, labels, centroids):
        """The cluster model: C = K + 1 classes, input table = centroids + a zero row for <unk>."""
        K, D = centroids.shape
        return cls(list(words) + [UNK], np.append(np.asarray(labels, dtype=np.int64), K),
                   np.vstack([centroids, np.zeros((1, D), np.float32)]),
                   np.vstack([vectors, np.zeros((1, D), np.float32)]), clustered=True)

    @classmethod
    def plain(cls, words, vectors):
        """The plain word model: C = V + 1 classes, input table = the word vectors (+ <unk>)."""
        V, D = vectors.shape
        table = np.vstack([vectors, np.zeros((1, D), np.float32)])          # (V+1, D)
        return cls(list(words) + [UNK], np.arange(V + 1), table, table, clustered=False)

    def arrays(self) -> dict:
        """What a checkpoint needs to map classes back to words (the words go in its JSON)."""
        return {"labels": self.labels, "logp_in": self.logp_in, "vectors": self.vectors}

    def _order_members(self):
        order = np.lexsort((np.arange(len(self.labels)), -self.logp_in, self.labels))  # by class, then p(w|c)
        bounds = np.searchsorted(self.labels[order], np.arange(self.C + 1))
        self.members = [order[bounds[c]:bounds[c + 1]] for c in range(self.C)]

    def fit_within(self, train_word_ids) -> None:
        """Estimate p(w | c), equation (2), from the training split's word counts (read in pieces)."""
        if not self.clustered:
            return
        n = np.ones(len(self.words))                                                       # (V+1,) the +1
        for piece in _pieces(train_word_ids):
            n += np.bincount(piece, minlength=len(self.words))
        total = np.bincount(self.labels, weights=n, minlength=self.C)                       # (C,)
        self.logp_in = np.log(n) - np.log(total[self.labels])                               # (V+1,)
        self._order_members()

    def within_ce(self, word_ids) -> float:
        """mean -log p(w | c(w)) over the given tokens (any shape, read in pieces): the second term of (3)."""
        total, count = 0.0, 0
        for piece in _pieces(word_ids):
            total -= float(self.logp_in[piece].sum())
            count += piece.size
        return total / count

    def split(self, word_ids, val_frac, batch, seq):
        """(train, val, val_words): windows over classes, and over the words at the same positions of val.

        All three read word_ids (which may stay on disk) one window at a time; train and val map each
        window to classes as they read it.
        """
        train, val = chardata.split(word_ids, val_frac, batch, seq, unit="words")  # the checks, the shapes
        n_val = int(len(word_ids) * val_frac)
        n_train = len(word_ids) - n_val
        return (StreamWindows(word_ids[:n_train], batch, seq, self.labels),
                StreamWindows(word_ids[n_train:], val.B, seq, self.labels),
                StreamWindows(word_ids[n_train:], val.B, seq))

    def word_ids(self, tokens):
        """(ids of the known tokens, list of the unknown ones)."""
        index = {w: i for i, w in enumerate(self.words[:-1])}
        known = [index[t] for t in tokens if t in index]
        return known, [t for t in tokens if t not in index]


def targets(windows) -> np.ndarray:
    """Every target id an evaluation of `windows` scores: (B, n_windows * T)."""
    return windows.y[:, :len(windows) * windows.T]


WORD_CHOICES = ("frequency", "nearest")


def generate(model, task: WordTask, start_ids, length, rng, temperature=1.0, top_k=0,
             choice="frequency"):
    """Yield `length` word ids after feeding the words `start_ids` (known word ids, non-empty).

    Each step samples a class from the RNN (never <unk>), then a word inside it:
      frequency  draw a member with probability p(w | c)                       (the default)
      nearest    the member whose vector is closest (cosine) to the model's expected input
                 embedding, sum_c p(c) * E[c]: a deterministic choice given the distribution
    Only class ids are fed back to the RNN; that is all it ever sees.
    """
    from .backend import to_device, to_numpy
    from .sampling import filtered_probs
    if choice not in WORD_CHOICES:
        raise UsageError(f"word choice must be one of {WORD_CHOICES}, got {choice!r}")
    classes = task.labels[np.asarray(start_ids)].reshape(1, -1)            # (1, P)
    logits, state = model.predict(to_device(classes))
    unk_class = task.labels[-1]
    E = task.embedding                                                     # (C, D)
    unit = task.vectors / np.maximum(np.linalg.norm(task.vectors, axis=1, keepdims=True), 1e-12)
    for _ in range(length):
        z = np.asarray(to_numpy(logits[0, -1]), dtype=np.float64)          # (C,)
        z[unk_class] = -np.inf                                             # never generate <unk>
        p = filtered_probs(z, temperature, top_k)                          # (C,)
        c = int(rng.choice(p.shape[0], p=p))
        m = task.members[c]
        if choice == "frequency" or len(m) == 1:
            q = np.exp(task.logp_in[m])
            w = int(m[rng.choice(len(m), p=q / q.sum())])
        else:
            e = p @ E                                                      # (D,) expected embedding
            w = int(m[np.argmax(unit[m] @ e)])
        yield w
        logits, state = model.predict(to_device(np.array([[c]])), state)
