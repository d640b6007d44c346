"""One-hot input given as ids, and skipping dx for a frozen input.

``rnn.forward`` / ``lstm.forward`` accept (N, T) integer ids in place of (N, T, D) one-hot rows:
x_t Wx is then the row lookup Wx[ids_t] and dWx a scatter-add. These tests hold that path to the
dense one-hot input it stands for (same outputs, same gradients, on the book and on the engine's
twins), check its dWx by central differences on the book, and check that ``need_dx=False`` changes nothing but dx. RNNLM with a
one-hot table (embed=0) takes this path; its loss and gradients must equal the dense model's.
"""
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from minirnn import backend, fast
from minirnn.gradcheck import numeric_gradient, rel_error
from minirnn.layers import lstm, rnn
from minirnn.model import RNNLM

pytestmark = pytest.mark.usefixtures("book")  # the book, unless a test turns the engine on

dim = st.integers(1, 4)


def problem(cell, N, T, D, H, seed):
    rng = np.random.default_rng(seed)
    G = 4 * H if cell == "lstm" else H
    ids = rng.integers(0, D, (N, T))
    params = [0.5 * rng.standard_normal(s) for s in ((D, G), (H, G), (G,))]
    state = [rng.standard_normal((N, H)) for _ in range(2 if cell == "lstm" else 1)]
    dh = rng.standard_normal((N, T, H))
    return ids, params, state, dh


def run(cell, x, params, state, dh, need_dx=True):
    """(h, every gradient) for input x (ids or dense), on the module ``fast.pick`` hands out."""
    if cell == "lstm":
        h, _, cache = fast.pick(lstm, x).forward(x, *state, *params)
        return h, fast.pick(lstm, dh).backward(dh, cache, need_dx=need_dx)
    h, cache = fast.pick(rnn, x).forward(x, *state, *params)
    return h, fast.pick(rnn, dh).backward(dh, cache, need_dx=need_dx)


@pytest.fixture(params=[True, False], ids=["engine", "book"])
def lstm_path(request, monkeypatch):
    monkeypatch.setattr(fast, "ENABLED", request.param)


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
@pytest.mark.parametrize("N,T,D,H", [(1, 1, 1, 1), (2, 3, 5, 4), (3, 4, 7, 2), (4, 2, 3, 6)])
def test_ids_equal_dense_one_hot(lstm_path, cell, N, T, D, H):
    ids, params, state, dh = problem(cell, N, T, D, H, seed=N + 10 * T + 100 * D)
    dense = np.eye(D)[ids]                                   # (N, T, D) one-hot rows
    h_ids, g_ids = run(cell, ids, params, state, dh)
    h_dense, g_dense = run(cell, dense, params, state, dh)
    assert rel_error(h_ids, h_dense) < 1e-12
    assert g_ids[0] is None                                  # ids have no gradient
    for a, b in zip(g_ids[1:], g_dense[1:]):                 # dstate, dWx, dWh, db
        assert a.shape == b.shape and rel_error(a, b) < 1e-12


def test_ids_repeated_rows_accumulate(lstm_path):
    """Every step reads the same row: dWx is zero elsewhere and that row sums all N*T gradients."""
    ids, params, state, dh = problem("lstm", 3, 4, 5, 2, seed=9)
    ids[:] = 2
    _, grads = run("lstm", ids, params, state, dh)
    dWx = grads[3]
    assert np.all(dWx[[0, 1, 3, 4]] == 0) and np.any(dWx[2] != 0)


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_ids_out_of_range_raise_and_negative_ids_count_from_the_end(lstm_path, cell):
    """As Wx[ids]: -D <= id < D, negative ids wrap; others raise (the fast kernel reads without
    bounds checks, so it must refuse them before it starts)."""
    ids, params, state, dh = problem(cell, 2, 3, 5, 4, seed=4)
    for bad in (5, -6):
        wrong = ids.copy()
        wrong[1, 2] = bad
        with pytest.raises(IndexError):
            run(cell, wrong, params, state, dh)
    wrapped = ids - 5                                        # the same rows, counted from the end
    h0, g0 = run(cell, ids, params, state, dh)
    h1, g1 = run(cell, wrapped, params, state, dh)
    assert rel_error(h1, h0) < 1e-12
    for a, b in zip(g1[1:], g0[1:]):
        assert rel_error(a, b) < 1e-12


@settings(max_examples=10, deadline=None, derandomize=True)
@given(cell=st.sampled_from(["rnn", "lstm"]), N=dim, T=dim, D=dim, H=dim, s=st.integers(0, 2 ** 32 - 1))
@example(cell="lstm", N=2, T=3, D=1, H=2, s=0)
def test_ids_gradcheck(cell, N, T, D, H, s):
    """dWx (the scatter-add) and the other parameters by central differences, float64."""
    ids, params, state, dh = problem(cell, N, T, D, H, seed=s)
    _, grads = run(cell, ids, params, state, dh)
    fwd = lstm.forward if cell == "lstm" else rnn.forward
    f = lambda: (fwd(ids, *state, *params)[0] * dh).sum()    # noqa: E731
    k = len(state)
    for name, p, g in zip(("Wx", "Wh", "b"), params, grads[1 + k:]):
        assert rel_error(numeric_gradient(f, p), g) < 1e-6, name


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_need_dx_false_only_drops_dx(lstm_path, cell):
    _, params, state, dh = problem(cell, 2, 3, 4, 3, seed=4)
    x = np.random.default_rng(4).standard_normal((2, 3, 4))
    _, full = run(cell, x, params, state, dh)
    _, part = run(cell, x, params, state, dh, need_dx=False)
    assert full[0] is not None and part[0] is None
    for a, b in zip(full[1:], part[1:]):
        assert np.array_equal(a, b)


def test_model_one_hot_path_equals_dense(lstm_path, monkeypatch):
    """RNNLM(embed=0) hands layer 0 the ids; forcing the dense one-hot rows gives the same loss
    and gradients (float64, 2 layers, both cells)."""
    rng = np.random.default_rng(3)
    ids, targets = rng.integers(0, 9, (3, 5)), rng.integers(0, 9, (3, 5))
    for cell in ("rnn", "lstm"):
        model = RNNLM(9, hidden=6, layers=2, cell=cell, embed=0, seed=1, dtype=np.float64)
        assert model.one_hot
        results = []
        for one_hot in (True, False):
            monkeypatch.setattr(model, "one_hot", one_hot)
            loss, _, cache = model.loss(ids, targets)
            results.append((float(loss), model.backward(cache)[0]))
        (l0, g0), (l1, g1) = results
        assert abs(l0 - l1) <= 1e-12 * abs(l1)
        assert sorted(g0) == sorted(g1) and "embed.W" not in g0
        for k in g0:
            assert rel_error(g0[k], g1[k]) < 1e-12, (cell, k)


def test_model_one_hot_only_for_a_frozen_identity():
    assert not RNNLM(9, hidden=4, layers=1, embed=3).one_hot                  # trained table
    assert not RNNLM(9, hidden=4, layers=1, embedding=np.ones((9, 9))).one_hot  # given table
    assert not RNNLM(9, hidden=4, layers=1, embedding=np.eye(9), freeze_embedding=False).one_hot
    assert RNNLM(9, hidden=4, layers=1, embedding=np.eye(9)).one_hot          # e.g. from_params


def test_ids_on_backend(xp):
    """The ids path through the selected backend (CuPy where a GPU exists) equals NumPy's."""
    ids, params, state, dh = problem("lstm", 2, 3, 4, 3, seed=8)
    h_ref, g_ref = run("lstm", ids, params, state, dh)
    dev = lambda a: backend.to_device(a, dtype=np.float64)   # noqa: E731
    h, g = run("lstm", backend.to_device(ids), [dev(p) for p in params], [dev(s) for s in state], dev(dh))
    assert rel_error(backend.to_numpy(h), h_ref) < 1e-12
    for a, b in zip(g[1:], g_ref[1:]):
        assert rel_error(backend.to_numpy(a), b) < 1e-12
