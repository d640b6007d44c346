"""The whole language model (RNNLM): loss against a naive loop, gradient check of every trainable
parameter and of the initial state, frozen embeddings, and truncated BPTT across windows.

The naive reference runs one sample at a time, time outermost and layers innermost (the layer code runs
layers outermost), straight from the equations: embedding row, the stacked cells, the output
projection, -log softmax. Forward tests run on every backend (``xp``); on CuPy the device result is
compared with this NumPy reference. Gradient checks run in NumPy float64 over hypothesis-drawn shapes.
"""
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from minirnn import backend
from minirnn.gradcheck import numeric_gradient, rel_error
from minirnn.model import RNNLM

pytestmark = pytest.mark.usefixtures("book")  # gradient checks run on the book, engine off

TOL = 1e-6
FWD_TOL = 1e-12
GRAD_SETTINGS = settings(max_examples=12, deadline=None, derandomize=True)


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def naive_model(p, cell, L, ids, targets, state):
    """Per sample, per step, per layer. p: host params by name. Returns (logits, loss, finals)."""
    N, T = ids.shape
    H = p["rnn.0.Wh"].shape[0]
    V = p["out.W"].shape[1]
    logits = np.zeros((N, T, V))
    finals = [[np.zeros((N, H)) for _ in range(2 if cell == "lstm" else 1)] for _ in range(L)]
    total = 0.0
    for n in range(N):
        hs = [np.zeros(H) if state is None else state[l][0][n] for l in range(L)]
        cs = [np.zeros(H) if state is None or cell == "rnn" else state[l][1][n] for l in range(L)]
        for t in range(T):
            inp = p["embed.W"][ids[n, t]]                                     # (1) embedding row
            for l in range(L):
                a = inp @ p[f"rnn.{l}.Wx"] + hs[l] @ p[f"rnn.{l}.Wh"] + p[f"rnn.{l}.b"]
                if cell == "lstm":                                            # gates i, f, g, o
                    i, f = sigmoid(a[:H]), sigmoid(a[H:2 * H])
                    g, o = np.tanh(a[2 * H:3 * H]), sigmoid(a[3 * H:])
                    cs[l] = f * cs[l] + i * g
                    hs[l] = o * np.tanh(cs[l])
                else:
                    hs[l] = np.tanh(a)
                inp = hs[l]
            z = inp @ p["out.W"] + p["out.b"]                                 # (3)
            logits[n, t] = z
            total += np.logaddexp.reduce(z) - z[targets[n, t]]                # (4) -log softmax
        for l in range(L):
            finals[l][0][n] = hs[l]
            if cell == "lstm":
                finals[l][1][n] = cs[l]
    return logits, total / (N * T), finals


def make_model(cell, L, V, H, embed_kind, rng, E=3, dropout=0.0):
    """A float64 RNNLM with every parameter randomized (biases included; a one-hot table stays the
    identity). embed_kind: 'onehot' (embed=0), 'learned' (embed=E), 'given' (a frozen given matrix),
    'given_trainable' (a given matrix with freeze_embedding=False)."""
    kw = {"onehot": dict(embed=0), "learned": dict(embed=E),
          "given": dict(embedding=rng.standard_normal((V, E))),
          "given_trainable": dict(embedding=rng.standard_normal((V, E)), freeze_embedding=False)}[embed_kind]
    m = RNNLM(V, hidden=H, layers=L, cell=cell, dropout=dropout, dtype=np.float64, seed=0, **kw)
    for k, v in m.params.items():
        if not (k == "embed.W" and embed_kind == "onehot"):
            m.params[k] = backend.to_device(0.5 * rng.standard_normal(v.shape))
    return m


def rand_state(cell, L, N, H, rng):
    k = 2 if cell == "lstm" else 1
    return [tuple(backend.to_device(rng.standard_normal((N, H))) for _ in range(k)) for _ in range(L)]


def host(m):
    return {k: backend.to_numpy(v) for k, v in m.params.items()}


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
@pytest.mark.parametrize("embed_kind", ["onehot", "learned", "given"])
@pytest.mark.parametrize("with_state", [True, False])
def test_loss_matches_naive(xp, cell, embed_kind, with_state):
    rng = np.random.default_rng(0)
    N, T, V, H, L = 2, 3, 5, 4, 2
    m = make_model(cell, L, V, H, embed_kind, rng)
    ids, targets = rng.integers(0, V, (N, T)), rng.integers(0, V, (N, T))
    state = rand_state(cell, L, N, H, rng) if with_state else None
    loss, new_state, _ = m.loss(backend.to_device(ids), backend.to_device(targets), state)
    logits, _, _ = m.forward(backend.to_device(ids), state)
    assert backend.array_module(logits) is xp
    host_state = None if state is None else [tuple(map(backend.to_numpy, s)) for s in state]
    logits_ref, loss_ref, finals = naive_model(host(m), cell, L, ids, targets, host_state)
    assert rel_error(backend.to_numpy(logits), logits_ref) < FWD_TOL
    assert abs(float(backend.to_numpy(loss)) - loss_ref) < FWD_TOL * max(1.0, loss_ref)
    for got, ref in zip(new_state, finals):
        for a, r in zip(got, ref):
            assert rel_error(backend.to_numpy(a), r) < FWD_TOL


def test_same_weights_on_every_backend(xp):
    """Weights are drawn on the host: a model built on any backend equals the NumPy one."""
    m = RNNLM(7, hidden=4, layers=2, cell="lstm", embed=3, seed=5)
    with backend.use_backend("numpy"):
        ref = RNNLM(7, hidden=4, layers=2, cell="lstm", embed=3, seed=5)
    assert m.params.keys() == ref.params.keys()
    for k in ref.params:
        assert backend.array_module(m.params[k]) is xp
        assert m.params[k].dtype == np.float32
        assert np.array_equal(backend.to_numpy(m.params[k]), ref.params[k])


@GRAD_SETTINGS
@given(cell=st.sampled_from(["rnn", "lstm"]), L=st.integers(1, 3), N=st.integers(1, 3),
       T=st.integers(1, 4), V=st.integers(2, 5), H=st.integers(1, 4),
       embed_kind=st.sampled_from(["onehot", "learned", "given", "given_trainable"]),
       with_state=st.booleans(), s=st.integers(0, 2 ** 32 - 1))
@example(cell="lstm", L=2, N=1, T=3, V=4, H=3, embed_kind="learned", with_state=True, s=0)
@example(cell="rnn", L=2, N=2, T=1, V=4, H=3, embed_kind="onehot", with_state=True, s=1)
@example(cell="lstm", L=3, N=2, T=2, V=3, H=2, embed_kind="given", with_state=False, s=2)
@example(cell="lstm", L=1, N=2, T=3, V=5, H=2, embed_kind="onehot", with_state=True, s=3)
def test_model_gradcheck(cell, L, N, T, V, H, embed_kind, with_state, s):
    rng = np.random.default_rng(s)
    m = make_model(cell, L, V, H, embed_kind, rng)
    ids, targets = rng.integers(0, V, (N, T)), rng.integers(0, V, (N, T))
    state = rand_state(cell, L, N, H, rng) if with_state else None
    dloss = float(rng.uniform(0.5, 2.0))                    # a random upstream gradient (scalar)
    _, _, cache = m.loss(ids, targets, state)
    grads, dstate = m.backward(cache, dloss)

    frozen = embed_kind in ("onehot", "given")
    assert ("embed.W" in m.frozen) == frozen
    assert set(grads) == set(m.trainable())                  # frozen parameters get no gradient
    assert ("embed.W" in grads) == (not frozen)
    assert len(dstate) == L

    f = lambda: dloss * m.loss(ids, targets, state)[0]  # noqa: E731
    for name, g in grads.items():
        err = rel_error(numeric_gradient(f, m.params[name]), g)
        assert err < TOL, f"{name}: rel error {err:.2e}"
    if with_state:
        for l in range(L):
            for j, (arr, g) in enumerate(zip(state[l], dstate[l])):
                err = rel_error(numeric_gradient(f, arr), g)
                assert err < TOL, f"state[{l}][{j}]: rel error {err:.2e}"


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_model_gradcheck_with_dropout(cell):
    """train=True: dropout between the layers, with the masks fixed by re-seeding the generator."""
    rng = np.random.default_rng(4)
    N, T, V, H, L = 2, 3, 4, 3, 3
    m = make_model(cell, L, V, H, "learned", rng, dropout=0.4)
    ids, targets = rng.integers(0, V, (N, T)), rng.integers(0, V, (N, T))
    state = rand_state(cell, L, N, H, rng)
    run = lambda: m.loss(ids, targets, state, train=True, rng=np.random.default_rng(9))  # noqa: E731
    loss, _, cache = run()
    eval_loss = m.loss(ids, targets, state)[0]
    assert float(loss) != float(eval_loss)                   # dropout did something in training ...
    assert float(m.loss(ids, targets, state)[0]) == float(eval_loss)  # ... and nothing at evaluation
    grads, dstate = m.backward(cache)
    f = lambda: run()[0]  # noqa: E731
    for name, g in grads.items():
        assert rel_error(numeric_gradient(f, m.params[name]), g) < TOL, name
    for l in range(L):
        for arr, g in zip(state[l], dstate[l]):
            assert rel_error(numeric_gradient(f, arr), g) < TOL


def test_frozen_given_embedding():
    rng = np.random.default_rng(5)
    V, E = 6, 3
    table = rng.standard_normal((V, E))
    m = RNNLM(V, hidden=4, layers=1, cell="lstm", embedding=table, dtype=np.float64)
    assert m.E == E and m.frozen == {"embed.W"} and "embed.W" not in m.trainable()
    assert np.array_equal(m.params["embed.W"], table)
    ids = rng.integers(0, V, (2, 3))
    grads, _ = m.backward(m.loss(ids, ids, None)[2])
    assert "embed.W" not in grads
    # one-hot input: a frozen identity table, E = V
    m1 = RNNLM(V, hidden=4, layers=1, cell="rnn", embed=0, dtype=np.float64)
    assert m1.E == V and np.array_equal(m1.params["embed.W"], np.eye(V))
    assert "embed.W" not in m1.backward(m1.loss(ids, ids)[2])[0]
    # a learned table is trainable unless asked otherwise
    assert "embed.W" in RNNLM(V, hidden=4, layers=1, embed=3).trainable()
    assert "embed.W" not in RNNLM(V, hidden=4, layers=1, embed=3, freeze_embedding=True).trainable()


def test_bad_cell_raises():
    with pytest.raises(ValueError, match="cell"):
        RNNLM(5, cell="transformer")


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("split", [1, 3])
def test_truncated_bptt_windows_equal_whole_sequence(xp, cell, split):
    """Two windows carrying the state give the same outputs as one pass over the whole sequence."""
    rng = np.random.default_rng(6)
    N, T, V, H, L = 3, 5, 6, 4, 2
    m = make_model(cell, L, V, H, "learned", rng)
    ids = backend.to_device(rng.integers(0, V, (N, T)))
    targets = backend.to_device(rng.integers(0, V, (N, T)))
    state0 = m.initial_state(N)
    assert len(state0) == L and all(len(s) == (2 if cell == "lstm" else 1) for s in state0)
    whole, state_whole, _ = m.forward(ids, state0)
    first, state_mid, _ = m.forward(ids[:, :split], state0)
    second, state_end, _ = m.forward(ids[:, split:], state_mid)
    assert rel_error(backend.to_numpy(xp.concatenate([first, second], axis=1)),
                     backend.to_numpy(whole)) < 1e-13
    for a, b in zip(state_end, state_whole):
        for u, v in zip(a, b):
            assert rel_error(backend.to_numpy(u), backend.to_numpy(v)) < 1e-13
    # the mean loss over the whole sequence is the token-weighted mean of the windows' losses
    l_whole = float(backend.to_numpy(m.loss(ids, targets, state0)[0]))
    l1 = float(backend.to_numpy(m.loss(ids[:, :split], targets[:, :split], state0)[0]))
    l2 = float(backend.to_numpy(m.loss(ids[:, split:], targets[:, split:], state_mid)[0]))
    assert l_whole == pytest.approx((split * l1 + (T - split) * l2) / T, rel=1e-12)
    # starting the second window from zeros instead would differ: the carried state matters
    second_cold, _, _ = m.forward(ids[:, split:], m.initial_state(N))
    assert rel_error(backend.to_numpy(second_cold), backend.to_numpy(second)) > 1e-6
