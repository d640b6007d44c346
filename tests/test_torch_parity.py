"""Cross-check against PyTorch in float64: torch.nn.RNN (tanh) and torch.nn.LSTM with 1 and 2 layers,
and the whole language model against Embedding + LSTM + Linear + cross_entropy.

Weights are copied, not re-derived: our Wx (D, G) is torch's weight_ih_l{l}.T (G, D), our Wh is
weight_hh_l{l}.T, G = H (rnn) or 4H (lstm) with the gate order i, f, g, o in both. Torch has two
biases where we have one; ours is split between them with a RANDOM split, b = b_ih + b_hh, so a port
that added b twice (or dropped one half) cannot pass. Both of torch's bias gradients equal ours.
Initial states are random and non-zero; every output, final state and gradient is compared with a
random upstream gradient, to 1e-8 relative.
"""
import numpy as np
import pytest

from minirnn.gradcheck import rel_error
from minirnn.layers import lstm, rnn, stack
from minirnn.model import RNNLM

torch = pytest.importorskip("torch", reason="PyTorch is not installed: the parity tests need it")
pytestmark = pytest.mark.torch

TOL = 1e-8
CELLS = {"rnn": rnn, "lstm": lstm}


def T(a, grad=False):
    """NumPy float64 -> torch float64 leaf."""
    return torch.tensor(np.array(a, dtype=np.float64), dtype=torch.float64, requires_grad=grad)


def N(t):
    return t.detach().numpy()


def rand_params(cell, L, D, H, rng):
    G = 4 * H if cell == "lstm" else H
    return [(0.5 * rng.standard_normal((D if l == 0 else H, G)), 0.5 * rng.standard_normal((H, G)),
             0.5 * rng.standard_normal(G)) for l in range(L)]


def torch_recurrent(cell, D, H, L, params, rng):
    """torch.nn.RNN(tanh) / torch.nn.LSTM holding our weights, each bias split randomly in two."""
    cls = torch.nn.LSTM if cell == "lstm" else torch.nn.RNN
    kw = {} if cell == "lstm" else {"nonlinearity": "tanh"}
    mod = cls(D, H, num_layers=L, batch_first=True, dtype=torch.float64, **kw)
    with torch.no_grad():
        for l, (Wx, Wh, b) in enumerate(params):
            b_ih = rng.standard_normal(b.shape)              # random split: b = b_ih + b_hh
            b_hh = b - b_ih
            assert np.abs(b_ih).min() > 0 and np.abs(b_hh).min() > 0
            getattr(mod, f"weight_ih_l{l}").copy_(T(Wx.T))   # (G, D) <- (D, G)
            getattr(mod, f"weight_hh_l{l}").copy_(T(Wh.T))   # (G, H) <- (H, G)
            getattr(mod, f"bias_ih_l{l}").copy_(T(b_ih))
            getattr(mod, f"bias_hh_l{l}").copy_(T(b_hh))
    return mod


def ours_by_layer(cell, x, state, params, dout, dhn, dcn):
    """Forward layer by layer, then backward with gradients on every layer's final h (and c)."""
    mod = CELLS[cell]
    inp, caches, finals = x, [], []
    for l, p in enumerate(params):
        if cell == "lstm":
            h, cT, cache = mod.forward(inp, state[l][0], state[l][1], *p)
            finals.append((h[:, -1], cT))
        else:
            h, cache = mod.forward(inp, state[l][0], *p)
            finals.append((h[:, -1],))
        caches.append(cache)
        inp = h
    dh, dstate, dparams = dout, [None] * len(params), [None] * len(params)
    for l in reversed(range(len(params))):
        dh_l = dh.copy()
        dh_l[:, -1] += dhn[l]                                # the final h_T is h[:, -1]
        if cell == "lstm":
            dx, dh0, dc0, *dp = mod.backward(dh_l, caches[l], dcn[l].copy())
            dstate[l] = (dh0, dc0)
        else:
            dx, dh0, *dp = mod.backward(dh_l, caches[l])
            dstate[l] = (dh0,)
        dparams[l] = tuple(dp)
        dh = dx
    return inp, finals, dh, dstate, dparams


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
@pytest.mark.parametrize("L", [1, 2])
@pytest.mark.parametrize("path", ["layers_with_final_state_grads", "stack"])
def test_recurrent_matches_torch(cell, L, path):
    rng = np.random.default_rng(10 * L + len(cell))
    Nb, Tt, D, H = 3, 4, 5, 3
    k = 2 if cell == "lstm" else 1
    x = rng.standard_normal((Nb, Tt, D))
    state = [tuple(rng.standard_normal((Nb, H)) for _ in range(k)) for _ in range(L)]
    params = rand_params(cell, L, D, H, rng)
    dout = rng.standard_normal((Nb, Tt, H))
    if path == "stack":  # the stack's final states get no gradient (truncated BPTT stops there)
        dhn = [np.zeros((Nb, H)) for _ in range(L)]
        dcn = [np.zeros((Nb, H)) for _ in range(L)]
        h, finals, cache = stack.forward(x, state, params, cell)
        dx, dstate, dparams = stack.backward(dout, cache)
    else:
        dhn = [rng.standard_normal((Nb, H)) for _ in range(L)]
        dcn = [rng.standard_normal((Nb, H)) for _ in range(L)]
        h, finals, dx, dstate, dparams = ours_by_layer(cell, x, state, params, dout, dhn, dcn)

    mod = torch_recurrent(cell, D, H, L, params, rng)
    xt = T(x, grad=True)
    st = [T(np.stack([s[j] for s in state]), grad=True) for j in range(k)]   # (L, N, H) each
    if cell == "lstm":
        out, (hn, cn) = mod(xt, (st[0], st[1]))
        loss = (out * T(dout)).sum() + (hn * T(np.stack(dhn))).sum() + (cn * T(np.stack(dcn))).sum()
    else:
        out, hn = mod(xt, st[0])
        loss = (out * T(dout)).sum() + (hn * T(np.stack(dhn))).sum()
    loss.backward()

    assert rel_error(h, N(out)) < TOL
    for l in range(L):
        assert rel_error(finals[l][0], N(hn[l])) < TOL
        if cell == "lstm":
            assert rel_error(finals[l][1], N(cn[l])) < TOL
    assert rel_error(dx, N(xt.grad)) < TOL
    for l in range(L):
        dWx, dWh, db = dparams[l]
        assert rel_error(dWx, N(getattr(mod, f"weight_ih_l{l}").grad).T) < TOL
        assert rel_error(dWh, N(getattr(mod, f"weight_hh_l{l}").grad).T) < TOL
        g_ih, g_hh = N(getattr(mod, f"bias_ih_l{l}").grad), N(getattr(mod, f"bias_hh_l{l}").grad)
        assert rel_error(g_ih, g_hh) < 1e-14                 # one bias, two names: the same gradient
        assert rel_error(db, g_ih) < TOL
        for j in range(k):
            assert rel_error(dstate[l][j], N(st[j].grad[l])) < TOL


@pytest.mark.parametrize("cell", ["lstm", "rnn"])
def test_language_model_matches_torch(cell):
    """RNNLM (embed > 0, 2 layers) against Embedding + LSTM/RNN + Linear + cross_entropy."""
    rng = np.random.default_rng(7)
    Nb, Tt, V, E, H, L = 3, 4, 6, 3, 4, 2
    k = 2 if cell == "lstm" else 1
    m = RNNLM(V, hidden=H, layers=L, cell=cell, embed=E, dtype=np.float64, seed=1)
    for name, v in m.params.items():                         # every parameter random, biases too
        m.params[name] = 0.5 * rng.standard_normal(v.shape)
    ids, targets = rng.integers(0, V, (Nb, Tt)), rng.integers(0, V, (Nb, Tt))
    state = [tuple(rng.standard_normal((Nb, H)) for _ in range(k)) for _ in range(L)]
    dloss = 1.7                                              # upstream gradient of the loss
    loss, new_state, cache = m.loss(ids, targets, state)
    grads, dstate = m.backward(cache, dloss)

    params = [(m.params[f"rnn.{l}.Wx"], m.params[f"rnn.{l}.Wh"], m.params[f"rnn.{l}.b"]) for l in range(L)]
    emb = torch.nn.Embedding(V, E, dtype=torch.float64)
    rec = torch_recurrent(cell, E, H, L, params, rng)
    lin = torch.nn.Linear(H, V, dtype=torch.float64)
    with torch.no_grad():
        emb.weight.copy_(T(m.params["embed.W"]))
        lin.weight.copy_(T(m.params["out.W"].T))             # (V, H) <- (H, V)
        lin.bias.copy_(T(m.params["out.b"]))
    st = [T(np.stack([s[j] for s in state]), grad=True) for j in range(k)]
    out, fin = rec(emb(torch.from_numpy(ids)), tuple(st) if cell == "lstm" else st[0])
    logits = lin(out)
    tloss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), torch.from_numpy(targets).reshape(-1))
    (dloss * tloss).backward()

    assert abs(float(loss) - tloss.item()) < TOL * abs(tloss.item())
    fin = fin if cell == "lstm" else (fin,)
    for l in range(L):
        for j in range(k):
            assert rel_error(new_state[l][j], N(fin[j][l])) < TOL
    assert set(grads) == set(m.params)                       # a learned table is trainable
    assert rel_error(grads["embed.W"], N(emb.weight.grad)) < TOL
    assert rel_error(grads["out.W"], N(lin.weight.grad).T) < TOL
    assert rel_error(grads["out.b"], N(lin.bias.grad)) < TOL
    for l in range(L):
        assert rel_error(grads[f"rnn.{l}.Wx"], N(getattr(rec, f"weight_ih_l{l}").grad).T) < TOL
        assert rel_error(grads[f"rnn.{l}.Wh"], N(getattr(rec, f"weight_hh_l{l}").grad).T) < TOL
        assert rel_error(grads[f"rnn.{l}.b"], N(getattr(rec, f"bias_ih_l{l}").grad)) < TOL
        assert rel_error(grads[f"rnn.{l}.b"], N(getattr(rec, f"bias_hh_l{l}").grad)) < TOL
        for j in range(k):
            assert rel_error(dstate[l][j], N(st[j].grad[l])) < TOL
