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

from array import array

import numpy as np

from . import chardata
from .errors import UsageError
from .tokenize import iter_tokens

UNK = "<unk>"


def encode_corpus(path, key_to_index: dict) -> tuple[np.ndarray, int]:
    """Token ids of a corpus: (ids (n,) int32, with len(key_to_index) for unknown words; n_unknown)."""
    unk = len(key_to_index)
    buf = array("i")
    n_unknown = 0
    for token in iter_tokens(path):
        i = key_to_index.get(token, unk)
        n_unknown += i == unk
        buf.append(i)
    if not buf:
        raise UsageError(f"{path}: no words in the corpus")
    return np.frombuffer(buf, dtype=np.int32).copy(), n_unknown


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
        """Estimate p(w | c), equation (2), from the training split's word counts."""
        if not self.clustered:
            return
        n = np.bincount(train_word_ids, minlength=len(self.words)).astype(np.float64) + 1  # (V+1,)
        total = np.bincount(self.labels, weights=n, minlength=self.C)                       # (C,)
        self.logp_in = np.log(n) - np.log(total[self.labels])                               # (V+1,)
        self._order_members()

    def within_ce(self, word_ids) -> float:
        """mean -log p(w | c(w)) over the given tokens: the second term of (3)."""
        return float(-self.logp_in[np.asarray(word_ids).reshape(-1)].mean())

    def split(self, word_ids, val_frac, batch, seq):
        """(train, val, val_words): Windows over classes, and the words at the same positions of val."""
        classes = self.labels[word_ids].astype(np.int32)                    # (n,)
        train, val = chardata.split(classes, val_frac, batch, seq, unit="words")
        n_val = int(len(word_ids) * val_frac)
        val_words = chardata.Windows(word_ids[len(word_ids) - n_val:], val.B, seq)
        return train, val, val_words

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
