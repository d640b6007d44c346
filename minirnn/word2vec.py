"""Skip-gram word2vec with negative sampling (SGNS), trained from scratch as in Mikolov's word2vec.c.

    from minirnn.word2vec import Word2Vec
    model = Word2Vec(dim=100, window=5, min_count=5, negative=5, epochs=5, workers=2, seed=1)
    model.train("corpus.txt", progress=print)     # progress: called with a TrainProgress per block
    model.losses                                  # mean negative-sampling loss of each epoch
    model.wv.most_similar("sancho")               # KeyedVectors
    model.save("w2v.npz"); Word2Vec.load("w2v.npz")

Dimension legend: V vocabulary size, D vector size (``dim``), n tokens, K negatives per pair.

The algorithm (steps; the equations of step 2c are numbered below):

1. Count words in one streaming pass over the corpus (``minirnn.tokenize.iter_sentences``: a paragraph
   is a sentence), writing provisional token ids to a temporary file; keep words seen ``min_count``
   times, at most ``max_vocab`` of them, most frequent first; rewrite the ids in vocabulary order into
   a cache file that every epoch reads through a memory map (``minirnn.idfile``).
   Memory: at most ``max_types`` raw word counts (the rarest are pruned beyond), then one chunk.
2. Each epoch reads the cache block by block, giving each block's pages back once it is done
   (``idfile.release``). Memory: the model (two (V, D) tables and the noise table) and one block,
   whatever the length of the corpus. In each block:
   a. subsampling: word w is kept with probability  p(w) = (sqrt(f/t) + 1) * t/f,  f = count(w),
      t = sample * (tokens in the vocabulary), capped at 1; dropped words vanish before windowing;
   b. dynamic window: each position gets a window b drawn uniformly from 1..window;
   c. every (center, context) pair within b positions in the same sentence trains the context word's
      input vector to predict the center word, against K negatives drawn from unigram^0.75
      (``noise_table``): equations (1)-(5);
   d. the learning rate falls linearly from ``alpha`` to ``min_alpha`` over all epochs.
3. The reported loss of an epoch is the mean of (1) over its pairs.

Skip-gram with negative sampling, one pair (center word o, context word c). u = syn0[c] is the
context word's input vector, v_t = syn1neg[t] the output vector of word t, σ the logistic function,
t_1..t_K drawn from the noise table (a draw equal to o is skipped, as in word2vec.c):

    (1) L = -log σ(u·v_o) - Σ_k log σ(-u·v_{t_k})            the negative-sampling loss
    (2) g_t = alpha * (label_t - σ(u·v_t))                    label 1 for o, 0 for each t_k;
                                                              g_t = -alpha ∂L/∂(u·v_t)
    (3) v_t += g_t * u                                        for o and each t_k, in draw order
    (4) u   += Σ_t g_t * v_t                                  v_t taken before its own update (3)
    (5) with z = u·v_t for o and z = -u·v_t for a negative, each term of (1) and (2) is computed
        without overflow as
            -log σ(z) = log(1 + e^-z)         and  1 - σ(z) = e^-z / (1 + e^-z)   for z >= 0
            -log σ(z) = -z + log(1 + e^z)     and  1 - σ(z) = 1 / (1 + e^z)       for z < 0
        (e^-|z| <= 1 never overflows), and label_t - σ(u·v_t) = ±(1 - σ(z)).

As in word2vec.c and gensim, the roles are swapped with respect to the paper's p(context | center):
the context word's input vector u predicts the center word o. Over a corpus the same word pairs are
trained as often either way (in expectation: the random windows are symmetric), only in another
order; docs/word2vec.md derives (1)-(5) and says why.

Steps 2a-b and the seeds use NumPy here; step 2c is a Numba kernel over chunks of the block, one per
thread (Hogwild), in ``minirnn._word2vec_kernels``. Training always runs on the CPU, whatever
``minirnn.backend`` has selected: the kernels take NumPy arrays, and results are NumPy arrays.
``sgns_pair_reference`` and ``sgns_block_reference`` below are the readable NumPy version of the
kernels (same equations, same random draws); a test holds the kernels to them.
"""
from __future__ import annotations

import math
import os
import tempfile
import time
from dataclasses import dataclass

import numba
import numpy as np

from . import _word2vec_kernels as kernels
from . import checkpoint, idfile
from .errors import UsageError, require, require_memory
from .keyedvectors import KeyedVectors
from .textio import check_text_file
from .tokenize import MAX_SENTENCE_LEN, iter_sentences
from .vocab import Vocabulary

BLOCK_TOKENS = 1 << 18  # tokens read from the id cache per kernel call and per progress report
MAX_ALPHA = 0.25  # largest learning rate accepted: 10x word2vec.c's skip-gram default; 0.5 diverges
DIVERGED = 10.0   # a block whose mean loss per pair exceeds DIVERGED x the initial (K+1) ln 2 has diverged
_FLUSH_TOKENS = 1 << 20  # tokens buffered before writing to the cache file
MAX_TYPES = 4_000_000  # distinct words the vocabulary pass holds at most (about 0.5 GB), see build_vocab
_MODEL_FORMAT = "minirnn-word2vec-1"


# ---- sampling tables ----------------------------------------------------------------------------
def keep_probabilities(counts, sample: float) -> np.ndarray:
    """Probability that subsampling keeps each word (word2vec.c's formula), shape (V,) float64.

    p(w) = (sqrt(f/t) + 1) * t/f  capped at 1, with f = count(w) and t = sample * sum(counts).
    ``sample = 0`` keeps everything.
    """
    counts = np.asarray(counts, dtype=np.float64)  # (V,)
    if sample <= 0:
        return np.ones_like(counts)
    t = sample * counts.sum()
    p = (np.sqrt(counts / t) + 1.0) * t / counts  # (V,)
    return np.minimum(p, 1.0)


def noise_table(counts, size: int | None = None, power: float = 0.75) -> np.ndarray:
    """The table negatives are drawn from: word w fills a share count(w)^power / Σ count^power of it.

    Entry s holds the word whose cumulative share first exceeds (s + 0.5)/S, so every word gets
    within one entry of its exact share. Default S: 100 entries per word, at least 2^20 and at most 10^8.
    """
    counts = np.asarray(counts, dtype=np.float64)  # (V,)
    V = counts.shape[0]
    if size is None:
        size = int(min(max(100 * V, 1 << 20), 100_000_000))
    weights = counts ** power  # (V,)
    cum = np.cumsum(weights) / weights.sum()  # (V,) cumulative share, cum[-1] = 1
    # entry s goes to the first word w with cum[w] > (s + 0.5)/S: word w gets the entries s with
    # cum[w-1] <= (s + 0.5)/S < cum[w], so the table is each word repeated below[w] - below[w-1]
    # times, below[w] = #{s : (s + 0.5)/S < cum[w]}. The estimate ceil(cum S - 0.5) is corrected by
    # one where rounding put it on the wrong side of the same comparison the definition makes.
    below = np.clip(np.ceil(cum * size - 0.5), 0, size).astype(np.int64)  # (V,)
    below -= (below > 0) & ((below - 1 + 0.5) / size >= cum)
    below += (below < size) & ((below + 0.5) / size < cum)
    repeats = np.diff(below, prepend=0)  # (V,)
    repeats[-1] += size - below[-1]  # entries past cum[-1] (1 up to rounding) go to the last word
    return np.repeat(np.arange(V, dtype=np.int32), repeats)  # (S,)


# ---- NumPy reference of the kernels --------------------------------------------------------------
_MASK64 = (1 << 64) - 1


def neg_log_sigmoid(z):
    """(5) Returns (-log σ(z), 1 - σ(z)) for a float z, without overflow for any z."""
    if z >= 0:
        e = math.exp(-z)                    # in (0, 1]
        return math.log1p(e), e / (1.0 + e)
    e = math.exp(z)                         # in (0, 1)
    return math.log1p(e) - z, 1.0 / (1.0 + e)


def sgns_pair_reference(syn0, syn1neg, neg_table, context, center, negative, alpha, rnd):
    """Readable NumPy version of ``kernels.sgns_pair``: equations (1)-(5) of the module docstring for
    one (center, context) pair, with the same random draws.

    Updates syn0 and syn1neg in place; returns (loss, new random state).
    """
    u = syn0[context]  # (D,) view: the context word's input vector
    neu1e = np.zeros_like(u)  # (D,) Σ_t g_t v_t of (4)
    loss = 0.0
    rnd = int(rnd)
    for d in range(negative + 1):
        if d == 0:
            target, sign = center, 1.0  # the positive: label 1
        else:
            rnd = (rnd * 25214903917 + 11) & _MASK64  # word2vec.c's LCG
            target = int(neg_table[(rnd >> 16) % len(neg_table)])
            if target == center:
                continue
            sign = -1.0  # a negative: label 0
        z = sign * float(np.dot(u, syn1neg[target]))  # ±u·v_t
        nls, one_minus_sig = neg_log_sigmoid(z)  # (5)
        loss += nls  # (1) -log σ(±u·v_t)
        g = np.float32(sign * one_minus_sig * alpha)  # (2) label_t - σ(u·v_t) = ±(1 - σ(z))
        neu1e += g * syn1neg[target]  # (4) the old v_t
        syn1neg[target] += g * u  # (3)
    u += neu1e  # (4)
    return loss, rnd


def sgns_block_reference(ids, win, bounds, seeds, syn0, syn1neg, neg_table, negative, alpha):
    """Readable NumPy version of ``kernels.sgns_block``, chunks one after another; returns out (C, 2)."""
    out = np.zeros((len(bounds) - 1, 2))  # (C, 2) loss sum, pair count
    for c in range(len(bounds) - 1):
        lo, hi = int(bounds[c]), int(bounds[c + 1])
        rnd = int(seeds[c])
        sentence_start = lo
        for i in range(lo, hi):
            if ids[i] < 0:
                sentence_start = i + 1
                continue
            a = np.float32(alpha[0] + (alpha[1] - alpha[0]) * ((i - lo) / max(hi - lo, 1)))
            b = int(win[i])
            for j in range(max(sentence_start, i - b), min(hi, i + b + 1)):
                if j == i:
                    continue
                if ids[j] < 0:
                    break
                loss, rnd = sgns_pair_reference(syn0, syn1neg, neg_table, int(ids[j]), int(ids[i]), negative, a, rnd)
                out[c] += (loss, 1)
    return out


# ---- training -----------------------------------------------------------------------------------
@dataclass
class TrainProgress:
    """What ``Word2Vec.train`` reports after each block."""
    epoch: int  # 1-based
    epochs: int
    words_done: int  # vocabulary tokens read so far, all epochs (before subsampling)
    words_total: int  # epochs * tokens per epoch
    words_per_s: float
    loss: float  # mean loss of the pairs trained so far in this epoch
    elapsed_s: float
    eta_s: float


def _chunk_bounds(ids, n_chunks) -> np.ndarray:
    """Cut ids (n,) into at most n_chunks pieces of similar size, each ending at a sentence end."""
    n = ids.shape[0]
    ends = np.flatnonzero(ids < 0) + 1  # (#sentences,) position after each sentence end
    targets = (np.arange(1, n_chunks) * n) // n_chunks  # (n_chunks-1,) ideal cut points
    cuts = ends[np.minimum(np.searchsorted(ends, targets), len(ends) - 1)] if len(ends) else targets
    return np.unique(np.concatenate([[0], cuts, [n]])).astype(np.int64)  # (C+1,)


class Word2Vec:
    """Skip-gram with negative sampling; see the module docstring.

    Parameters
    ----------
    dim : vector size D.            window : largest window (actual one drawn from 1..window).
    min_count, max_vocab : vocabulary cut (see ``Vocabulary.from_counts``).
    max_types : distinct words held while counting, the memory bound of the vocabulary pass
        (``build_vocab``: the rarest are pruned when more come).
    negative : negatives K per pair.  sample : subsampling threshold (0 = off).
    alpha, min_alpha : learning rate at the start and at the end of training (linear in between).
    epochs : passes over the corpus.  workers : threads (default: all Numba may use).
    seed : random seed of the initial vectors, subsampling, windows and negatives. With workers=1
        training is deterministic; with more, Hogwild makes the last digits vary from run to run.
    keep_digits : count digit runs as words (see ``minirnn.tokenize``).
    """

    def __init__(self, dim=100, window=5, min_count=5, max_vocab=None, negative=5, sample=1e-3,
                 alpha=0.025, min_alpha=1e-4, epochs=5, workers=None, seed=1, keep_digits=False,
                 max_types=MAX_TYPES):
        max_threads = numba.config.NUMBA_NUM_THREADS
        workers = max_threads if workers is None else workers
        require(isinstance(dim, (int, np.integer)) and dim >= 1, f"dim must be an integer >= 1, got {dim}")
        require(isinstance(window, (int, np.integer)) and 1 <= window <= MAX_SENTENCE_LEN,
                f"window must be an integer in 1..{MAX_SENTENCE_LEN} (the longest sentence), got {window}")
        require(min_count >= 1, f"min_count must be >= 1, got {min_count}")
        require(max_vocab is None or max_vocab >= 1, f"max_vocab must be >= 1, got {max_vocab}")
        require(isinstance(max_types, (int, np.integer)) and max_types >= 2,
                f"max_types must be an integer >= 2, got {max_types}")
        require(negative >= 1, f"negative must be >= 1, got {negative}")
        require(sample >= 0, f"sample must be >= 0, got {sample}")
        require(math.isfinite(alpha) and 0 < alpha <= MAX_ALPHA,
                f"alpha (--alpha) must be in (0, {MAX_ALPHA}], got {alpha}: a larger learning rate makes "
                f"skip-gram diverge (word2vec.c's default is 0.025)")
        require(math.isfinite(min_alpha) and 0 <= min_alpha <= alpha,
                f"min_alpha (--min-alpha) must be in [0, alpha = {alpha}], got {min_alpha}")
        require(epochs >= 1, f"epochs must be >= 1, got {epochs}")
        require_memory(8.0 * dim, f"vectors of dim {dim}", "use a smaller dim (--dim)")
        require(1 <= workers <= max_threads,
                f"workers must be between 1 and {max_threads} (Numba's thread limit, NUMBA_NUM_THREADS), got {workers}")
        self.dim, self.window, self.min_count, self.max_vocab = int(dim), int(window), int(min_count), max_vocab
        self.negative, self.sample, self.alpha, self.min_alpha = int(negative), float(sample), float(alpha), float(min_alpha)
        self.epochs, self.workers, self.seed, self.keep_digits = int(epochs), int(workers), seed, bool(keep_digits)
        self.max_types = int(max_types)
        self.vocab: Vocabulary | None = None
        self.syn0: np.ndarray | None = None  # (V, D) input vectors: the word vectors
        self.syn1neg: np.ndarray | None = None  # (V, D) output vectors
        self.losses: list[float] = []  # mean loss per epoch
        self.timings: dict = {}
        self.counting: dict = {}  # the vocabulary pass: distinct words held at its end, prunings, tokens
        self._wv: KeyedVectors | None = None

    def params(self) -> dict:
        return {k: getattr(self, k) for k in ("dim", "window", "min_count", "max_vocab", "negative", "sample",
                                                "alpha", "min_alpha", "epochs", "workers", "seed", "keep_digits",
                                                "max_types")}

    @property
    def wv(self) -> KeyedVectors:
        """The trained word vectors (syn0) with their vocabulary and counts."""
        if self.syn0 is None:
            raise UsageError("the model is not trained yet: call train(corpus_path) first")
        if self._wv is None:
            self._wv = KeyedVectors(self.vocab.words, self.syn0, self.vocab.counts)
        return self._wv

    # ---- step 1: vocabulary and the id cache ----------------------------------------------------
    def build_vocab(self, corpus_path, cache_path):
        """Count the corpus and write its ids (vocabulary order, -1 after each sentence) to cache_path.

        Returns the number of ids written. One pass over the text: each word gets a provisional id,
        the order in which it first came, and these ids go to an anonymous temporary file; at the end
        they are renumbered into vocabulary order, in chunks, into cache_path.

        Memory is bounded by ``max_types``, the distinct words held while counting (about 130 bytes
        each, in a dict), however long the corpus. When one more would come, the pass prunes, as
        word2vec.c's ReduceVocab and gensim's ``max_vocab_size`` do: it forgets every word seen at
        most `floor` times so far, raising `floor` from 1 until at most half of max_types remain.
        A forgotten word that comes back starts again from zero, so the counts of the words near the
        floor are lower bounds and their earliest occurrences are not trained on; words that stay
        above it lose nothing. The survivors are numbered again from 0 in the same order; each
        pruning's map from old to new ids goes to a second temporary file, and the ids written
        before a pruning reach their final numbers through the maps of the prunings after it.
        """
        corpus_path = check_text_file(corpus_path)
        index: dict[str, int] = {}           # each word held -> provisional id = its place in index's order
        counts = np.zeros(0, dtype=np.int64)  # (#held,) how often each held word was seen
        prunings: list[tuple[int, int]] = []  # per pruning: (ids written before it, length of its map)
        n_raw = n_words = 0
        buf: list[int] = []
        with idfile.temporary_file(os.path.dirname(os.path.abspath(cache_path))) as raw, \
                idfile.temporary_file(os.path.dirname(os.path.abspath(cache_path))) as maps:
            def flush():
                nonlocal counts, buf, n_raw, n_words
                arr = np.array(buf, dtype=np.int32)  # (b,)
                words_ = arr[arr >= 0]
                counts = np.pad(counts, (0, len(index) - len(counts)))
                counts += np.bincount(words_, minlength=len(index))
                n_raw += idfile.write(raw, arr)
                n_words += words_.shape[0]
                buf = []

            def prune():
                nonlocal counts
                flush()
                floor = 1
                while np.count_nonzero(counts > floor) > self.max_types // 2:
                    floor += 1
                keep = counts > floor                                     # (#held,)
                new_id = np.where(keep, np.cumsum(keep) - 1, -1).astype(np.int32)  # (#held,) old -> new
                for w in list(index):  # dict order = id order; deleting and renumbering keeps it so
                    i = index[w]
                    if keep[i]:
                        index[w] = int(new_id[i])
                    else:
                        del index[w]
                counts = counts[keep]
                idfile.write(maps, new_id)
                prunings.append((n_raw, new_id.shape[0]))

            setdefault = index.setdefault
            for sentence in iter_sentences(corpus_path, keep_digits=self.keep_digits):
                buf.extend([setdefault(w, len(index)) for w in sentence])
                buf.append(-1)
                if len(index) > self.max_types:
                    prune()
                elif len(buf) >= _FLUSH_TOKENS:
                    flush()
            flush()
            require(n_words > 0, f"{corpus_path}: holds no words (letters)")
            words = list(index)  # (#held,) in id order
            del index
            self.counting = {"types_held": len(words), "prunings": len(prunings), "tokens": n_words}
            kept = np.flatnonzero(counts >= self.min_count)  # (#candidates,)
            require(len(kept) > 0, f"{corpus_path}: no word occurs at least min_count={self.min_count} times "
                                   f"(the most frequent occurs {counts.max()} times)")
            vocab = Vocabulary.from_counts({words[i]: int(counts[i]) for i in kept}, self.min_count,
                                           self.max_vocab, n_tokens=n_words)
            # provisional id (of the last id space) -> vocabulary id, -1 for words cut from the vocabulary
            final = np.full(len(words), -1, dtype=np.int32)  # (#held,)
            place = {words[i]: i for i in kept}
            final[[place[w] for w in vocab.words]] = np.arange(len(vocab), dtype=np.int32)
            del place, words
            # each pruning's map composed with those after it, from the ids of its space to the final
            # ids: worked out from the last back to the first, and written after the maps themselves
            space_ends = [n for n, _ in prunings] + [n_raw]    # id space k covers raw ids up to space_ends[k]
            offsets = np.cumsum([0] + [m for _, m in prunings])
            composed = [(offsets[-1], len(final))]            # (place in the maps file, length) per space
            idfile.write(maps, final)
            for k in reversed(range(len(prunings))):
                m = np.array(idfile.open_ids(maps)[offsets[k]:offsets[k + 1]])  # (m,) old -> new id
                final = np.where(m >= 0, final[np.maximum(m, 0)], -1)           # (m,) old -> final id
                composed.insert(0, (sum(composed[0]), len(final)))
                idfile.write(maps, final)
            del final
            maps_ids, raw_ids = idfile.open_ids(maps), idfile.open_ids(raw)
            n_out, start = 0, 0
            with open(cache_path, "wb") as out:
                for end, (at, length) in zip(space_ends, composed):
                    remap = np.array(maps_ids[at:at + length])  # (m,) this space's ids -> final ids
                    for x in idfile.chunks(raw_ids, start, end, _FLUSH_TOKENS):  # (b,)
                        y = np.where(x >= 0, remap[np.maximum(x, 0)], -1)  # (b,) separators stay -1
                        n_out += idfile.write(out, y[(x < 0) | (y >= 0)])  # the cut words go; windows span them
                    start = end
            del maps_ids, raw_ids
        self.vocab = vocab
        return n_out

    # ---- step 2: epochs -------------------------------------------------------------------------
    def train(self, corpus_path, progress=None, cache_dir=None):
        """Build the vocabulary from ``corpus_path`` and train; returns self.

        ``progress``, if given, is called with a ``TrainProgress`` after each block of about
        ``BLOCK_TOKENS`` tokens. ``cache_dir`` holds the temporary id cache, 4 bytes a token
        (default: the system temporary directory, ``$TMPDIR``); it is deleted at the end.
        """
        t0 = time.perf_counter()
        fd, cache_path = tempfile.mkstemp(prefix="minirnn-w2v-", suffix=".ids", dir=cache_dir)
        os.close(fd)
        try:
            n_ids = self.build_vocab(corpus_path, cache_path)
            t1 = time.perf_counter()
            ids = idfile.open_ids(cache_path)  # (n,) the id cache, memory-mapped
            assert ids.shape[0] == n_ids
            self._train_epochs(ids, progress)
            del ids
            t2 = time.perf_counter()
        finally:
            if os.path.exists(cache_path):
                os.remove(cache_path)
        self.timings = {"vocab_s": t1 - t0, "train_s": t2 - t1,
                        "words_per_s": self.epochs * self.vocab.total / max(t2 - t1, 1e-9)}
        return self

    def _train_epochs(self, ids, progress):
        V, D = len(self.vocab), self.dim
        require_memory(2.0 * V * D * 4 + 4.0 * min(max(100 * V, 1 << 20), 100_000_000),
                       f"word2vec with {V:,} words x dim {D:,} (two float32 tables)",
                       "use a smaller dim (--dim), a larger --min-count or a --max-vocab")
        rng = np.random.default_rng(self.seed)
        # word2vec.c's initialisation: input vectors uniform in [-0.5/D, 0.5/D), output vectors zero
        self.syn0 = rng.random((V, D), dtype=np.float32)  # (V, D), in place below: no (V, D) temporaries
        self.syn0 -= 0.5
        self.syn0 /= D
        self.syn1neg = np.zeros((V, D), dtype=np.float32)  # (V, D)
        self._wv = None
        keep = keep_probabilities(self.vocab.counts, self.sample).astype(np.float32)  # (V,)
        table = noise_table(self.vocab.counts)  # (S,)
        words_total = self.epochs * self.vocab.total
        words_done = 0
        self.losses = []
        old_threads = numba.get_num_threads()
        numba.set_num_threads(self.workers)
        start = time.perf_counter()
        try:
            for epoch in range(1, self.epochs + 1):
                loss_sum, pairs = 0.0, 0
                pos = 0
                while pos < ids.shape[0]:
                    end = self._block_end(ids, pos)
                    block = np.array(ids[pos:end])  # (b,) a copy of the block, read from the cache
                    idfile.release(ids, pos, end)  # its pages leave this process: one block stays resident
                    pos = end
                    n_words = int((block >= 0).sum())
                    # step 2a: subsampling, before windowing; sentence ends always stay
                    block = block[(block < 0) | (rng.random(block.shape[0], dtype=np.float32) < keep[np.maximum(block, 0)])]
                    # step 2b: each position's window, uniform in 1..window
                    win = rng.integers(1, self.window + 1, size=block.shape[0], dtype=np.int32)  # (b',)
                    bounds = _chunk_bounds(block, self.workers)  # (C+1,)
                    seeds = rng.integers(0, np.iinfo(np.uint64).max, size=len(bounds) - 1, dtype=np.uint64,
                                         endpoint=True)  # (C,)
                    alpha = np.array([self._alpha_at(words_done, words_total),
                                      self._alpha_at(words_done + n_words, words_total)], dtype=np.float32)
                    out = np.zeros((len(bounds) - 1, 2))  # (C, 2)
                    # step 2c, equations (1)-(5): the Numba kernel, one chunk per thread
                    kernels.sgns_block(block, win, bounds, seeds, self.syn0, self.syn1neg, table, self.negative, alpha, out)
                    block_pairs = int(out[:, 1].sum())
                    block_loss = out[:, 0].sum() / max(block_pairs, 1)
                    if not math.isfinite(block_loss) or block_loss > DIVERGED * (self.negative + 1) * math.log(2):
                        raise UsageError(
                            f"word2vec diverged in epoch {epoch} (mean loss {block_loss:.3g} per pair; it starts "
                            f"at {(self.negative + 1) * math.log(2):.2f}): use a lower alpha (--alpha, now "
                            f"{self.alpha})")
                    loss_sum += out[:, 0].sum()
                    pairs += block_pairs
                    words_done += n_words
                    if progress is not None:
                        elapsed = time.perf_counter() - start
                        rate = words_done / max(elapsed, 1e-9)
                        progress(TrainProgress(epoch, self.epochs, words_done, words_total, rate,
                                               loss_sum / max(pairs, 1), elapsed, (words_total - words_done) / max(rate, 1e-9)))
                self.losses.append(loss_sum / max(pairs, 1))
        finally:
            numba.set_num_threads(old_threads)

    @staticmethod
    def _block_end(ids, pos) -> int:
        """End of the block starting at pos: about BLOCK_TOKENS tokens, cut just after a sentence end."""
        end = min(pos + BLOCK_TOKENS, ids.shape[0])
        if end < ids.shape[0]:
            seps = np.flatnonzero(np.asarray(ids[pos:end]) < 0)
            if len(seps):  # always, as sentences hold at most MAX_SENTENCE_LEN < BLOCK_TOKENS words
                end = pos + int(seps[-1]) + 1
        return end

    def _alpha_at(self, words_done, words_total) -> float:
        """Step 2d: linear decay from alpha to min_alpha over all epochs."""
        return max(self.min_alpha, self.alpha - (self.alpha - self.min_alpha) * words_done / words_total)

    # ---- persistence ----------------------------------------------------------------------------
    def save(self, path) -> None:
        """Save the whole model (parameters, vocabulary, both weight matrices, losses) as a checkpoint
        (minirnn.checkpoint: one .npz written atomically, metadata JSON inside, a .json twin beside)."""
        if self.syn0 is None:
            raise UsageError("nothing to save: the model is not trained yet")
        meta = {"format": _MODEL_FORMAT, "params": self.params(), "vocab": self.vocab.to_dict(),
                "losses": self.losses, "timings": self.timings}
        checkpoint.save(os.fspath(path), {"syn0": self.syn0, "syn1neg": self.syn1neg}, meta)

    @classmethod
    def load(cls, path) -> "Word2Vec":
        arrays, meta = checkpoint.load(os.fspath(path))     # UsageError for a missing or corrupt file
        if meta.get("format") != _MODEL_FORMAT or not {"syn0", "syn1neg"} <= set(arrays):
            raise UsageError(f"{path}: not a minirnn word2vec model")
        syn0, syn1neg = arrays["syn0"], arrays["syn1neg"]
        try:
            params = dict(meta["params"])
            params["workers"] = min(params["workers"], numba.config.NUMBA_NUM_THREADS)
            model = cls(**params)
            model.vocab = Vocabulary.from_dict(meta["vocab"])
            model.losses, model.timings = list(meta["losses"]), dict(meta["timings"])
        except (KeyError, TypeError, ValueError) as e:
            raise UsageError(f"{path}: the model's metadata is malformed ({e})") from None
        if syn0.ndim != 2 or syn0.shape != syn1neg.shape or syn0.shape != (len(model.vocab), model.dim):
            raise UsageError(f"{path}: weights of shape {syn0.shape} and {syn1neg.shape} do not match "
                             f"{len(model.vocab)} words x dim {model.dim}")
        model.syn0, model.syn1neg = syn0, syn1neg
        return model
