"""Sampling: temperature, top-k and top-p keep only allowed ids; a seed makes it reproducible."""
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from minirnn.errors import UsageError
from minirnn.model import RNNLM
from minirnn.sampling import check_options, filtered_probs, generate, sample_next


@settings(max_examples=40, deadline=None)
@given(V=st.integers(2, 30), k=st.integers(0, 30), p=st.floats(0.05, 1.0), temp=st.floats(0.1, 3.0),
       seed=st.integers(0, 1000))
@example(V=24, k=0, p=1.0, temp=0.25, seed=0)       # CI found it: the reference cut the tail at p = 1
def test_top_k_top_p_only_pick_allowed(V, k, p, temp, seed):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal(V) * 3
    e = np.exp((logits - logits.max()) / temp)              # the same roundings as filtered_probs,
    probs = e / e.sum()                                      # so a prefix sum near p cuts alike
    order = np.argsort(-probs, kind="stable")
    allowed = set(order.tolist())
    if 0 < k < V:
        allowed &= set(order[:k].tolist())
    # top-p: the smallest prefix of the sorted ids whose mass reaches p; p = 1 turns it off (the
    # rounded cumulative sum can reach 1.0 before the tail of tiny probabilities)
    if p < 1.0:
        n = int(np.searchsorted(np.cumsum(probs[order]), p) + 1)
        allowed &= set(order[:n].tolist())
    q = filtered_probs(logits, temp, k, p)
    assert np.isclose(q.sum(), 1.0)
    assert set(np.flatnonzero(q).tolist()) == allowed
    draws = {sample_next(logits, rng, temp, k, p) for _ in range(50)}
    assert draws <= allowed


def test_top_k_one_and_temperature_zero_are_greedy():
    logits = np.array([0.1, 2.0, -1.0, 1.9])
    rng = np.random.default_rng(0)
    assert {sample_next(logits, rng, 1.0, 1, 1.0) for _ in range(20)} == {1}
    assert {sample_next(logits, rng, 0.0) for _ in range(20)} == {1}


def test_bad_options():
    for args in [(-1, 0, 1.0), (1.0, -2, 1.0), (1.0, 0, 0.0), (1.0, 0, 1.5)]:
        with pytest.raises(UsageError):
            check_options(*args)


def test_generate_is_reproducible_with_a_seed():
    model = RNNLM(12, hidden=16, layers=2, cell="lstm", embed=0, seed=3)
    a = list(generate(model, [1, 2, 3], 40, np.random.default_rng(7), temperature=1.0))
    b = list(generate(model, [1, 2, 3], 40, np.random.default_rng(7), temperature=1.0))
    c = list(generate(model, [1, 2, 3], 40, np.random.default_rng(8), temperature=1.0))
    assert a == b and a != c
    assert all(0 <= i < 12 for i in a)


def test_top_p_by_hand():
    # probabilities 0.5, 0.3, 0.15, 0.05: the smallest most-probable set whose mass reaches p
    logits = np.log([0.15, 0.5, 0.05, 0.3])
    kept = lambda p: set(np.flatnonzero(filtered_probs(logits, 1.0, 0, p)).tolist())  # noqa: E731
    assert kept(0.4) == {1}
    assert kept(0.45) == {1}
    assert kept(0.79) == {1, 3}
    assert kept(0.81) == {1, 3, 0}
    assert kept(1.0) == {0, 1, 2, 3}
    np.testing.assert_allclose(filtered_probs(logits, 1.0, 0, 0.79)[[1, 3]], [0.5 / 0.8, 0.3 / 0.8])
    np.testing.assert_allclose(filtered_probs(logits, 1.0, 2, 1.0)[[1, 3]], [0.5 / 0.8, 0.3 / 0.8])
