"""A word vocabulary: counts, a ``min_count`` cut, an optional ``max_vocab`` cap, frequency order.

    vocab = Vocabulary.build(iter_tokens("corpus.txt"), min_count=5, max_vocab=50_000)
    vocab.words[:3]        # ['que', 'de', 'y']: most frequent first; id = position in this list
    vocab.ids(["de", "zzz"])   # array([1, -1]): -1 for a word outside the vocabulary
    vocab.save("vocab.json"); Vocabulary.load("vocab.json")

Ties in frequency are broken alphabetically, so the same counts always give the same ids.
``n_tokens`` is the number of tokens counted, including the words that were cut; ``total`` is the
number of tokens of the kept words.
"""
from __future__ import annotations

import json
import os
from collections import Counter
from typing import Iterable, Mapping

import numpy as np

from .errors import UsageError
from .textio import check_input_file

_FORMAT = "minirnn-vocab-1"


class Vocabulary:
    """Words with their corpus counts, most frequent first."""

    def __init__(self, words, counts, min_count: int = 1, max_vocab: int | None = None, n_tokens: int | None = None):
        self.words: list[str] = list(words)
        self.counts = np.asarray(counts, dtype=np.int64).reshape(-1)  # (V,)
        if self.counts.shape[0] != len(self.words):
            raise UsageError(f"{len(self.words)} words but {self.counts.shape[0]} counts")
        self.word_to_id: dict[str, int] = {w: i for i, w in enumerate(self.words)}
        if len(self.word_to_id) != len(self.words):
            raise UsageError("the vocabulary holds a word twice")
        self.min_count = int(min_count)
        self.max_vocab = None if max_vocab is None else int(max_vocab)
        self.total = int(self.counts.sum())
        self.n_tokens = self.total if n_tokens is None else int(n_tokens)

    @classmethod
    def from_counts(cls, counts: Mapping[str, int], min_count: int = 5, max_vocab: int | None = None,
                    n_tokens: int | None = None) -> "Vocabulary":
        """Keep words seen at least ``min_count`` times, at most ``max_vocab`` of the most frequent.

        ``n_tokens``: the tokens counted, if ``counts`` does not hold them all (default: their sum).
        """
        if min_count < 1:
            raise UsageError(f"min_count must be >= 1, got {min_count}")
        if max_vocab is not None and max_vocab < 1:
            raise UsageError(f"max_vocab must be >= 1 (or None for no cap), got {max_vocab}")
        kept = sorted(((w, c) for w, c in counts.items() if c >= min_count), key=lambda wc: (-wc[1], wc[0]))
        if max_vocab is not None:
            kept = kept[:max_vocab]
        return cls([w for w, _ in kept], [c for _, c in kept], min_count, max_vocab,
                   n_tokens=sum(counts.values()) if n_tokens is None else n_tokens)

    @classmethod
    def build(cls, tokens: Iterable[str], min_count: int = 5, max_vocab: int | None = None) -> "Vocabulary":
        """Count a stream of tokens and keep the frequent ones (see ``from_counts``)."""
        return cls.from_counts(Counter(tokens), min_count, max_vocab)

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word) -> bool:
        return word in self.word_to_id

    def __repr__(self) -> str:
        return f"Vocabulary(V={len(self)}, total={self.total}, min_count={self.min_count}, max_vocab={self.max_vocab})"

    def count(self, word) -> int:
        """Corpus count of ``word`` (0 if it is not in the vocabulary)."""
        i = self.word_to_id.get(word)
        return 0 if i is None else int(self.counts[i])

    def ids(self, tokens: Iterable[str], unknown: int = -1) -> np.ndarray:
        """Token ids as an int32 array, ``unknown`` for words outside the vocabulary."""
        get = self.word_to_id.get
        return np.fromiter((get(t, unknown) for t in tokens), dtype=np.int32)  # (n,)

    def to_dict(self) -> dict:
        return {"format": _FORMAT, "min_count": self.min_count, "max_vocab": self.max_vocab,
                "n_tokens": self.n_tokens, "words": self.words, "counts": self.counts.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "Vocabulary":
        if not isinstance(d, dict) or d.get("format") != _FORMAT:
            raise UsageError(f"not a minirnn vocabulary (format should be {_FORMAT!r})")
        return cls(d["words"], d["counts"], d["min_count"], d["max_vocab"], d["n_tokens"])

    def save(self, path) -> None:
        """Write the vocabulary as JSON (UTF-8, words as they are)."""
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, ensure_ascii=False)

    @classmethod
    def load(cls, path) -> "Vocabulary":
        path = check_input_file(os.fspath(path), "vocabulary file")
        try:
            with open(path, encoding="utf-8") as f:
                d = json.load(f)
        except (ValueError, UnicodeDecodeError) as e:
            raise UsageError(f"{path}: not a JSON vocabulary ({e})") from None
        try:
            return cls.from_dict(d)
        except (KeyError, TypeError) as e:
            raise UsageError(f"{path}: vocabulary field missing or malformed ({e})") from None
