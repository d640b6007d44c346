"""Word vectors with a vocabulary: lookup, cosine neighbours, word-pair evaluation, word2vec file formats.

Dimension legend: V vocabulary size, D vector size.

    kv = KeyedVectors(words, vectors, counts)   # words (V,), vectors (V, D) float32, counts (V,) or None
    kv["sancho"]                                # (D,)
    kv.most_similar("sancho", topn=5)           # [(word, cosine), ...], best first
    kv.most_similar(["rey", "mujer"], ["hombre"])  # analogies (3CosAdd); most_similar_cosmul: 3CosMul
    kv.doesnt_match(["rey", "reina", "queso"])  # the word farthest from the mean of the others
    kv.evaluate_word_analogies("questions.txt") # (accuracy, sections), as gensim
    kv.similarity("sancho", "panza")            # cosine in [-1, 1]
    kv.evaluate_word_pairs("pairs.tsv")         # {spearman, pearson, oov_rate, n_pairs, n_oov}
    kv.save_word2vec_format("v.txt")            # or binary=True; counts go to v.txt.counts.json
    KeyedVectors.load("v.txt")                  # text or binary, detected from the file

Cosine similarity of two words a, b:  cos(a, b) = a.b / (|a| |b|)   (0 where a vector is all zeros).

The word2vec formats (as written by Mikolov's word2vec.c and read by gensim and most other tools):

* header line ``"V D\\n"``;
* text: one line per word, ``word v_1 v_2 ... v_D``, numbers in decimal;
* binary: per word, ``word`` + one space + D little-endian float32 (4D bytes) + ``"\\n"``
  (word2vec.c writes the newline, gensim does not; both are read here).

The word order in the file is the index order, and by convention the frequency order. Word counts are
not part of the format: when known, they are saved beside it in ``<path>.counts.json``, and read back
when that file exists and names every word.
"""
from __future__ import annotations

import json
import mmap
import os
import warnings

import numpy as np

from . import backend
from .checkpoint import atomic_write
from .errors import UsageError, require_memory
from .textio import check_input_file, iter_lines

COUNTS_SUFFIX = ".counts.json"
_COUNTS_FORMAT = "minirnn-word-counts-1"


class KeyedVectors:
    """Words and their vectors, in frequency order (most frequent first).

    Parameters
    ----------
    words : list of str, length V
        Distinct words, no whitespace inside a word (the word2vec formats separate fields by spaces).
    vectors : array (V, D)
        One row per word; stored as a C-contiguous float32 NumPy array (a CuPy array is copied to
        the host: word vectors are looked up and searched on the CPU).
    counts : array (V,) of int, optional
        Corpus frequency of each word; ``None`` when unknown.
    """

    def __init__(self, words, vectors, counts=None):
        words = [str(w) for w in words]
        vectors = np.ascontiguousarray(backend.to_numpy(vectors), dtype=np.float32)  # (V, D) on the host
        if vectors.ndim != 2:
            raise UsageError(f"vectors must be a 2-D array (V, D), got shape {vectors.shape}")
        if vectors.shape[0] != len(words):
            raise UsageError(f"{len(words)} words but {vectors.shape[0]} vectors")
        if vectors.shape[1] < 1:
            raise UsageError("vectors must have at least one dimension (D >= 1)")
        self.index_to_key: list[str] = words
        self.key_to_index: dict[str, int] = {w: i for i, w in enumerate(words)}
        if len(self.key_to_index) != len(words):
            seen, dup = set(), None
            for w in words:
                if w in seen:
                    dup = w
                    break
                seen.add(w)
            raise UsageError(f"word {dup!r} appears twice in the vocabulary")
        self.vectors = vectors
        if counts is not None:
            counts = np.asarray(backend.to_numpy(counts), dtype=np.int64)  # (V,)
            if counts.shape != (len(words),):
                raise UsageError(f"counts must have shape ({len(words)},), got {counts.shape}")
        self.counts = counts
        self._normed = None

    # ---- lookup -------------------------------------------------------------------------------
    @property
    def vector_size(self) -> int:
        """D, the number of dimensions."""
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.index_to_key)

    def __contains__(self, word) -> bool:
        return word in self.key_to_index

    def _index(self, word) -> int:
        try:
            return self.key_to_index[word]
        except (KeyError, TypeError):
            raise KeyError(f"word {word!r} is not in the vocabulary") from None

    def __getitem__(self, word) -> np.ndarray:
        """The vector of ``word``, shape (D,); KeyError if the word is unknown."""
        return self.vectors[self._index(word)]  # (D,)

    def __repr__(self) -> str:
        return f"KeyedVectors(V={len(self)}, D={self.vector_size}, counts={'yes' if self.counts is not None else 'no'})"

    # ---- cosine similarity --------------------------------------------------------------------
    def get_normed_vectors(self) -> np.ndarray:
        """Every vector scaled to unit length (all-zero rows stay zero), shape (V, D)."""
        if self._normed is not None:
            return self._normed  # held only while evaluate_word_analogies runs
        norms = np.linalg.norm(self.vectors, axis=1, keepdims=True)  # (V, 1)
        return self.vectors / np.where(norms > 0, norms, 1.0).astype(np.float32)  # (V, D)

    def similarity(self, w1, w2) -> float:
        """Cosine similarity of two words."""
        a, b = self[w1], self[w2]  # (D,), (D,)
        na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
        if na == 0.0 or nb == 0.0:
            return 0.0
        return float(np.dot(a, b)) / (na * nb)

    def similar_by_vector(self, vector, topn=10, restrict_vocab=None, exclude=()) -> list[tuple[str, float]]:
        """The ``topn`` words whose vectors have the highest cosine with ``vector`` (D,)."""
        v = np.asarray(vector, dtype=np.float32).reshape(-1)  # (D,)
        if v.shape[0] != self.vector_size:
            raise UsageError(f"vector has {v.shape[0]} dimensions, the model has {self.vector_size}")
        nv = float(np.linalg.norm(v))
        R = self._restrict(restrict_vocab)
        cos = self.get_normed_vectors()[:R] @ (v / nv if nv > 0 else v)  # (R,)
        skip = [self.key_to_index[w] for w in exclude if w in self.key_to_index]
        return self._best(cos, topn, skip)

    # ---- analogies (gensim's KeyedVectors semantics) -------------------------------------------
    def most_similar(self, positive=None, negative=None, topn=10, restrict_vocab=None):
        """Words nearest by cosine to the weighted mean of unit vectors (3CosAdd for analogies).

        ``positive`` and ``negative`` are a word, a vector (D,), or a list of them; an item may be a
        pair ``(item, weight)`` (default weight +1 for positive, -1 for negative items). Then

            (1) u_i = v_i / |v_i|                      (a given vector is used as it is)
            (2) m = sum_i w_i u_i / sum_i |w_i|,   m <- m / |m|
            (3) score(x) = cos(x, m) = u_x . m         for the first ``restrict_vocab`` words

        and the ``topn`` best words, the input words left out, are returned best first as
        ``[(word, score), ...]``; ``topn=None`` returns the (R,) array of every score instead.
        ``most_similar(["rey", "mujer"], ["hombre"])`` answers hombre : rey :: mujer : ? .
        ``most_similar("sancho", topn=5)`` is the plain nearest-neighbour query.
        """
        if topn is not None and topn < 1:
            return []
        keys, weights = [], []
        for raw, default in [(k, 1.0) for k in _ensure_list(positive)] + [(k, -1.0) for k in _ensure_list(negative)]:
            if isinstance(raw, tuple):
                keys.append(raw[0])
                weights.append(float(raw[1]))
            else:
                keys.append(raw)
                weights.append(default)
        if not keys:
            raise ValueError("cannot compute similarity with no input")
        normed = self.get_normed_vectors()  # (V, D)
        mean = np.zeros(self.vector_size, dtype=np.float64)  # (D,)
        for key, w in zip(keys, weights):
            mean += w * (self._as_vector(key) if isinstance(key, np.ndarray) else normed[self._key_index(key)])  # (1)
        mean /= sum(abs(w) for w in weights)  # (2)
        nm = float(np.linalg.norm(mean))
        mean = (mean / nm if nm > 0 else mean).astype(np.float32)  # (D,)
        R = self._restrict(restrict_vocab)
        cos = normed[:R] @ mean  # (R,) (3)
        if topn is None:
            return cos
        skip = [self._key_index(k) for k in keys if not isinstance(k, np.ndarray)]
        return self._best(cos, topn, skip)

    def most_similar_cosmul(self, positive=None, negative=None, topn=10, restrict_vocab=None):
        """Words that maximise the multiplicative objective 3CosMul (Levy and Goldberg, 2014).

        With cosines shifted into [0, 1] so that every factor is positive,

            (4) s(x, y) = (1 + cos(x, y)) / 2
            (5) score(x) = prod_{p in positive} s(x, p) / (prod_{n in negative} s(x, n) + 1e-6)

        for the first ``restrict_vocab`` words; the input words are left out of the ``topn`` returned,
        best first (``topn=None``: the (R,) array of every score). For a : b :: c : ? call it with
        positive=[b, c], negative=[a]. Items are words or vectors (a vector is used as it is, as gensim
        does, so pass a unit vector to get a cosine).
        """
        if topn is not None and topn < 1:
            return []
        positive, negative = _ensure_list(positive), _ensure_list(negative)
        if not positive:
            raise ValueError("cannot compute similarity with no input")
        normed = self.get_normed_vectors()  # (V, D)
        R = self._restrict(restrict_vocab)

        def shifted(key):
            term = self._as_vector(key) if isinstance(key, np.ndarray) else normed[self._key_index(key)]  # (D,)
            return (1 + normed[:R] @ term) / 2  # (R,) (4)

        score = np.prod([shifted(k) for k in positive], axis=0)  # (R,)
        score = score / (np.prod([shifted(k) for k in negative], axis=0) + 1e-6)  # (R,) (5)
        if topn is None:
            return score
        skip = [self._key_index(k) for k in positive + negative if not isinstance(k, np.ndarray)]
        return self._best(score, topn, skip)

    def doesnt_match(self, words) -> str:
        """The word farthest from the others: the lowest cosine with the normalised mean of the unit
        vectors of ``words`` (words outside the vocabulary are left out, with a warning)."""
        used = [w for w in words if w in self.key_to_index]
        if len(used) != len(words):
            warnings.warn(f"words not in the vocabulary, left out: {sorted(set(words) - set(used))}", stacklevel=2)
        if not used:
            raise ValueError("cannot select a word from an empty list")
        u = self.get_normed_vectors()[[self.key_to_index[w] for w in used]]  # (n, D)
        mean = u.mean(axis=0)  # (D,)
        nm = float(np.linalg.norm(mean))
        cos = u @ (mean / nm if nm > 0 else mean)  # (n,)
        return min(zip(cos.tolist(), used))[1]  # ties: the alphabetically first, as gensim

    def evaluate_word_analogies(self, path, restrict_vocab=300000, case_insensitive=True,
                                dummy4unknown=False, similarity_function="most_similar"):
        """Accuracy on analogy questions a : b :: c : d, in the format of word2vec's questions-words.txt.

        The file holds sections, each opened by a line ``: name``, of lines ``a b c d`` (four words; any
        other line is skipped). A question is answered by the best word of
        ``most_similar(positive=[b, c], negative=[a])`` (3CosAdd; or of ``most_similar_cosmul`` when
        ``similarity_function="most_similar_cosmul"``) over the first ``restrict_vocab`` words that is
        none of a, b, c, looked for among the first 5 candidates; it is correct when it is d. With
        ``case_insensitive`` words are compared in upper case, a word standing for its most frequent
        case variant. Questions with a word outside the first ``restrict_vocab`` words are skipped, or
        counted wrong with ``dummy4unknown=True``.

        Returns ``(score, sections)`` as gensim does: ``score`` is correct / (correct + incorrect) over
        the whole file (0.0 if nothing was answered) and ``sections`` a list of dicts ``{'section': name,
        'correct': [(a, b, c, d), ...], 'incorrect': [...]}``, one per section, then one named
        ``'Total accuracy'`` holding every question (the words as compared, so upper case by default).
        """
        if similarity_function not in ("most_similar", "most_similar_cosmul"):
            raise UsageError(f"similarity_function must be 'most_similar' or 'most_similar_cosmul', "
                             f"got {similarity_function!r}")
        fold = str.upper if case_insensitive else (lambda w: w)
        R = self._restrict(restrict_vocab)
        ok_vocab = {fold(w): i for i, w in reversed(list(enumerate(self.index_to_key[:R])))}  # first variant wins
        search = getattr(self, similarity_function)
        self._normed = self.get_normed_vectors()  # (V, D) once, not once per question
        try:
            sections, n_questions = self._answer_analogies(path, fold, ok_vocab, search, R, dummy4unknown)
        finally:
            self._normed = None
        if n_questions == 0:
            raise UsageError(f"{path}: no analogy questions found (lines 'a b c d' after a ': section' line)")
        total = {"section": "Total accuracy",
                 "correct": [q for s in sections for q in s["correct"]],
                 "incorrect": [q for s in sections for q in s["incorrect"]]}
        n = len(total["correct"]) + len(total["incorrect"])
        sections.append(total)
        return (len(total["correct"]) / n if n else 0.0), sections

    def _answer_analogies(self, path, fold, ok_vocab, search, R, dummy4unknown):
        sections, section, n_questions = [], None, 0
        for lineno, line in enumerate(iter_lines(path), 1):
            if line.startswith(": "):
                section = {"section": line.lstrip(": ").strip(), "correct": [], "incorrect": []}
                sections.append(section)
                continue
            if section is None:
                raise UsageError(f"{path}:{lineno}: a section header ': name' must come before the first question")
            words = line.split()
            if len(words) != 4:
                continue  # not a question (gensim skips such lines too)
            a, b, c, expected = quad = tuple(fold(w) for w in words)
            n_questions += 1
            if not all(w in ok_vocab for w in quad):
                if dummy4unknown:
                    section["incorrect"].append(quad)
                continue
            ia, ib, ic = ok_vocab[a], ok_vocab[b], ok_vocab[c]
            best = search(positive=[self.index_to_key[ib], self.index_to_key[ic]],
                          negative=[self.index_to_key[ia]], topn=5, restrict_vocab=R)
            predicted = None
            for word, _ in best:
                predicted = fold(word)
                if predicted not in (a, b, c):
                    break
            section["correct" if predicted == expected else "incorrect"].append(quad)
        return sections, n_questions

    # ---- helpers for the look-ups -------------------------------------------------------------
    def _key_index(self, key) -> int:
        """Index of a word (or, as gensim allows, of an int index)."""
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool) and key not in self.key_to_index:
            if 0 <= key < len(self):
                return int(key)
        return self._index(key)

    def _as_vector(self, v) -> np.ndarray:
        v = np.asarray(v, dtype=np.float32).reshape(-1)  # (D,)
        if v.shape[0] != self.vector_size:
            raise UsageError(f"vector has {v.shape[0]} dimensions, the model has {self.vector_size}")
        return v

    def _restrict(self, restrict_vocab) -> int:
        """R: how many of the most frequent words a search looks at (all when None)."""
        return len(self) if restrict_vocab is None else max(0, min(int(restrict_vocab), len(self)))

    def _best(self, scores, topn, skip) -> list[tuple[str, float]]:
        """The ``topn`` highest of ``scores`` (R,), indices in ``skip`` left out, best first."""
        scores = np.array(scores, dtype=np.float64)  # (R,) a copy
        skip = [i for i in set(skip) if i < scores.shape[0]]
        scores[skip] = -np.inf
        k = max(0, min(int(topn), scores.shape[0] - len(skip)))
        if k == 0:
            return []
        best = np.argpartition(-scores, k - 1)[:k]  # (k,) the k largest, unordered
        best = best[np.argsort(-scores[best], kind="stable")]  # (k,) best first
        return [(self.index_to_key[i], float(scores[i])) for i in best]

    # ---- evaluation ---------------------------------------------------------------------------
    def evaluate_word_pairs(self, path, case_insensitive=True) -> dict:
        """Correlate cosine similarities with human scores from a tab-separated file of word pairs.

        Each non-blank line not starting with ``#`` is ``word1<TAB>word2<TAB>score``. Pairs with a
        word outside the vocabulary are left out of the correlations and counted in ``oov_rate``.

        Returns
        -------
        dict with ``spearman`` (rank correlation), ``pearson`` (linear correlation), ``oov_rate``
        (fraction of pairs left out), ``n_pairs`` (pairs used) and ``n_oov`` (pairs left out).
        Correlations are nan when fewer than two pairs are in the vocabulary.
        """
        model, human, n_oov = [], [], 0
        for lineno, line in enumerate(iter_lines(path), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split("\t")
            if len(parts) != 3:
                raise UsageError(f"{path}:{lineno}: expected 'word1<TAB>word2<TAB>score', got {line!r}")
            w1, w2, score = parts
            try:
                score = float(score)
            except ValueError:
                raise UsageError(f"{path}:{lineno}: score {score!r} is not a number") from None
            if case_insensitive:
                w1, w2 = w1.strip().lower(), w2.strip().lower()
            if w1 not in self.key_to_index or w2 not in self.key_to_index:
                n_oov += 1
                continue
            model.append(self.similarity(w1, w2))
            human.append(score)
        total = len(model) + n_oov
        if total == 0:
            raise UsageError(f"{path}: no word pairs found")
        model, human = np.array(model), np.array(human)  # (P,), (P,)
        return {
            "spearman": spearman(model, human),
            "pearson": pearson(model, human),
            "oov_rate": n_oov / total,
            "n_pairs": len(model),
            "n_oov": n_oov,
        }

    # ---- word2vec formats ---------------------------------------------------------------------
    def save_word2vec_format(self, path, binary=False) -> None:
        """Write the word2vec text (default) or binary format; counts, if known, to ``path.counts.json``."""
        path = os.fspath(path)
        for w in self.index_to_key:
            if not w or any(c.isspace() for c in w):
                raise UsageError(f"word {w!r} is empty or holds whitespace: the word2vec format cannot store it")
        V, D = self.vectors.shape

        def write(f):
            f.write(f"{V} {D}\n".encode())
            if binary:
                little = self.vectors.astype("<f4", copy=False)  # (V, D) little-endian float32
                for w, row in zip(self.index_to_key, little):
                    f.write(w.encode("utf-8") + b" " + row.tobytes() + b"\n")
            else:
                # 9 significant digits: the float32 values read back exactly (one format per row)
                line = "%s " + " ".join(["%.9g"] * D) + "\n"
                for w, row in zip(self.index_to_key, self.vectors):
                    f.write((line % (w, *row.tolist())).encode("utf-8"))
        atomic_write(path, write)                 # temp file + rename: never half a vectors file
        sidecar = path + COUNTS_SUFFIX
        if self.counts is not None:
            blob = json.dumps({"format": _COUNTS_FORMAT, "counts": dict(zip(self.index_to_key, self.counts.tolist()))},
                              ensure_ascii=False).encode("utf-8")
            atomic_write(sidecar, lambda f: f.write(blob))
        elif os.path.exists(sidecar):
            os.remove(sidecar)  # a stale sidecar would give these vectors someone else's counts

    def save(self, path, binary=False) -> None:
        """Same as ``save_word2vec_format``."""
        self.save_word2vec_format(path, binary=binary)

    @classmethod
    def load_word2vec_format(cls, path, binary=None) -> "KeyedVectors":
        """Read a word2vec text or binary file (``binary=None``: detect which from the file)."""
        path = check_input_file(os.fspath(path), "word-vectors file")
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                raise UsageError(f"{path}: the file is empty")
            # mapped, not read: the pages read are given back as the records go (_release_behind),
            # so that loading costs the (V, D) table and not the file as well
            data = mmap.mmap(f.fileno(), size, access=mmap.ACCESS_READ)
        start = 3 if data[:3] == b"\xef\xbb\xbf" else 0
        nl = data.find(b"\n", start)
        header = data[start:nl if nl >= 0 else size].split()
        try:
            V, D = int(header[0]), int(header[1])
            if len(header) != 2 or V < 0 or D < 1:
                raise ValueError
        except (ValueError, IndexError):
            raise UsageError(f"{path}: not a word2vec file (first line should be 'V D', "
                             f"got {data[start:start + min(nl - start if nl >= 0 else 60, 60)]!r})") from None
        body = nl + 1 if nl >= 0 else size
        if binary is None:
            binary = not _looks_like_text_record(data, body, D)
        # the header is checked against the file before (V, D) is allocated: a record takes at
        # least 4D + 2 bytes in binary, 2D + 1 in text ("w" and D one-digit numbers with spaces)
        least = V * (4 * D + 2 if binary else 2 * D + 1)
        if least > size - body:
            raise UsageError(f"{path}: the header says {V} words x {D} dimensions, which needs at least "
                             f"{least:,} bytes; the file holds {size - body:,}")
        require_memory(4.0 * V * D, f"{path}: {V} x {D} vectors", "use a smaller vectors file")
        try:
            words, vectors = (_read_binary if binary else _read_text)(path, data, body, V, D)
        finally:
            data.close()
        bad = ~np.isfinite(vectors).all(axis=1)                                  # (V,)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise UsageError(f"{path}: {int(bad.sum())} vector(s) hold NaN or inf, the first of word "
                             f"{words[i]!r} (record {i + 1}); such vectors cannot be used")
        kv = cls(words, vectors)
        kv.counts = _read_counts(path, words)
        return kv

    @classmethod
    def load(cls, path) -> "KeyedVectors":
        """Load a word2vec text or binary file, detecting which."""
        return cls.load_word2vec_format(path, binary=None)


def _ensure_list(value) -> list:
    """A word, a vector (D,), a (V, D) array or a list of them, as a list (gensim's convention)."""
    if value is None:
        return []
    if isinstance(value, (str, int, np.integer)) or (isinstance(value, np.ndarray) and value.ndim == 1):
        return [value]
    if isinstance(value, np.ndarray) and value.ndim == 2:
        return list(value)
    return list(value)


# ---- correlations (no SciPy in minirnn) ---------------------------------------------------------
def pearson(x, y) -> float:
    """Pearson correlation of two (P,) arrays; nan if P < 2 or either is constant."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.size < 2:
        return float("nan")
    x, y = x - x.mean(), y - y.mean()
    den = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / den) if den > 0 else float("nan")


def rankdata(x) -> np.ndarray:
    """Ranks 1..P of a (P,) array, ties given their average rank (as scipy.stats.rankdata)."""
    x = np.asarray(x)
    order = np.argsort(x, kind="stable")  # (P,)
    xs = x[order]
    # start of each run of equal values, and the average rank of the run
    new = np.r_[True, xs[1:] != xs[:-1]]  # (P,)
    run = np.cumsum(new) - 1  # (P,) run id of each sorted element
    starts = np.flatnonzero(new)  # (R,)
    ends = np.r_[starts[1:], xs.size]  # (R,)
    avg = (starts + ends + 1) / 2.0  # (R,) mean of ranks start+1 .. end
    ranks = np.empty(x.size, dtype=np.float64)
    ranks[order] = avg[run]
    return ranks


def spearman(x, y) -> float:
    """Spearman rank correlation: Pearson correlation of the average ranks."""
    x, y = np.asarray(x), np.asarray(y)
    if x.size < 2:
        return float("nan")
    return pearson(rankdata(x), rankdata(y))


# ---- file parsing helpers -----------------------------------------------------------------------
def _looks_like_text_record(data: bytes, pos: int, D: int) -> bool:
    """True when the first record after the header is a text line: a word and numbers, however many
    (a count other than the header's D is then reported as such by ``_read_text``, instead of the
    file being misread as binary)."""
    if pos >= len(data):
        return True  # no records (V = 0): either format
    end = data.find(b"\n", pos)
    line = data[pos:end if end >= 0 else len(data)]
    try:
        parts = line.decode("utf-8").split()
        if len(parts) < 2:
            return False
        [float(p) for p in parts[1:]]
    except (UnicodeDecodeError, ValueError):
        return False
    return True


_RELEASE_BYTES = 1 << 24  # a memory-mapped vectors file gives back what was read every 16 MB


def _release_behind(data, pos, done):
    """Give back the pages of the map `data` before byte pos, once 16 MB more than `done` were read;
    returns the new `done`."""
    if pos - done < _RELEASE_BYTES or not hasattr(data, "madvise"):
        return done
    data.madvise(mmap.MADV_DONTNEED, 0, pos - pos % mmap.PAGESIZE)
    return pos


def _read_text(path, data, pos, V, D):
    """The V records of a text file; each must hold a word and the header's D numbers, and no record
    may follow the V-th (the header is checked against the lines, both ways)."""
    words, vectors = [], np.empty((V, D), dtype=np.float32)  # (V, D)
    n, done = 1, 0
    while pos < len(data):
        end = data.find(b"\n", pos)
        end = len(data) if end < 0 else end
        line, pos, n = data[pos:end], end + 1, n + 1
        done = _release_behind(data, pos, done)
        if not line.strip():
            continue
        if len(words) == V:
            raise UsageError(f"{path}: the header says {V} words, but line {n} holds another record: "
                             f"the header does not match the file")
        try:
            parts = line.decode("utf-8").split()
        except UnicodeDecodeError:
            raise UsageError(f"{path}: line {n} is not valid UTF-8") from None
        if len(parts) != D + 1:
            raise UsageError(f"{path}: line {n} has {len(parts) - 1} numbers, the header says {D}")
        try:
            vectors[len(words)] = np.array(parts[1:], dtype=np.float32)
        except ValueError:
            raise UsageError(f"{path}: line {n} holds something that is not a number") from None
        words.append(parts[0])
    if len(words) != V:
        raise UsageError(f"{path}: the header says {V} words, the file holds {len(words)}")
    return words, vectors


def _read_binary(path, data, pos, V, D):
    """The V records of a binary file; only whitespace may follow the V-th."""
    words, vectors = [], np.empty((V, D), dtype=np.float32)  # (V, D)
    nbytes, done = 4 * D, 0
    for i in range(V):
        while pos < len(data) and data[pos] in b"\n\r ":
            pos += 1  # the newline word2vec.c writes after each vector
        sp = data.find(b" ", pos)
        if sp < 0 or sp + 1 + nbytes > len(data):
            raise UsageError(f"{path}: the header says {V} words, the file ends after {i}")
        try:
            words.append(data[pos:sp].decode("utf-8"))
        except UnicodeDecodeError:
            raise UsageError(f"{path}: word {i + 1} is not valid UTF-8") from None
        vectors[i] = np.frombuffer(data[sp + 1:sp + 1 + nbytes], dtype="<f4")
        pos = sp + 1 + nbytes
        done = _release_behind(data, pos, done)
    if any(data[at:at + (1 << 20)].strip() for at in range(pos, len(data), 1 << 20)):
        rest = len(data) - pos
        raise UsageError(f"{path}: the header says {V} words x {D} dimensions, but {rest:,} more "
                         f"bytes follow them: the header does not match the file")
    return words, vectors


def _read_counts(path, words):
    sidecar = path + COUNTS_SUFFIX
    if not os.path.exists(sidecar):
        return None
    check_input_file(sidecar, "word-counts file (.counts.json)")     # a FIFO there would block the read
    try:
        with open(sidecar, encoding="utf-8") as f:
            blob = json.load(f)
        table = blob["counts"]
        counts = np.array([table[w] for w in words], dtype=np.int64)  # (V,)
    except (OSError, ValueError, KeyError, TypeError):
        warnings.warn(f"{sidecar}: unreadable or does not match {path}; counts left unknown", stacklevel=3)
        return None
    return counts
