"""The forward-only path (evaluation: validation, eval_char, sampling, beam search) held equal to the
training forward and to the book.

``fast.forward_only`` hands out each cell's cache-free ``infer`` (minirnn/fast) and ``fast.pick_nll``
the output layer fused with the per-token loss; ``RNNLM.predict``, ``token_nll`` and ``eval_loss``
run them. Checked here: the same numbers as the book's forward (float64 1e-12 relative, float32
a few ulp) and as the engine's own training forward (bit for bit: the same operations), no
backward cache written, the book used when the engine is off, and the trainer's validation loss
unchanged from what ``RNNLM.loss`` gives.
"""
import tracemalloc

import numpy as np
import pytest

from minirnn import fast
from minirnn.fast import linear as fast_linear
from minirnn.layers import embedding, gru, linear, lstm, rnn, softmax_ce, stack
from minirnn.model import RNNLM
from minirnn.optim import Adam
from minirnn.trainer import Trainer

TOL = {np.float64: 1e-12, np.float32: 2e-5}
CELLS = {"lstm": (lstm, 4), "gru": (gru, 3), "rnn": (rnn, 1)}
SHAPES = [(1, 1, 3, 2), (2, 3, 4, 5), (3, 1, 4, 4), (4, 6, 5, 7)]  # N, T, D, H


def problem(cell, N, T, D, H, dtype, seed, ids, with_state):
    """Every input and parameter random, biases included (the GRU's b is (4H,))."""
    rng = np.random.default_rng(seed)
    r = lambda *s: rng.standard_normal(s).astype(dtype)  # noqa: E731
    G = CELLS[cell][1] * H
    x = rng.integers(-D, D, (N, T)) if ids else r(N, T, D)
    state = (r(N, H), r(N, H)) if with_state else (None, None)
    b = r(4 * H) if cell == "gru" else r(G)
    return x, (state if cell == "lstm" else state[:1]), (0.5 * r(D, G), 0.5 * r(H, G), b)


def close(a, b, tol):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype
    assert np.max(np.abs(a - b) / (np.abs(b) + 1e-3), initial=0) <= tol


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("N,T,D,H", SHAPES)
@pytest.mark.parametrize("ids", [False, True], ids=["dense", "ids"])
@pytest.mark.parametrize("with_state", [True, False], ids=["state", "zeros"])
@pytest.mark.parametrize("cell", sorted(CELLS))
def test_infer_equals_forward_and_book(cell, dtype, N, T, D, H, ids, with_state):
    """infer's results are the engine forward's bit for bit, and the book's to TOL."""
    book = CELLS[cell][0]
    x, state, params = problem(cell, N, T, D, H, dtype, N * 100 + T * 10 + H, ids, with_state)
    run = fast.forward_only(book, x)
    assert run is fast.TWINS[book].infer
    got = run(x, *state, *params)
    engine = fast.TWINS[book].forward(x, *state, *params)[:-1]
    ref = book.forward(x, *state, *params)[:-1]
    assert len(got) == len(ref) == (2 if cell == "lstm" else 1)
    for g, e, r in zip(got, engine, ref):
        assert np.array_equal(g, e)
        close(g, r, TOL[dtype])


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_infer_writes_no_backward_cache(cell):
    """At N = 8, T = 32, H = 64 the training forward keeps (T, N, 4H) gates (and the LSTM's c) for
    backward; infer's peak allocation stays below that by at least the gates of T - 1 steps."""
    N, T, D, H = 8, 32, 16, 64
    book = CELLS[cell][0]
    x, state, params = problem(cell, N, T, D, H, np.float64, 0, False, True)
    twin = fast.TWINS[book]
    twin.infer(x, *state, *params), twin.forward(x, *state, *params)   # compile, fill scratch
    peaks = {}
    for name, f in (("forward", twin.forward), ("infer", twin.infer)):
        tracemalloc.start()
        out = f(x, *state, *params)
        peaks[name] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        del out
    gates = (T - 1) * N * 4 * H * 8
    assert peaks["infer"] + gates <= peaks["forward"], peaks


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("rows", [3, 512])
@pytest.mark.parametrize("time_major", [False, True])
def test_fused_nll_equals_linear_then_per_token(monkeypatch, dtype, rows, time_major):
    """linear.nll, in blocks of ROWS rows (3: many blocks and a remainder), gives the numbers of
    the book's linear.forward then softmax_ce.per_token, for rows in (n, t) or time-major order."""
    monkeypatch.setattr(fast_linear, "ROWS", rows)
    rng = np.random.default_rng(rows)
    N, T, D, V = 4, 5, 6, 7
    h = rng.standard_normal((T, N, D)).astype(dtype).transpose(1, 0, 2) if time_major else \
        rng.standard_normal((N, T, D)).astype(dtype)
    W, b = (3 * rng.standard_normal((D, V))).astype(dtype), rng.standard_normal(V).astype(dtype)
    y = rng.integers(0, V, (N, T))
    got = fast.pick_nll(h, W)(h, W, b, y)
    ref = softmax_ce.per_token(linear.forward(h, W, b)[0], y)
    assert fast.pick_nll(h, W) is fast_linear.nll and got.shape == (N, T) and got.flags.c_contiguous
    close(got, ref, TOL[dtype])
    close(got.mean(), softmax_ce.forward(linear.forward(h, W, b)[0], y)[0], TOL[dtype])


@pytest.mark.parametrize("cell,embed", [("lstm", 0), ("lstm", 5), ("gru", 0), ("rnn", 5)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_model_evaluation_equals_training_forward(cell, embed, dtype):
    """predict, token_nll and eval_loss give forward's logits and state and loss's mean, bit for bit
    (the engine's own operations, without caches), from a given state too."""
    V, N, T = 11, 3, 700                   # N*T > linear.ROWS: the fused loss runs in blocks
    model = RNNLM(V, hidden=6, layers=2, cell=cell, embed=embed, seed=3, dtype=dtype)
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, V, (N, T)), rng.integers(0, V, (N, T))
    _, state, _ = model.forward(rng.integers(0, V, (N, 4)))
    logits, s_ref, _ = model.forward(x, state)
    loss, _, _ = model.loss(x, y, state)
    got, s_got = model.predict(x, state)
    assert np.array_equal(got, logits)
    for a, b in zip(sum(map(tuple, s_got), ()), sum(map(tuple, s_ref), ())):
        assert np.array_equal(a, b)
    nats, _ = model.token_nll(x, y, state)
    assert np.array_equal(nats, softmax_ce.per_token(logits, y))
    assert model.eval_loss(x, y, state)[0] == loss


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_model_evaluation_with_the_engine_off_is_the_book(monkeypatch, cell):
    """With the engine off, forward_only and pick_nll hand out the book, and eval_loss equals
    loss exactly; with it on, eval_loss equals the book's loss to float64 rounding."""
    model = RNNLM(9, hidden=5, layers=2, cell=cell, seed=1, dtype=np.float64)
    rng = np.random.default_rng(1)
    x, y = rng.integers(0, 9, (2, 7)), rng.integers(0, 9, (2, 7))
    on = float(model.eval_loss(x, y)[0])
    monkeypatch.setattr(fast, "ENABLED", False)
    assert fast.forward_only(lstm, x) is not fast.TWINS[lstm].infer
    assert fast.pick_nll(x) is not fast_linear.nll
    book = float(model.loss(x, y)[0])
    assert float(model.eval_loss(x, y)[0]) == book
    assert on == pytest.approx(book, rel=1e-12)


def test_forward_only_falls_back_to_the_book_forward():
    """A module without an ``infer`` (the embedding) runs the book's forward, cache dropped."""
    W = np.arange(12.0).reshape(4, 3)
    ids = np.array([[1, 3], [0, 0]])
    out, = fast.forward_only(embedding, W)(ids, W)
    assert np.array_equal(out, W[ids])


class Windows:
    """The trainer's view of a split: window k is (x, y), each (N, T)."""

    def __init__(self, xs, ys):
        self.xs, self.ys, self.chars_per_window = xs, ys, xs[0].size

    def __len__(self):
        return len(self.xs)

    def window(self, k):
        return self.xs[k], self.ys[k]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_validation_loss_unchanged(tmp_path, dtype):
    """The trainer's validation (now forward only) gives the number the training forward gives:
    the mean over windows of RNNLM.loss, state carried from window to window, bit for bit."""
    V, N, T = 13, 4, 9
    model = RNNLM(V, hidden=8, layers=2, seed=2, dtype=dtype)
    rng = np.random.default_rng(5)
    val = Windows(*[[rng.integers(0, V, (N, T)) for _ in range(3)] for _ in range(2)])
    trainer = Trainer(model, Adam(model.trainable()), val, val, iters=1, eval_every=1,
                      checkpoint_dir=str(tmp_path), meta={})
    total, state = 0.0, None
    for k in range(len(val)):
        loss, state, _ = model.loss(*val.window(k), state)
        total = total + loss
    assert trainer.evaluate() == float(total) / len(val)


def test_one_step_makes_no_panels_of_wh(monkeypatch):
    """Sampling feeds one id at a time (T = 1): the LSTM runs h_{t-1} Wh as it stands (a BLAS call),
    with no copy of Wh in panels (over several steps the step kernels read Wh from panels, made
    once per call); both give the book's numbers."""
    from minirnn.fast import _rnn_kernels, lstm as fast_lstm
    calls = []
    original = _rnn_kernels.gate_panels
    monkeypatch.setattr(_rnn_kernels, "gate_panels", lambda *a: calls.append(1) or original(*a))
    for T, copies in ((1, 0), (3, 1)):
        x, state, params = problem("lstm", 2, T, 4, 5, np.float64, T, True, True)
        calls.clear()
        got = fast_lstm.infer(x, *state, *params)
        assert len(calls) == copies
        for g, r in zip(got, lstm.forward(x, *state, *params)[:-1]):
            close(g, r, TOL[np.float64])


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("ids", [False, True], ids=["dense", "ids"])
def test_lstm_wavefront_equals_the_layers_one_by_one(dtype, ids):
    """The engine runs an LSTM stack at evaluation time as a wavefront (fast/stack.py's
    lstm_wavefront: layer l's step t beside layer l+1's step t-1, the input product inside the
    step's tiles): the top layer's h and every layer's final state are those of the training
    forward, layer by layer, bit for bit; over streams and units that fill no whole tile (N = 6,
    H = 37), from a given state."""
    from minirnn.fast import stack as fast_stack
    rng = np.random.default_rng(5)
    N, T, D, H, L = 6, 5, 7, 37, 3
    params = [tuple(a.astype(dtype) for a in (0.4 * rng.standard_normal((D if l == 0 else H, 4 * H)),
                                               0.4 * rng.standard_normal((H, 4 * H)), rng.standard_normal(4 * H)))
              for l in range(L)]
    x = rng.integers(0, D, (N, T)) if ids else rng.standard_normal((N, T, D)).astype(dtype)
    state = [tuple(rng.standard_normal((N, H)).astype(dtype) for _ in range(2)) for _ in range(L)]
    h, new_state = fast_stack.infer(x, state, params)
    h_ref, state_ref, _ = fast_stack.forward(x, state, params)
    assert np.array_equal(h, h_ref)
    for a, b in zip(sum(map(tuple, new_state), ()), sum(map(tuple, state_ref), ())):
        assert np.array_equal(a, b)
    if dtype == np.float64:                                          # and the book's numbers
        close(h, stack.forward(x, state, params)[0], TOL[dtype])
