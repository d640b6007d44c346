"""The engine (minirnn/fast) held equal to the book (minirnn/layers, optim's Adam lines): same
numbers, forward and backward, float64 to 1e-12 relative and float32 closely, for every input
the engine accepts (dense x and ids, initial state given or None, dcT given or None, need_dx).

The gradient checks of tests/test_layers.py, test_model.py and test_onehot_input.py run on the
book with the engine off; here one gradient check runs through the engine too. Also: the switch
(``MINIRNN_FAST=0``, ``fast.set_enabled``), and the library without Numba (a subprocess that
hides it trains a step and passes a gradient check on the book). No timings here: speed is
measured by benchmarks/bench_rnn.py (and, for the engine's A/B runs, docs/studies.md).
"""
import os
import subprocess
import sys

import numpy as np
import pytest

from minirnn import fast
from minirnn.fast import _rnn_kernels as kernels
from minirnn.fast import lstm as fast_lstm
from minirnn.gradcheck import numeric_gradient, rel_error
from minirnn.layers import embedding, gru, linear, lstm, rnn, softmax_ce
from minirnn.model import RNNLM

TOL = {np.float64: 1e-12, np.float32: 2e-5}
SHAPES = [(1, 1, 3, 2), (2, 3, 4, 5), (1, 4, 2, 3), (3, 1, 4, 4), (4, 6, 5, 7)]  # N, T, D, H
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(
    [os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]
    + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))


def rand_problem(N, T, D, H, dtype, seed, with_state=True, with_dcT=True, ids=False, G=None):
    """Every input and parameter random, biases included, at a scale where the gates vary.
    G: gate width (4H for the LSTM, H for the RNN)."""
    G = 4 * H if G is None else G
    rng = np.random.default_rng(seed)
    r = lambda *s: rng.standard_normal(s).astype(dtype)  # noqa: E731
    x = rng.integers(-D, D, (N, T)) if ids else r(N, T, D)   # ids: negative ones count from the end
    dh = r(N, T, H)
    h0 = r(N, H) if with_state else None
    c0 = r(N, H) if with_state else None
    Wx, Wh, b = 0.5 * r(D, G), 0.5 * r(H, G), r(G)
    dcT = r(N, H) if with_dcT else None
    return x, h0, c0, Wx, Wh, b, dh, dcT


def run_lstm(impl, x, h0, c0, Wx, Wh, b, dh, dcT, need_dx=True):
    """forward then backward with module ``impl``; every output, cache array and gradient, by name."""
    h, cT, cache = impl.forward(x, h0, c0, Wx, Wh, b)
    grads = impl.backward(dh, cache, None if dcT is None else dcT.copy(), need_dx=need_dx)
    out = {"h": h, "cT": cT, "gates": cache[5], "c": cache[6]}
    out.update(zip(("dx", "dh0", "dc0", "dWx", "dWh", "db"), grads))
    return out


def assert_same(fast_out, ref, tol):
    for name, value in ref.items():
        if value is None:
            assert fast_out[name] is None, name
            continue
        assert fast_out[name].dtype == value.dtype, name
        assert fast_out[name].shape == value.shape, name
        assert rel_error(fast_out[name], value) < tol, name


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("N,T,D,H", SHAPES)
@pytest.mark.parametrize("ids", [False, True], ids=["dense", "ids"])
@pytest.mark.parametrize("with_state,with_dcT,need_dx", [(True, True, True), (False, False, True),
                                                         (True, False, False), (False, True, False)])
def test_lstm_engine_equals_book(dtype, N, T, D, H, ids, with_state, with_dcT, need_dx):
    args = rand_problem(N, T, D, H, dtype, seed=N * 100 + T * 10 + H, with_state=with_state,
                        with_dcT=with_dcT, ids=ids)
    ref = run_lstm(lstm, *args, need_dx=need_dx)
    assert_same(run_lstm(fast_lstm, *args, need_dx=need_dx), ref, TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("N,T,D,H", SHAPES)
@pytest.mark.parametrize("ids", [False, True], ids=["dense", "ids"])
@pytest.mark.parametrize("with_state,need_dx", [(True, True), (False, True), (True, False)])
def test_rnn_engine_equals_book(dtype, N, T, D, H, ids, with_state, need_dx):
    x, h0, _, Wx, Wh, b, dh, _ = rand_problem(N, T, D, H, dtype, seed=N + T + H, with_state=with_state,
                                              ids=ids, G=H)
    results = []
    for impl in (rnn, fast.rnn):
        h, cache = impl.forward(x, h0, Wx, Wh, b)
        results.append(dict(zip(("h", "dx", "dh0", "dWx", "dWh", "db"),
                                (h,) + impl.backward(dh, cache, need_dx=need_dx))))
    assert_same(results[1], results[0], TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("ids", [False, True], ids=["dense", "ids"])
def test_lstm_engine_equals_book_across_tiles(dtype, ids):
    """The step kernels cut each step into tiles of 4 streams x UNITS units (TILE for backward's
    product): with N = 6 and H = TILE + 5, streams and units that fill no whole tile give the
    book's numbers too, forward, backward and the forward-only path."""
    args = rand_problem(6, 3, 5, kernels.TILE + 5, dtype, seed=9, ids=ids)
    assert_same(run_lstm(fast_lstm, *args), run_lstm(lstm, *args), TOL[dtype])
    for got, ref in zip(fast_lstm.infer(*args[:6]), lstm.forward(*args[:6])[:2]):
        assert rel_error(got, ref) < TOL[dtype]


@pytest.mark.parametrize("N,H", [(1, 3), (4, 16), (5, 37), (9, 20)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_step_kernels_are_the_product_then_the_serial_kernel(N, H, dtype):
    """lstm_step is h_{t-1} Wh (a GEMM) followed by lstm_forward_step, lstm_backward_step_h is
    lstm_backward_step followed by da_t Wh^T, and matmul_panels is a matrix product: the same
    numbers, from weights in panels (whose layout is checked too), for N and H that do and do not
    fill whole tiles."""
    rng = np.random.default_rng(N * 10 + H)
    r = lambda *s: rng.standard_normal(s).astype(dtype)  # noqa: E731
    Wh, h_prev, c_prev, b, xw, rows = 0.5 * r(H, 4 * H), r(N, H), r(N, H), r(4 * H), r(7, 4 * H), rng.integers(0, 7, N)
    Wp, WTp = kernels.gate_panels(np.empty((0, 4 * H), dtype), Wh), kernels.panels(Wh.T)
    U, K = kernels.UNITS, kernels.TILE
    for p in range(Wp.shape[0]):                            # panel p: units p*U.., gates i, f, g, o
        for g in range(4):
            m = min(U, H - p * U)
            assert np.array_equal(Wp[p, :, g * U:g * U + m], Wh[:, g * H + p * U:g * H + p * U + m])
    assert np.array_equal(WTp.transpose(1, 0, 2).reshape(4 * H, -1)[:, :H], Wh.T)  # Wh^T's columns in panels of K
    assert WTp.shape[2] == K
    z = lambda *s: np.zeros(s, dtype)  # noqa: E731
    got, ref = (z(N, 4 * H), z(N, H), z(N, H)), (z(N, 4 * H), z(N, H), z(N, H))
    kernels.lstm_step(h_prev, Wp, xw, rows, b, c_prev, *got)
    kernels.lstm_forward_step(h_prev @ Wh, xw, rows, b, c_prev, *ref)
    for a, e in zip(got, ref):
        assert rel_error(a, e) < TOL[dtype]
    gates = (1 / (1 + np.exp(-r(N, 4 * H)))).astype(dtype)
    dh_t, dh_next, dc_next = r(N, H), r(N, H), r(N, H)
    da, dc, dh_prev = z(N, 4 * H), dc_next.copy(), z(N, H)
    kernels.lstm_backward_step_h(dh_t, dh_next, dc, gates, c_prev, h_prev, WTp, da, dh_prev)
    da_ref, dc_ref = z(N, 4 * H), dc_next.copy()
    kernels.lstm_backward_step(dh_t, dh_next, dc_ref, gates, c_prev, h_prev, da_ref)
    for a, e in ((da, da_ref), (dc, dc_ref), (dh_prev, da_ref @ Wh.T)):
        assert rel_error(a, e) < TOL[dtype]
    out = np.full((N, 4 * H + 1), 7.0, dtype)                # matmul_panels writes its C columns only
    kernels.matmul_panels(da_ref, kernels.panels(Wh.T), out[:, :H])
    assert rel_error(out[:, :H], da_ref @ Wh.T) < TOL[dtype] and (out[:, H:] == 7).all()


def test_engine_leaves_inputs_alone():
    """N = 1 makes h0.T contiguous: the engine must copy it, not write through it."""
    args = rand_problem(1, 3, 2, 4, np.float64, seed=7)
    before = [None if a is None else a.copy() for a in args]
    run_lstm(fast_lstm, *args)
    for a, a0 in zip(args, before):
        if a is not None:
            assert np.array_equal(a, a0)


def test_caches_are_interchangeable():
    """The engine caches exactly what the book caches: either backward takes either cache."""
    x, h0, c0, Wx, Wh, b, dh, dcT = rand_problem(3, 4, 3, 5, np.float64, seed=3)
    _, _, cache_ref = lstm.forward(x, h0, c0, Wx, Wh, b)
    g_ref = lstm.backward(dh, cache_ref, dcT)
    _, _, cache_fast = fast_lstm.forward(x, h0, c0, Wx, Wh, b)
    assert len(cache_fast) == len(cache_ref)
    for a, r in zip(cache_fast, cache_ref):
        assert a.shape == r.shape and rel_error(a, r) < 1e-12
    for g in (fast_lstm.backward(dh, cache_ref, dcT), lstm.backward(dh, cache_fast, dcT)):
        for a, r in zip(g, g_ref):
            assert rel_error(a, r) < 1e-12


@pytest.mark.parametrize("T", [1, 4])
def test_h_prev_is_the_forward_buffer(T):
    """dWh's GEMM reads h_{t-1} for every t from the engine forward's (T+1, N, H) buffer, h0 in
    slot 0, without a copy; a book cache gets the same numbers from a concatenated copy."""
    x, h0, c0, Wx, Wh, b, dh, dcT = rand_problem(3, T, 2, 4, np.float64, seed=5)
    for impl in (fast_lstm, lstm):
        h, _, cache = impl.forward(x, h0, c0, Wx, Wh, b)
        h_tm = fast_lstm._time_major(cache[7], np.float64)  # (T, N, H)
        h_prev = fast_lstm._h_prev(h_tm, cache[1])           # (T, N, H)
        assert np.array_equal(h_prev, np.concatenate([h0[None], h.transpose(1, 0, 2)[:-1]]))
        assert (h_prev.base is not None and h_prev.base is h_tm.base) == (impl is fast_lstm)


@pytest.mark.parametrize("N,T,D,H", [(2, 3, 4, 5), (1, 1, 2, 3), (2, 2, 3, 2)])
def test_engine_gradcheck(N, T, D, H):
    """Central differences of L = sum(h * dh) + sum(cT * dcT) through the engine, every input and
    parameter (the book's own checks are in test_layers.py)."""
    x, h0, c0, Wx, Wh, b, dh, dcT = rand_problem(N, T, D, H, np.float64, seed=11)
    _, _, cache = fast_lstm.forward(x, h0, c0, Wx, Wh, b)
    dx, dh0, dc0, dWx, dWh, db = fast_lstm.backward(dh, cache, dcT)

    def f():
        h, cT, _ = fast_lstm.forward(x, h0, c0, Wx, Wh, b)
        return (h * dh).sum() + (cT * dcT).sum()

    for name, (a, da) in {"x": (x, dx), "h0": (h0, dh0), "c0": (c0, dc0), "Wx": (Wx, dWx),
                          "Wh": (Wh, dWh), "b": (b, db)}.items():
        assert rel_error(numeric_gradient(f, a), da) < 1e-7, name


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_linear_and_embedding_engine_equal_book(dtype):
    """The output layer on an (N, T, H) view of time-major memory (as the engine's LSTM returns h),
    and on an ordinary array; the embedding's backward on both layouts, with repeated ids."""
    rng = np.random.default_rng(2)
    N, T, H, V = 3, 4, 5, 6
    h_tm = rng.standard_normal((T, N, H)).astype(dtype)
    W, b = rng.standard_normal((H, V)).astype(dtype), rng.standard_normal(V).astype(dtype)
    dy = rng.standard_normal((N, T, V)).astype(dtype)
    for h in (h_tm.transpose(1, 0, 2), np.ascontiguousarray(h_tm.transpose(1, 0, 2))):
        y_ref, cache_ref = linear.forward(h, W, b)
        y, cache = fast.linear.forward(h, W, b)
        assert y.flags.c_contiguous and rel_error(y, y_ref) < TOL[dtype]
        for a, r in zip(fast.linear.backward(dy, cache), linear.backward(dy, cache_ref)):
            assert a.shape == r.shape and a.dtype == r.dtype and rel_error(a, r) < TOL[dtype]
    ids = rng.integers(0, 3, (N, T))
    table = rng.standard_normal((V, H)).astype(dtype)
    _, cache = embedding.forward(ids, table)
    for dout in (h_tm.transpose(1, 0, 2), np.ascontiguousarray(h_tm.transpose(1, 0, 2))):
        a, r = fast.embedding.backward(dout, cache), embedding.backward(dout, cache)
        assert a.dtype == r.dtype and rel_error(a, r) < TOL[dtype]


def test_kernels_match_their_python_source():
    """Each compiled kernel against its own Python body (``.py_func``) on small inputs, in both
    dtypes (float32 compiles the rational tanh, ``.py_func`` always runs libm's)."""
    rng = np.random.default_rng(0)
    N, H = 3, 4
    for dtype in (np.float64, np.float32):
        r = lambda *s: rng.standard_normal(s).astype(dtype)  # noqa: E731
        ah, a_t = r(N, 4 * H), r(N, 4 * H)
        c_prev, dh_t, dh_next, dc_next = r(N, H), r(N, H), r(N, H), r(N, H)
        gates = (1 / (1 + np.exp(-r(N, 4 * H)))).astype(dtype)
        c_t, b = r(N, H), r(4 * H)
        xw, rows = r(5, 4 * H), np.array([3, 0, 3])         # (D, 4H) rows, (N,) ids
        z = lambda *s: np.zeros(s, dtype)  # noqa: E731
        cases = [
            # x_t Wx as rows of a table: the hoisted GEMM's block (rows in order), or Wx looked up
            # by id (ids repeat and skip rows), as for one-hot input
            (kernels.lstm_forward_step, lambda: [ah, a_t, np.arange(N), b, c_prev, z(N, 4 * H),
                                                 z(N, H), z(N, H)]),
            (kernels.lstm_forward_step, lambda: [ah, xw, rows, b, c_prev, z(N, 4 * H), z(N, H),
                                                 z(N, H)]),
            (kernels.lstm_backward_step, lambda: [dh_t, dh_next, dc_next.copy(), gates, c_t, c_prev,
                                                  z(N, 4 * H)]),
        ]
        for kernel, make in cases:
            jit_args, py_args = make(), make()
            kernel(*jit_args)
            kernel.py_func(*py_args)
            for a, p in zip(jit_args, py_args):
                assert np.allclose(a, p, rtol=1e-6, atol=1e-6), kernel.__name__


def test_float32_tanh_approximation():
    """The float32 rational tanh stays within 4e-7 of the true tanh, saturates, and is odd."""
    x = np.linspace(-12, 12, 200001).astype(np.float32)
    approx = np.array([kernels.tanh_f32(v) for v in x[::50]], dtype=np.float64)
    exact = np.tanh(x[::50].astype(np.float64))
    assert np.abs(approx - exact).max() < 4e-7
    assert kernels.tanh_f32(np.float32(30.0)) == np.float32(1.0)
    assert kernels.tanh_f32(np.float32(-0.3)) == -kernels.tanh_f32(np.float32(0.3))


@pytest.mark.parametrize("cell,embed", [("lstm", 0), ("lstm", 4), ("rnn", 0), ("rnn", 4), ("gru", 0), ("gru", 4)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_model_step_same_with_engine_on_and_off(monkeypatch, cell, embed, dtype):
    """A whole RNNLM loss and gradients (2 layers, one-hot ids or a trained embedding) agree
    between the engine and the book."""
    rng = np.random.default_rng(1)
    ids, targets = rng.integers(0, 11, (3, 5)), rng.integers(0, 11, (3, 5))
    results = []
    for on in (False, True):
        monkeypatch.setattr(fast, "ENABLED", on)
        model = RNNLM(11, hidden=6, layers=2, cell=cell, embed=embed, seed=2, dtype=dtype)
        loss, _, cache = model.loss(ids, targets)
        grads, _ = model.backward(cache)
        results.append((float(loss), grads))
    (l0, g0), (l1, g1) = results
    assert abs(l0 - l1) <= TOL[dtype] * abs(l0)
    assert sorted(g0) == sorted(g1)
    for k in g0:
        assert g1[k].dtype == g0[k].dtype and rel_error(g1[k], g0[k]) < TOL[dtype], k


@pytest.mark.parametrize("cell", ["lstm", "rnn", "gru"])
def test_model_hands_its_cells_to_the_engine(monkeypatch, cell):
    """With the engine on, the model's stack runs the engine's twin of the cell, forward and backward
    (fast.pick hands the model fast/stack.py, whose layers are the twins); with it off, the book's cell."""
    calls = []
    twin = getattr(fast, cell)
    for name in ("forward", "backward"):
        original = getattr(twin, name)
        monkeypatch.setattr(twin, name, lambda *a, _f=original, _n=name, **k: calls.append(_n) or _f(*a, **k))
    rng = np.random.default_rng(3)
    ids = rng.integers(0, 5, (2, 3))
    for on, expected in ((True, ["forward"] * 2 + ["backward"] * 2), (False, [])):
        monkeypatch.setattr(fast, "ENABLED", on)
        calls.clear()
        model = RNNLM(5, hidden=4, layers=2, cell=cell, seed=0)
        model.backward(model.loss(ids, ids)[2])
        assert calls == expected, on


def test_pick_and_the_switch(monkeypatch):
    """pick hands out a twin only while the engine is on, and the book for modules without one."""
    x = np.zeros((2, 3, 4))
    monkeypatch.setattr(fast, "ENABLED", True)
    assert fast.pick(lstm, x) is fast.lstm and fast.pick(softmax_ce, x) is softmax_ce
    assert fast.pick(gru, x) is fast.gru and fast.pick(rnn, x) is fast.rnn
    assert fast.runs(x)
    monkeypatch.setattr(fast, "ENABLED", False)
    assert fast.pick(lstm, x) is lstm and fast.pick(rnn, x) is rnn and not fast.runs(x)


def test_environment_switch_turns_the_engine_off():
    code = "from minirnn import fast, model; print(fast.ENABLED, fast.AVAILABLE)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=dict(ENV, MINIRNN_FAST="0")).stdout.split()
    assert out == ["False", "True"]


NO_NUMBA = """
import sys
sys.modules["numba"] = None                      # `import numba` now raises ImportError
import numpy as np
from minirnn import fast
from minirnn.gradcheck import numeric_gradient, rel_error
from minirnn.model import RNNLM
from minirnn.optim import Adam, clip_grad_norm
assert not fast.AVAILABLE and not fast.ENABLED
rng = np.random.default_rng(0)
ids, targets = rng.integers(0, 7, (2, 4)), rng.integers(0, 7, (2, 4))
for cell in ("lstm", "rnn", "gru"):
    model = RNNLM(7, hidden=5, layers=2, cell=cell, embed=0, seed=1, dtype=np.float64)
    loss, _, cache = model.loss(ids, targets, train=True)
    grads, _ = model.backward(cache)
    W = model.params["rnn.0.Wx"]                 # one-hot ids: the scatter-add path
    num = numeric_gradient(lambda: model.loss(ids, targets)[0], W)
    assert rel_error(num, grads["rnn.0.Wx"]) < 1e-6, cell
    clip_grad_norm(grads, 5.0)
    Adam(model.trainable()).step(grads)
    assert float(model.loss(ids, targets)[0]) < float(loss), cell
    assert model.eval_loss(ids, targets)[0] == model.loss(ids, targets)[0], cell   # forward only: the book
    assert np.array_equal(model.predict(ids)[0], model.forward(ids)[0]), cell
assert "numba" not in [m.split(".")[0] for m in sys.modules if sys.modules[m] is not None]
print("ok")
"""


def test_library_works_without_numba():
    out = subprocess.run([sys.executable, "-c", NO_NUMBA], capture_output=True, text=True, env=ENV)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["ok"]


@pytest.mark.parametrize("cell", ["lstm", "rnn", "gru"])
@pytest.mark.parametrize("ids", [False, True], ids=["dense", "ids"])
def test_stack_engine_equals_book(cell, ids):
    """fast/stack.py against layers/stack.py in float64, with dropout between the layers: the same
    masks from the same rng, the same h, state and gradients, and either backward takes either
    forward's cache. The book's stack names only the book's cells (no engine hook in it)."""
    import inspect
    from minirnn.layers import stack
    rng = np.random.default_rng(7)
    N, T, D, H, L = 3, 4, 5, 6, 3
    G = {"lstm": 4 * H, "rnn": H, "gru": 3 * H}[cell]
    B = 4 * H if cell == "gru" else G
    params = [(rng.standard_normal((D if l == 0 else H, G)), rng.standard_normal((H, G)) * 0.5,
               rng.standard_normal(B)) for l in range(L)]
    x = rng.integers(0, D, (N, T)) if ids else rng.standard_normal((N, T, D))
    state = [tuple(rng.standard_normal((N, H)) for _ in range(2 if cell == "lstm" else 1)) for _ in range(L)]
    dh = rng.standard_normal((N, T, H))
    assert fast.pick(stack, x) is fast.stack
    runs = {}
    for name, impl in (("book", stack), ("engine", fast.stack)):
        h, new_state, cache = impl.forward(x, state, params, cell, 0.3, np.random.default_rng(1))
        runs[name] = (h, new_state, cache, impl.backward(dh, cache))
    (h0, s0, c0, g0), (h1, s1, c1, g1) = runs["book"], runs["engine"]
    assert rel_error(h1, h0) < 1e-12
    assert all(rel_error(a, b) < 1e-12 for A, B in zip(s1, s0) for a, b in zip(A, B))
    assert all(np.array_equal(m1, m0) for (m1, _), (m0, _) in zip(c1[1], c0[1]))   # dropout masks
    crossed = stack.backward(dh, c1), fast.stack.backward(dh, c0)
    for got in (g1,) + crossed:
        assert (got[0] is None) == (g0[0] is None) and (g0[0] is None or rel_error(got[0], g0[0]) < 1e-12)
        for A, B in zip(got[1] + got[2], g0[1] + g0[2]):
            assert all(rel_error(a, b) < 1e-12 for a, b in zip(A, B))
    assert "fast" not in inspect.getsource(stack) and "pick" not in inspect.getsource(stack)


def test_adam_is_picked_on_the_engine_side(monkeypatch):
    """optim.py's Adam lines are the reference, with no engine hook in them: Optimizer.step asks
    fast.pick_update, which hands out adam.py's one pass for Adam itself (not for a subclass that
    changes the update) while the engine runs, and the reference otherwise."""
    import inspect
    from minirnn.optim import SGD, Adam
    p = {"w": np.ones(3)}
    adam = Adam(p)
    assert fast.pick_update(adam, p["w"]) != adam._update
    sgd = SGD(p)
    assert fast.pick_update(sgd, p["w"]) == sgd._update            # no twin: the reference

    class MyAdam(Adam):
        pass
    mine = MyAdam(p)
    assert fast.pick_update(mine, p["w"]) == mine._update
    monkeypatch.setattr(fast, "ENABLED", False)
    assert fast.pick_update(adam, p["w"]) == adam._update
    assert "fast" not in inspect.getsource(Adam._update)
