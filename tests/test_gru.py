"""The GRU layer (minirnn/layers/gru.py): forward against a naive per-step loop written from the
docstring's equations, a float64 central-difference check of every input, parameter and initial
state (hypothesis shapes, N = 1, T = 1 and an omitted h0 pinned), one-hot ids against dense one-hot
rows, the stack and the language model with cell='gru', and parity with torch.nn.GRU (1 and 2 layers,
float64, to 1e-8, both of torch's biases random)."""
import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from minirnn import backend
from minirnn.gradcheck import rel_error
from minirnn.layers import gru, stack
from minirnn.model import RNNLM

from helpers import FWD_TOL, GRAD_SETTINGS, check, check_forward_on_device, check_recurrent_layer, dim, seed, sigmoid

def naive_gru(x, h0, Wx, Wh, b):
    """nn.GRU's equations, gate order r, z, n, b = [b_r, b_z, b_in, b_hn]; per sample and step."""
    N, T, _ = x.shape
    H = Wh.shape[0]
    h = np.zeros((N, T, H))
    for n in range(N):
        hp = np.zeros(H) if h0 is None else h0[n]
        for t in range(T):
            gx, gh = x[n, t] @ Wx, hp @ Wh
            r = sigmoid(gx[:H] + gh[:H] + b[:H])
            z = sigmoid(gx[H:2 * H] + gh[H:2 * H] + b[H:2 * H])
            c = np.tanh(gx[2 * H:] + b[2 * H:3 * H] + r * (gh[2 * H:] + b[3 * H:]))
            hp = (1 - z) * c + z * hp
            h[n, t] = hp
    return h


def rand_gru(D, H, rng, scale=0.5):
    return (scale * rng.standard_normal((D, 3 * H)), scale * rng.standard_normal((H, 3 * H)),
            scale * rng.standard_normal(4 * H))


def test_init_shapes_and_gate_order_documented():
    Wx, Wh, b = gru.init_params(3, 4, np.random.default_rng(0), np.float32)
    assert Wx.shape == (3, 12) and Wh.shape == (4, 12) and b.shape == (16,) and b.dtype == np.float32
    assert "r, z, n" in gru.__doc__ and "b_hn" in gru.__doc__


@pytest.mark.parametrize("with_h0", [True, False])
def test_gru_forward_matches_loop(xp, with_h0):
    rng = np.random.default_rng(2)
    N, T, D, H = 2, 3, 4, 5
    x = rng.standard_normal((N, T, D))
    h0 = rng.standard_normal((N, H)) if with_h0 else None
    check_forward_on_device(xp, gru, naive_gru, x, h0, rand_gru(D, H, rng))


@GRAD_SETTINGS
@given(N=dim, T=dim, D=dim, H=dim, s=seed, with_h0=st.booleans())
@example(N=1, T=3, D=2, H=3, s=0, with_h0=True)
@example(N=2, T=1, D=3, H=2, s=1, with_h0=True)
@example(N=2, T=3, D=4, H=4, s=2, with_h0=False)
def test_gru_gradcheck(N, T, D, H, s, with_h0):
    rng = np.random.default_rng(s)
    x = rng.standard_normal((N, T, D))
    h0 = rng.standard_normal((N, H)) if with_h0 else None
    params = rand_gru(D, H, rng)
    dh = rng.standard_normal((N, T, H))
    _, dh0, _, _, db = check_recurrent_layer(gru, naive_gru, x, h0, params, dh)
    assert dh0.shape == (N, H) and db.shape == (4 * H,)
    assert gru.backward(dh, gru.forward(x, h0, *params)[1], need_dx=False)[0] is None


def test_gru_ids_equal_dense_one_hot(xp):
    rng = np.random.default_rng(3)
    N, T, V, H = 3, 4, 6, 5
    ids = rng.integers(0, V, (N, T))
    ids[0, :2] = ids[1, 0] = 2                                # repeated ids: dWx rows must add up
    h0 = rng.standard_normal((N, H))
    params = rand_gru(V, H, rng)
    dh = rng.standard_normal((N, T, H))
    dev = backend.to_device
    h_ids, c_ids = gru.forward(dev(ids), dev(h0), *map(dev, params))
    h_dense, c_dense = gru.forward(dev(np.eye(V)[ids]), dev(h0), *map(dev, params))
    assert rel_error(backend.to_numpy(h_ids), backend.to_numpy(h_dense)) < FWD_TOL
    g_ids = gru.backward(dev(dh), c_ids)
    g_dense = gru.backward(dev(dh), c_dense)
    assert g_ids[0] is None
    for a, b in zip(g_ids[1:], g_dense[1:]):
        assert rel_error(backend.to_numpy(a), backend.to_numpy(b)) < FWD_TOL


@GRAD_SETTINGS
@given(L=st.integers(1, 3), N=dim, T=dim, D=dim, H=dim, s=seed, with_state=st.booleans(),
       p_drop=st.sampled_from([0.0, 0.3]))
@example(L=2, N=1, T=1, D=2, H=2, s=0, with_state=True, p_drop=0.3)
def test_stack_of_grus_gradcheck(L, N, T, D, H, s, with_state, p_drop):
    rng = np.random.default_rng(s)
    x = rng.standard_normal((N, T, D))
    params = [rand_gru(D if l == 0 else H, H, rng) for l in range(L)]
    state = [(rng.standard_normal((N, H)),) for _ in range(L)] if with_state else None
    dh = rng.standard_normal((N, T, H))
    fwd = lambda: stack.forward(x, state, params, "gru", p_drop, np.random.default_rng(s))  # noqa: E731
    h, finals, cache = fwd()
    assert len(finals) == L and all(len(f) == 1 for f in finals)
    dx, dstate, dparams = stack.backward(dh, cache)
    named = {"x": (x, dx)}
    for l in range(L):
        for name, arr, grad in zip(("Wx", "Wh", "b"), params[l], dparams[l]):
            named[f"{l}.{name}"] = (arr, grad)
        if with_state:
            named[f"{l}.h0"] = (state[l][0], dstate[l][0])
    check(lambda: (fwd()[0] * dh).sum(), named)


def test_gru_language_model_gradcheck():
    rng = np.random.default_rng(5)
    m = RNNLM(5, hidden=3, layers=2, cell="gru", embed=0, dtype=np.float64, seed=2)
    for v in m.params.values():
        if v.shape != (5, 5):                                 # the frozen one-hot table stays
            v[...] = 0.5 * rng.standard_normal(v.shape)
    ids, targets = rng.integers(0, 5, (2, 3)), rng.integers(0, 5, (2, 3))
    state = [(rng.standard_normal((2, 3)),) for _ in range(2)]
    _, new_state, cache = m.loss(ids, targets, state)
    assert len(new_state) == 2 and len(m.initial_state(4)[0]) == 1
    grads, dstate = m.backward(cache)
    f = lambda: float(m.loss(ids, targets, state)[0])        # noqa: E731
    check(f, {k: (m.params[k], g) for k, g in grads.items()})
    check(f, {f"h0.{l}": (state[l][0], dstate[l][0]) for l in range(2)})


# ---- PyTorch parity -----------------------------------------------------------------------------
def _torch():
    return pytest.importorskip("torch", reason="PyTorch is not installed: the parity tests need it")


def torch_gru(D, H, L, params, rng):
    """nn.GRU holding our weights; b_r, b_z split randomly into b_ih + b_hh, b_in -> b_ih, b_hn -> b_hh."""
    torch = _torch()
    mod = torch.nn.GRU(D, H, num_layers=L, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        for l, (Wx, Wh, b) in enumerate(params):
            b_ih = rng.standard_normal(3 * H)
            b_hh = rng.standard_normal(3 * H)
            b_hh[:2 * H] = b[:2 * H] - b_ih[:2 * H]           # random split of b_r, b_z
            b_ih[2 * H:], b_hh[2 * H:] = b[2 * H:3 * H], b[3 * H:]
            getattr(mod, f"weight_ih_l{l}").copy_(torch.from_numpy(Wx.T.copy()))
            getattr(mod, f"weight_hh_l{l}").copy_(torch.from_numpy(Wh.T.copy()))
            getattr(mod, f"bias_ih_l{l}").copy_(torch.from_numpy(b_ih))
            getattr(mod, f"bias_hh_l{l}").copy_(torch.from_numpy(b_hh))
    return mod


@pytest.mark.torch
@pytest.mark.parametrize("L", [1, 2])
@pytest.mark.parametrize("final_grads", [True, False])
def test_gru_matches_torch(L, final_grads):
    torch = _torch()
    rng = np.random.default_rng(40 + L)
    Nb, Tt, D, H = 3, 4, 5, 3
    x = rng.standard_normal((Nb, Tt, D))
    h0 = [rng.standard_normal((Nb, H)) for _ in range(L)]
    params = [rand_gru(D if l == 0 else H, H, rng) for l in range(L)]
    dout = rng.standard_normal((Nb, Tt, H))
    dhn = [rng.standard_normal((Nb, H)) * final_grads for _ in range(L)]
    # ours, layer by layer, with a gradient on every layer's final state
    inp, caches, finals = x, [], []
    for l in range(L):
        h, cache = gru.forward(inp, h0[l], *params[l])
        caches.append(cache)
        finals.append(h[:, -1])
        inp = h
    dh, dparams, dh0 = dout, [None] * L, [None] * L
    for l in reversed(range(L)):
        dh_l = dh.copy()
        dh_l[:, -1] += dhn[l]
        dh, dh0[l], *dparams[l] = gru.backward(dh_l, caches[l])

    mod = torch_gru(D, H, L, params, rng)
    xt = torch.tensor(x, requires_grad=True)
    st_ = torch.tensor(np.stack(h0), requires_grad=True)
    out, hn = mod(xt, st_)
    ((out * torch.from_numpy(dout)).sum() + (hn * torch.from_numpy(np.stack(dhn))).sum()).backward()

    assert rel_error(inp, out.detach().numpy()) < 1e-8
    for l in range(L):
        assert rel_error(finals[l], hn[l].detach().numpy()) < 1e-8
        assert rel_error(dh0[l], st_.grad[l].numpy()) < 1e-8
        dWx, dWh, db = dparams[l]
        g_ih = getattr(mod, f"bias_ih_l{l}").grad.numpy()
        g_hh = getattr(mod, f"bias_hh_l{l}").grad.numpy()
        assert rel_error(dWx, getattr(mod, f"weight_ih_l{l}").grad.numpy().T) < 1e-8
        assert rel_error(dWh, getattr(mod, f"weight_hh_l{l}").grad.numpy().T) < 1e-8
        assert rel_error(db[:2 * H], g_ih[:2 * H]) < 1e-8 and rel_error(db[:2 * H], g_hh[:2 * H]) < 1e-8
        assert rel_error(db[2 * H:3 * H], g_ih[2 * H:]) < 1e-8
        assert rel_error(db[3 * H:], g_hh[2 * H:]) < 1e-8
    assert rel_error(dh, xt.grad.numpy()) < 1e-8


@pytest.mark.torch
def test_gru_language_model_matches_torch():
    torch = _torch()
    rng = np.random.default_rng(9)
    Nb, Tt, V, E, H, L = 3, 4, 6, 3, 4, 2
    m = RNNLM(V, hidden=H, layers=L, cell="gru", embed=E, dtype=np.float64, seed=1)
    for name, v in m.params.items():
        m.params[name] = 0.5 * rng.standard_normal(v.shape)
    ids, targets = rng.integers(0, V, (Nb, Tt)), rng.integers(0, V, (Nb, Tt))
    state = [(rng.standard_normal((Nb, H)),) for _ in range(L)]
    loss, new_state, cache = m.loss(ids, targets, state)
    grads, dstate = m.backward(cache, 1.3)
    params = [(m.params[f"rnn.{l}.Wx"], m.params[f"rnn.{l}.Wh"], m.params[f"rnn.{l}.b"]) for l in range(L)]
    rec = torch_gru(E, H, L, params, rng)
    emb = torch.nn.Embedding(V, E, dtype=torch.float64)
    lin = torch.nn.Linear(H, V, dtype=torch.float64)
    with torch.no_grad():
        emb.weight.copy_(torch.from_numpy(m.params["embed.W"]))
        lin.weight.copy_(torch.from_numpy(m.params["out.W"].T.copy()))
        lin.bias.copy_(torch.from_numpy(m.params["out.b"]))
    st_ = torch.tensor(np.stack([s[0] for s in state]), requires_grad=True)
    out, fin = rec(emb(torch.from_numpy(ids)), st_)
    tloss = torch.nn.functional.cross_entropy(lin(out).reshape(-1, V), torch.from_numpy(targets).reshape(-1))
    (1.3 * tloss).backward()
    assert abs(float(loss) - tloss.item()) < 1e-8 * abs(tloss.item())
    for l in range(L):
        assert rel_error(new_state[l][0], fin[l].detach().numpy()) < 1e-8
        assert rel_error(dstate[l][0], st_.grad[l].numpy()) < 1e-8
        assert rel_error(grads[f"rnn.{l}.Wh"], getattr(rec, f"weight_hh_l{l}").grad.numpy().T) < 1e-8
        assert rel_error(grads[f"rnn.{l}.b"][3 * H:], getattr(rec, f"bias_hh_l{l}").grad.numpy()[2 * H:]) < 1e-8
    assert rel_error(grads["embed.W"], emb.weight.grad.numpy()) < 1e-8
    assert rel_error(grads["out.W"], lin.weight.grad.numpy().T) < 1e-8
