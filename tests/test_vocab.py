"""Vocabulary: counts, min_count, max_vocab, frequency order, JSON round trip."""
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minirnn.errors import UsageError
from minirnn.vocab import Vocabulary


def test_counts_min_count_and_order():
    toks = "b a c a b a d d d d e".split()
    v = Vocabulary.build(toks, min_count=2)
    assert v.words == ["d", "a", "b"]  # e, c seen once: cut
    np.testing.assert_array_equal(v.counts, [4, 3, 2])
    assert v.total == 9 and v.n_tokens == 11
    assert v.count("a") == 3 and v.count("c") == 0 and "c" not in v
    np.testing.assert_array_equal(v.ids(["a", "zzz", "d"]), [1, -1, 0])


def test_max_vocab_and_ties():
    v = Vocabulary.build("x y z z y x w".split(), min_count=1, max_vocab=2)
    assert v.words == ["x", "y"]  # x, y, z tie at 2: alphabetical
    assert len(v) == 2


@settings(max_examples=50, deadline=None)
@given(st.lists(st.sampled_from(list("abcdefgh")), max_size=60), st.integers(1, 4), st.one_of(st.none(), st.integers(1, 5)))
def test_vocab_properties(toks, min_count, max_vocab):
    v = Vocabulary.build(toks, min_count, max_vocab)
    c = Counter(toks)
    assert all(c[w] >= min_count for w in v.words)
    assert all(c[w] == n for w, n in zip(v.words, v.counts))
    assert list(v.counts) == sorted(v.counts, reverse=True)
    eligible = sum(1 for n in c.values() if n >= min_count)
    assert len(v) == (eligible if max_vocab is None else min(eligible, max_vocab))


def test_save_load(tmp_path):
    v = Vocabulary.build("señor sancho señor ñandú".split(), min_count=1, max_vocab=10)
    v.save(tmp_path / "v.json")
    w = Vocabulary.load(tmp_path / "v.json")
    assert w.words == v.words and w.n_tokens == 4 and w.max_vocab == 10
    np.testing.assert_array_equal(w.counts, v.counts)


def test_bad_inputs(tmp_path):
    with pytest.raises(UsageError):
        Vocabulary.build(["a"], min_count=0)
    with pytest.raises(UsageError):
        Vocabulary.build(["a"], max_vocab=0)
    (tmp_path / "x.json").write_text("{}", encoding="utf-8")
    with pytest.raises(UsageError, match="format"):
        Vocabulary.load(tmp_path / "x.json")
    with pytest.raises(UsageError, match="no such file"):
        Vocabulary.load(tmp_path / "nope.json")
