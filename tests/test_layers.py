"""Every layer: forward against a naive per-step loop, and a float64 central-difference gradient
check of every input, parameter and initial state against a random upstream gradient.

The naive references below are written from the equations in each layer's docstring, one sample and
one time step at a time, and share no code with minirnn.layers. Parameters, biases included, are
randomized before every comparison, so a bias that is dropped, doubled or given the wrong gradient
cannot hide behind an initial value of 0 or 1.

Shapes are drawn by hypothesis in 1..4 (N, T, D, H), with N = 1, T = 1 and an omitted initial state
pinned by ``@example``. Forward tests run on every backend (the ``xp`` fixture, CuPy compared with the
NumPy reference); the gradient checks run in NumPy float64.
"""
import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from minirnn import backend, philox
from minirnn.gradcheck import rel_error
from minirnn.layers import dropout, embedding, linear, lstm, rnn, softmax_ce, stack

from helpers import FWD_TOL, GRAD_SETTINGS, check, check_forward_on_device, check_recurrent_layer, dim, seed, sigmoid

pytestmark = pytest.mark.usefixtures("book")  # gradient checks run on the book, engine off

# ---- naive references: one sample, one step at a time ------------------------------------------
def naive_rnn(x, h0, Wx, Wh, b):
    """h_t = tanh(x_t Wx + h_{t-1} Wh + b), per sample and step."""
    N, T, _ = x.shape
    H = Wh.shape[0]
    h = np.zeros((N, T, H))
    for n in range(N):
        hp = np.zeros(H) if h0 is None else h0[n]
        for t in range(T):
            hp = np.tanh(x[n, t] @ Wx + hp @ Wh + b)
            h[n, t] = hp
    return h


def naive_lstm(x, h0, c0, Wx, Wh, b):
    """The LSTM equations with gate order i, f, g, o, per sample and step. Returns (h, cT)."""
    N, T, _ = x.shape
    H = Wh.shape[0]
    h = np.zeros((N, T, H))
    cT = np.zeros((N, H))
    for n in range(N):
        hp = np.zeros(H) if h0 is None else h0[n]
        cp = np.zeros(H) if c0 is None else c0[n]
        for t in range(T):
            a = x[n, t] @ Wx + hp @ Wh + b
            i = sigmoid(a[0:H])
            f = sigmoid(a[H:2 * H])
            g = np.tanh(a[2 * H:3 * H])
            o = sigmoid(a[3 * H:4 * H])
            cp = f * cp + i * g
            hp = o * np.tanh(cp)
            h[n, t] = hp
        cT[n] = cp
    return h, cT


def naive_ce(logits, y):
    """mean over tokens of -log softmax(z)[y], one token at a time."""
    N, T, V = logits.shape
    total = 0.0
    for n in range(N):
        for t in range(T):
            z = logits[n, t]
            total += -(z[y[n, t]] - np.logaddexp.reduce(z))
    return total / (N * T)


def rand_cell(cell, D, H, rng, scale=0.5):
    """(Wx, Wh, b) with every entry random, biases included."""
    G = 4 * H if cell == "lstm" else H
    return (scale * rng.standard_normal((D, G)), scale * rng.standard_normal((H, G)),
            scale * rng.standard_normal(G))


# ---- embedding ----------------------------------------------------------------------------------
def test_embedding_forward_matches_loop(xp):
    rng = np.random.default_rng(0)
    V, D, N, T = 5, 3, 2, 4
    W = rng.standard_normal((V, D))
    ids = rng.integers(0, V, (N, T))
    out, _ = embedding.forward(backend.to_device(ids), backend.to_device(W))
    assert backend.array_module(out) is xp
    ref = np.zeros((N, T, D))
    for n in range(N):
        for t in range(T):
            ref[n, t] = W[ids[n, t]]
    assert np.array_equal(backend.to_numpy(out), ref)


@GRAD_SETTINGS
@given(N=dim, T=dim, V=st.integers(1, 4), D=dim, s=seed)
@example(N=1, T=3, V=3, D=2, s=0)
@example(N=2, T=1, V=3, D=2, s=1)
def test_embedding_gradcheck(N, T, V, D, s):
    rng = np.random.default_rng(s)
    W = rng.standard_normal((V, D))
    ids = rng.integers(0, V, (N, T))       # V <= 4 and N*T up to 16: ids repeat, the scatter-add sums
    dout = rng.standard_normal((N, T, D))
    _, cache = embedding.forward(ids, W)
    dW = embedding.backward(dout, cache)
    check(lambda: (embedding.forward(ids, W)[0] * dout).sum(), {"W": (W, dW)})
    unused = np.setdiff1d(np.arange(V), ids)
    assert np.all(dW[unused] == 0)


# ---- linear -------------------------------------------------------------------------------------
def test_linear_forward_matches_loop(xp):
    rng = np.random.default_rng(1)
    N, T, D, M = 2, 3, 4, 5
    x, W, b = rng.standard_normal((N, T, D)), rng.standard_normal((D, M)), rng.standard_normal(M)
    y, _ = linear.forward(*(backend.to_device(a) for a in (x, W, b)))
    ref = np.zeros((N, T, M))
    for n in range(N):
        for t in range(T):
            for m in range(M):
                ref[n, t, m] = sum(x[n, t, d] * W[d, m] for d in range(D)) + b[m]
    assert rel_error(backend.to_numpy(y), ref) < FWD_TOL


@GRAD_SETTINGS
@given(N=dim, T=dim, D=dim, M=dim, s=seed, two_d=st.booleans())
@example(N=1, T=1, D=2, M=3, s=0, two_d=False)
def test_linear_gradcheck(N, T, D, M, s, two_d):
    rng = np.random.default_rng(s)
    shape = (N, D) if two_d else (N, T, D)
    x, W, b = rng.standard_normal(shape), rng.standard_normal((D, M)), rng.standard_normal(M)
    dy = rng.standard_normal(shape[:-1] + (M,))
    _, cache = linear.forward(x, W, b)
    dx, dW, db = linear.backward(dy, cache)
    f = lambda: (linear.forward(x, W, b)[0] * dy).sum()  # noqa: E731
    check(f, {"x": (x, dx), "W": (W, dW), "b": (b, db)})


# ---- rnn ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("with_h0", [True, False])
def test_rnn_forward_matches_loop(xp, with_h0):
    rng = np.random.default_rng(2)
    N, T, D, H = 2, 3, 4, 5
    x = rng.standard_normal((N, T, D))
    h0 = rng.standard_normal((N, H)) if with_h0 else None
    check_forward_on_device(xp, rnn, naive_rnn, x, h0, rand_cell("rnn", D, H, rng))


@GRAD_SETTINGS
@given(N=dim, T=dim, D=dim, H=dim, s=seed, with_h0=st.booleans())
@example(N=1, T=3, D=2, H=3, s=0, with_h0=True)
@example(N=2, T=1, D=3, H=2, s=1, with_h0=True)
@example(N=2, T=3, D=4, H=4, s=2, with_h0=False)
def test_rnn_gradcheck(N, T, D, H, s, with_h0):
    rng = np.random.default_rng(s)
    x = rng.standard_normal((N, T, D))
    h0 = rng.standard_normal((N, H)) if with_h0 else None
    params = rand_cell("rnn", D, H, rng)
    dh = rng.standard_normal((N, T, H))
    dh0 = check_recurrent_layer(rnn, naive_rnn, x, h0, params, dh)[1]
    assert dh0.shape == (N, H)


# ---- lstm ---------------------------------------------------------------------------------------
def test_lstm_init_is_pytorchs_and_gate_order():
    D, H = 3, 5
    Wx, Wh, b = lstm.init_params(D, H, np.random.default_rng(0), np.float64)
    assert Wx.shape == (D, 4 * H) and Wh.shape == (H, 4 * H) and b.shape == (4 * H,)
    I, F, G, O = lstm.gate_slices(H)
    assert (I, F, G, O) == (slice(0, H), slice(H, 2 * H), slice(2 * H, 3 * H), slice(3 * H, 4 * H))
    k = 1 / np.sqrt(H)
    assert np.all(np.abs(Wx) <= k) and np.all(np.abs(Wh) <= k)
    # b = b_ih + b_hh, two draws from U(-k, k): the same numbers as drawing them in that order,
    # the forget gate's quarter included (no forget bias of 1)
    rng = np.random.default_rng(0)
    rng.uniform(size=(D + H) * 4 * H)                                  # Wx, Wh
    np.testing.assert_allclose(b, rng.uniform(-k, k, 4 * H) + rng.uniform(-k, k, 4 * H), rtol=1e-15)
    assert np.all(np.abs(b) <= 2 * k) and np.abs(b).max() > k          # the sum's range, not one draw's
    # the sum of two U(-k, k) (a triangle on (-2k, 2k), variance 2k²/3) over many draws
    big = lstm.init_params(1, 400, np.random.default_rng(1), np.float64)[2] * 20   # k = 1/20
    assert abs(big.mean()) < 0.05 and abs(big.var() - 2 / 3) < 0.05
    assert abs(big[lstm.gate_slices(400)[1]].mean()) < 0.1            # forget quarter centred on 0
    # the gate order is documented where a reader (and a PyTorch port) looks for it
    assert "i, f, g, o" in lstm.__doc__


def test_lstm_gate_order_behaviour():
    """With zero weights the bias alone sets the gates: f = 1, i = 0 keeps c = c0 exactly; then o = 1
    gives h = tanh(c0). Any other gate order would mix the quarters up."""
    N, H = 2, 3
    c0 = np.random.default_rng(3).standard_normal((N, H))
    Wx, Wh = np.zeros((1, 4 * H)), np.zeros((H, 4 * H))
    big = 40.0
    b = np.concatenate([-big * np.ones(H), big * np.ones(H), np.zeros(H), big * np.ones(H)])  # i f g o
    h, cT, _ = lstm.forward(np.zeros((N, 4, 1)), None, c0, Wx, Wh, b)
    assert np.allclose(cT, c0, atol=1e-12)
    assert np.allclose(h[:, -1], np.tanh(c0), atol=1e-12)


@pytest.mark.parametrize("with_state", [True, False])
def test_lstm_forward_matches_loop(xp, with_state):
    rng = np.random.default_rng(4)
    N, T, D, H = 2, 3, 4, 5
    x = rng.standard_normal((N, T, D))
    h0 = rng.standard_normal((N, H)) if with_state else None
    c0 = rng.standard_normal((N, H)) if with_state else None
    params = rand_cell("lstm", D, H, rng)
    dev = lambda a: None if a is None else backend.to_device(a)  # noqa: E731
    h, cT, _ = lstm.forward(dev(x), dev(h0), dev(c0), *map(dev, params))
    assert backend.array_module(h) is xp
    h_ref, cT_ref = naive_lstm(x, h0, c0, *params)
    assert rel_error(backend.to_numpy(h), h_ref) < FWD_TOL
    assert rel_error(backend.to_numpy(cT), cT_ref) < FWD_TOL


@GRAD_SETTINGS
@given(N=dim, T=dim, D=dim, H=dim, s=seed, with_state=st.booleans(), with_dcT=st.booleans())
@example(N=1, T=3, D=2, H=3, s=0, with_state=True, with_dcT=True)
@example(N=2, T=1, D=3, H=2, s=1, with_state=True, with_dcT=True)
@example(N=2, T=3, D=4, H=4, s=2, with_state=False, with_dcT=True)
@example(N=2, T=2, D=2, H=2, s=3, with_state=True, with_dcT=False)
def test_lstm_gradcheck(N, T, D, H, s, with_state, with_dcT):
    rng = np.random.default_rng(s)
    x = rng.standard_normal((N, T, D))
    h0 = rng.standard_normal((N, H)) if with_state else None
    c0 = rng.standard_normal((N, H)) if with_state else None
    Wx, Wh, b = rand_cell("lstm", D, H, rng)
    dh = rng.standard_normal((N, T, H))                      # includes the final state's gradient
    dcT = rng.standard_normal((N, H)) if with_dcT else None  # whatever used the final cell state
    h, cT, cache = lstm.forward(x, h0, c0, Wx, Wh, b)
    h_ref, cT_ref = naive_lstm(x, h0, c0, Wx, Wh, b)
    assert rel_error(h, h_ref) < FWD_TOL and rel_error(cT, cT_ref) < FWD_TOL
    dx, dh0, dc0, dWx, dWh, db = lstm.backward(dh, cache, None if dcT is None else dcT.copy())

    def f():
        h, cT, _ = lstm.forward(x, h0, c0, Wx, Wh, b)
        return (h * dh).sum() + (0.0 if dcT is None else (cT * dcT).sum())

    named = {"x": (x, dx), "Wx": (Wx, dWx), "Wh": (Wh, dWh), "b": (b, db)}
    if with_state:
        named.update(h0=(h0, dh0), c0=(c0, dc0))
    check(f, named)


def test_lstm_gradcheck_on_backend(xp):
    """One small gradient check through the selected backend (CuPy where a GPU exists)."""
    rng = np.random.default_rng(5)
    N, T, D, H = 2, 2, 2, 2
    host = [rng.standard_normal(s) for s in ((N, T, D), (N, H), (N, H))] + list(rand_cell("lstm", D, H, rng))
    x, h0, c0, Wx, Wh, b = (backend.to_device(a, dtype=np.float64) for a in host)
    dh = backend.to_device(rng.standard_normal((N, T, H)))
    _, _, cache = lstm.forward(x, h0, c0, Wx, Wh, b)
    dx, dh0, dc0, dWx, dWh, db = lstm.backward(dh, cache)
    f = lambda: (lstm.forward(x, h0, c0, Wx, Wh, b)[0] * dh).sum()  # noqa: E731
    check(f, {"x": (x, dx), "h0": (h0, dh0), "c0": (c0, dc0), "Wx": (Wx, dWx), "b": (b, db)})


# ---- dropout ------------------------------------------------------------------------------------
def test_dropout_forward_mask(xp):
    p = 0.3
    x = backend.to_device(np.random.default_rng(6).standard_normal((40, 50)))
    y, mask = dropout.forward(x, p, backend.default_rng(0))
    y, mask, x = (backend.to_numpy(a) for a in (y, mask, x))
    assert y.dtype == x.dtype and mask.shape == x.shape
    assert np.all((mask == 0) | np.isclose(mask, 1 / (1 - p), rtol=1e-15))  # (1) mask in {0, 1/(1-p)}
    assert np.array_equal(y, x * mask)                                       # (2)
    assert abs((mask == 0).mean() - p) < 0.05                                # about p of them dropped
    # same seed, same mask; float32 stays float32
    y2, _ = dropout.forward(backend.to_device(x), p, backend.default_rng(0))
    assert np.array_equal(backend.to_numpy(y2), y)
    y32, _ = dropout.forward(backend.to_device(x, dtype=np.float32), p, backend.default_rng(0))
    assert y32.dtype == np.float32


def test_dropout_p0_is_identity():
    x = np.arange(6.0).reshape(2, 3)
    y, mask = dropout.forward(x, 0.0, None)
    assert mask is None and np.array_equal(y, x)
    dy = np.ones_like(x)
    assert np.array_equal(dropout.backward(dy, None), dy)


@GRAD_SETTINGS
@given(N=dim, T=dim, H=dim, s=seed, p=st.sampled_from([0.2, 0.5]))
def test_dropout_gradcheck_fixed_mask(N, T, H, s, p):
    rng = np.random.default_rng(s)
    x = rng.standard_normal((N, T, H))
    dy = rng.standard_normal((N, T, H))
    _, mask = dropout.forward(x, p, np.random.default_rng(s))
    dx = dropout.backward(dy, mask)
    # re-seeding inside f draws the same mask on every call: dropout with a fixed mask
    check(lambda: (dropout.forward(x, p, np.random.default_rng(s))[0] * dy).sum(), {"x": (x, dx)})


# ---- stack --------------------------------------------------------------------------------------
def naive_stack(x, state, params, cell, p_drop, seed_, rng=None):
    """Layers one after another, with the dropout masks drawn as equation (1) of dropout.py from an
    identically seeded generator (or from ``rng``, one that draws what the layer's draws)."""
    rng = np.random.default_rng(seed_) if rng is None else rng
    inp, finals = x, []
    for l, (Wx, Wh, b) in enumerate(params):
        if l > 0 and p_drop > 0:
            inp = inp * ((rng.random(inp.shape) >= p_drop) / (1 - p_drop))
        s = state[l] if state is not None else (None, None)
        if cell == "lstm":
            h, cT = naive_lstm(inp, s[0], s[1], Wx, Wh, b)
            finals.append((h[:, -1], cT))
        else:
            h = naive_rnn(inp, s[0], Wx, Wh, b)
            finals.append((h[:, -1],))
        inp = h
    return inp, finals


def rand_stack(cell, L, N, D, H, rng, with_state):
    params = [rand_cell(cell, D if l == 0 else H, H, rng) for l in range(L)]
    k = 2 if cell == "lstm" else 1
    state = [tuple(rng.standard_normal((N, H)) for _ in range(k)) for _ in range(L)] if with_state else None
    return params, state


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
@pytest.mark.parametrize("L", [1, 2, 3])
@pytest.mark.parametrize("p_drop", [0.0, 0.4])
def test_stack_forward_matches_loop(xp, cell, L, p_drop):
    rng = np.random.default_rng(7)
    N, T, D, H = 2, 3, 4, 3
    x = rng.standard_normal((N, T, D))
    params, state = rand_stack(cell, L, N, D, H, rng, with_state=True)
    dev = backend.to_device
    # the masks are drawn on the arrays' device (as the trainer draws them), and the same numbers
    # on the host for the loop: NumPy's generator there, Philox (bit-identical on both) on a device
    h, new_state, _ = stack.forward(dev(x), [tuple(map(dev, s)) for s in state],
                                    [tuple(map(dev, p)) for p in params], cell, p_drop,
                                    philox.dropout_rng(11, 0, xp))
    host_rng = np.random.default_rng(11 * 1_000_003) if xp is np else philox.CounterRNG(11, 0, np)
    h_ref, finals = naive_stack(x, state, params, cell, p_drop, 11, rng=host_rng)
    assert rel_error(backend.to_numpy(h), h_ref) < FWD_TOL
    assert len(new_state) == L
    for got, ref in zip(new_state, finals):
        assert len(got) == len(ref)
        for a, r in zip(got, ref):
            assert rel_error(backend.to_numpy(a), r) < FWD_TOL


@GRAD_SETTINGS
@given(cell=st.sampled_from(["rnn", "lstm"]), L=st.integers(1, 3), N=dim, T=dim, D=dim, H=dim,
       s=seed, with_state=st.booleans(), p_drop=st.sampled_from([0.0, 0.3]))
@example(cell="lstm", L=3, N=1, T=2, D=2, H=2, s=0, with_state=True, p_drop=0.3)
@example(cell="rnn", L=3, N=2, T=1, D=3, H=2, s=1, with_state=True, p_drop=0.3)
@example(cell="lstm", L=2, N=2, T=3, D=2, H=3, s=2, with_state=False, p_drop=0.0)
@example(cell="rnn", L=1, N=1, T=1, D=1, H=1, s=3, with_state=True, p_drop=0.0)
def test_stack_gradcheck(cell, L, N, T, D, H, s, with_state, p_drop):
    rng = np.random.default_rng(s)
    x = rng.standard_normal((N, T, D))
    params, state = rand_stack(cell, L, N, D, H, rng, with_state)
    dh = rng.standard_normal((N, T, H))
    fwd = lambda: stack.forward(x, state, params, cell, p_drop, np.random.default_rng(s))  # noqa: E731
    h, _, cache = fwd()
    assert rel_error(h, naive_stack(x, state, params, cell, p_drop, s)[0]) < FWD_TOL
    dx, dstate, dparams = stack.backward(dh, cache)
    assert len(dstate) == L and len(dparams) == L
    named = {"x": (x, dx)}
    for l in range(L):
        for name, arr, grad in zip(("Wx", "Wh", "b"), params[l], dparams[l]):
            named[f"{l}.{name}"] = (arr, grad)
        if with_state:
            for name, arr, grad in zip(("h0", "c0"), state[l], dstate[l]):
                named[f"{l}.{name}"] = (arr, grad)
    check(lambda: (fwd()[0] * dh).sum(), named)


# ---- softmax cross-entropy ----------------------------------------------------------------------
def test_softmax_ce_forward_matches_loop(xp):
    rng = np.random.default_rng(8)
    N, T, V = 2, 3, 5
    logits = 3 * rng.standard_normal((N, T, V))
    y = rng.integers(0, V, (N, T))
    loss, _ = softmax_ce.forward(backend.to_device(logits), backend.to_device(y))
    assert loss.shape == ()
    assert abs(float(backend.to_numpy(loss)) - naive_ce(logits, y)) < 1e-12
    per = backend.to_numpy(softmax_ce.per_token(backend.to_device(logits), backend.to_device(y)))
    assert per.shape == (N, T)
    assert abs(per.mean() - naive_ce(logits, y)) < 1e-12
    assert abs(per[1, 2] - naive_ce(logits[1:2, 2:3], y[1:2, 2:3])) < 1e-12


@GRAD_SETTINGS
@given(N=dim, T=dim, V=st.integers(1, 5), s=seed)
@example(N=1, T=1, V=3, s=0)
def test_softmax_ce_gradcheck(N, T, V, s):
    rng = np.random.default_rng(s)
    logits = 2 * rng.standard_normal((N, T, V))
    y = rng.integers(0, V, (N, T))
    dloss = float(rng.standard_normal())                     # a random upstream gradient (scalar)
    _, cache = softmax_ce.forward(logits, y)
    dz = softmax_ce.backward(cache, dloss)
    assert dz.shape == logits.shape
    assert np.allclose(dz.sum(axis=-1), 0, atol=1e-12)       # p - onehot sums to zero per token
    check(lambda: dloss * softmax_ce.forward(logits, y)[0], {"logits": (logits, dz)})


@pytest.mark.parametrize("scale", [1e4, 1e6])
def test_softmax_ce_huge_logits_stable(scale):
    rng = np.random.default_rng(9)
    N, T, V = 2, 3, 4
    logits = scale * rng.standard_normal((N, T, V))
    logits[0, 0] = [scale, 0.0, -scale, scale]               # a tie at the top, and a huge spread
    y = rng.integers(0, V, (N, T))
    y[0, 0] = 1
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is expected
        loss, cache = softmax_ce.forward(logits, y)
        dz = softmax_ce.backward(cache)
        per = softmax_ce.per_token(logits, y)
    assert np.isfinite(loss) and np.all(np.isfinite(dz)) and np.all(np.isfinite(per))
    # -log softmax = logsumexp(z) - z_y, by NumPy's own stable logaddexp
    ref = np.logaddexp.reduce(logits, axis=-1) - np.take_along_axis(logits, y[..., None], -1)[..., 0]
    assert np.allclose(per, ref, rtol=1e-12, atol=0)
    assert float(loss) == pytest.approx(ref.mean(), rel=1e-12)
    assert per[0, 0] == pytest.approx(scale + np.log(2), rel=1e-12)   # z_max - z_y + log 2 (the tie)
