"""``python -m minirnn.exercises overfit FILE``: the learner's piece, in a tiny model, fits one batch.

CS231n's sanity check: a model that cannot drive its loss to about zero on one small batch that it
sees again and again has a bug that a gradient check may not show (a gradient right at the checked
point but a forward that forgets the state, a cache that goes stale, an update with the wrong sign).

The model is the char model in small: ids (N, T) of a fixed sentence, one-hot into a recurrent cell
(H = 32, initial state zeros), a linear layer to the V characters, softmax cross-entropy, gradients
clipped to norm 5 and Adam at 1e-2, in float64. The learner's file replaces its own part of it:

    rnn, lstm, gru               the cell (the sequence file, with its step)
    rnn_step, lstm_step, gru_step  the cell, as a loop of the learner's step_forward / step_backward
    embedding                    an embedding (V -> 8) in front of the (book's) LSTM
    linear                       the output layer
    softmax_ce, masked_softmax_ce  the loss (the masked one with the last 3 steps of each row padding)
    stack                        the backward of a 2-layer stack of the book's LSTMs
    adam                         the optimizer

Every other part is the book's. It stops as soon as the loss is below ``TARGET`` (near zero: the
batch is memorised), and prints the loss every 50 iterations.
"""
from __future__ import annotations

import numpy as np

from ..errors import UsageError
from ..layers import embedding, gru, linear, lstm, rnn, softmax_ce

TEXT = "el hidalgo don quijote de la mancha y su escudero sancho panza salieron de la aldea"
N, T, H, E = 4, 12, 32, 8
TARGET = 0.05          # nats per character: the batch is memorised
ITERS = 800
LR = 1e-2
CELLS = {"rnn": rnn, "lstm": lstm, "gru": gru}


def batch():
    """x, y (N, T) character ids (y the next character) and V, from TEXT."""
    chars = sorted(set(TEXT))
    ids = np.array([chars.index(c) for c in TEXT])             # (len(TEXT),)
    starts = np.arange(N) * (len(TEXT) - T - 1) // (N - 1)      # (N,) spread over the text
    x = np.stack([ids[s:s + T] for s in starts])                # (N, T)
    y = np.stack([ids[s + 1:s + T + 1] for s in starts])        # (N, T)
    return x, y, len(chars)


class StepLoop:
    """A sequence cell (forward, backward) made of a learner's step_forward and step_backward."""

    def __init__(self, step, cell):
        self.step, self.lstm = step, cell == "lstm"

    def forward(self, x, h0, *rest):
        c0, (Wx, Wh, b) = (rest[0], rest[1:]) if self.lstm else (None, rest)
        Nn, Tt, Hh = x.shape[0], x.shape[1], Wh.shape[0]
        h_prev = np.zeros((Nn, Hh)) if h0 is None else h0
        c_prev = np.zeros((Nn, Hh)) if c0 is None else c0
        h, caches = np.empty((Nn, Tt, Hh)), []
        for t in range(Tt):
            if self.lstm:
                h_prev, c_prev, cache = self.step.step_forward(x[:, t], h_prev, c_prev, Wx, Wh, b)
            else:
                h_prev, cache = self.step.step_forward(x[:, t], h_prev, Wx, Wh, b)
            h[:, t] = h_prev
            caches.append(cache)
        return (h, c_prev, caches) if self.lstm else (h, caches)

    def backward(self, dh, caches, dcT=None, need_dx=True):
        Nn, Tt, Hh = dh.shape
        dh_next, dc_next = np.zeros((Nn, Hh)), np.zeros((Nn, Hh))
        total, dxs = None, []
        for t in reversed(range(Tt)):
            if self.lstm:
                dx_t, dh_next, dc_next, *shares = self.step.step_backward(dh[:, t] + dh_next, dc_next, caches[t])
            else:
                dx_t, dh_next, *shares = self.step.step_backward(dh[:, t] + dh_next, caches[t])
            total = shares if total is None else [s + d for s, d in zip(total, shares)]
            dxs.append(dx_t)
        dx = None if dxs[0] is None else np.stack(dxs[::-1], axis=1)
        return (dx, dh_next, dc_next, *total) if self.lstm else (dx, dh_next, *total)


def overfit(path, iters=ITERS, target=TARGET, out=print):
    """Train the tiny model with the learner's piece in it (see the module doc). Returns
    (reached, the last line printed)."""
    from . import EXERCISES, OVERFIT, load, which
    from .. import optim
    ex = which(path)
    if ex.name not in OVERFIT:
        raise UsageError(f"{path}: overfit trains a model with your piece in it: one of {', '.join(OVERFIT)}; "
                         f"the {ex.name} exercise is checked by `check` alone")
    mine = load(path, ex)
    rng = np.random.default_rng(0)
    x, y, V = batch()
    cell_name = ex.name.split("_")[0] if ex.name.split("_")[0] in CELLS else "lstm"
    book_cell = CELLS[cell_name]
    cell = book_cell
    if ex.name in CELLS:
        cell = mine
    elif ex.name.endswith("_step"):
        cell = StepLoop(mine, cell_name)
    emb = mine if ex.name == "embedding" else None
    lin = mine if ex.name == "linear" else linear
    loss_layer = mine if ex.name in ("softmax_ce", "masked_softmax_ce") else softmax_ce
    layers = 2 if ex.name == "stack" else 1
    dt = np.float64
    P = {}
    if emb is not None:
        P["E"] = embedding.init_params(V, E, rng, dt)
    for l in range(layers):
        P[f"Wx{l}"], P[f"Wh{l}"], P[f"b{l}"] = book_cell.init_params(
            (E if emb is not None else V) if l == 0 else H, H, rng, dt)
    P["Wy"], P["by"] = linear.init_params(H, V, rng, dt)
    opt = (mine.Adam if ex.name == "adam" else optim.Adam)(P, lr=LR)
    mask = np.ones((N, T), dtype=bool)
    if ex.name == "masked_softmax_ce":
        mask[:, -3:] = False                                    # padding: its targets never count
    what = {"rnn_step": "RNN step", "lstm_step": "LSTM step", "gru_step": "GRU step"}.get(
        ex.name, ex.name.upper() if ex.name in CELLS else ex.name)
    out(f"overfit: your {what} ({path}) in a tiny char model: {N} rows of {T} characters, V={V}, H={H}, "
        f"{layers} layer{'s' * (layers > 1)}; Adam {LR:g}; until the loss is below {target} nats/char")
    loss_v = float("inf")
    for it in range(1, iters + 1):
        inp, ecache = (emb.forward(x, P["E"]) if emb is not None else (x, None))
        params = [(P[f"Wx{l}"], P[f"Wh{l}"], P[f"b{l}"]) for l in range(layers)]
        if ex.name == "stack":
            h, _, scache = mine.forward(inp, None, params, "lstm")             # (N, T, H)
        elif cell_name == "lstm":
            h, _, ccache = cell.forward(inp, None, None, *params[0])
        else:
            h, ccache = cell.forward(inp, None, *params[0])
        logits, lcache = lin.forward(h, P["Wy"], P["by"])                      # (N, T, V)
        if ex.name == "masked_softmax_ce":
            loss, cache = loss_layer.forward(logits, y, mask)
        else:
            loss, cache = loss_layer.forward(logits, y)
        loss_v = float(loss)
        if not np.isfinite(loss_v):
            break
        if loss_v < target:
            break
        dlogits = loss_layer.backward(cache, 1.0)
        dh, dWy, dby = lin.backward(dlogits, lcache)
        grads = {"Wy": dWy, "by": dby}
        if ex.name == "stack":
            dx, _, dparams = mine.backward(dh, scache, need_dx=emb is not None)
        else:
            g = cell.backward(dh, ccache)
            dx, dparams = g[0], [g[-3:]]
        for l, (dWx, dWh, db) in enumerate(dparams):
            grads.update({f"Wx{l}": dWx, f"Wh{l}": dWh, f"b{l}": db})
        if emb is not None:
            grads["E"] = emb.backward(dx, ecache)
        grads = {k: np.array(v, dtype=dt) for k, v in grads.items()}
        optim.clip_grad_norm(grads, 5.0)
        opt.step(grads)
        if it % 50 == 0:
            out(f"  iteration {it:4d}: loss {loss_v:.4f}")
    if loss_v < target:
        line = (f"loss {loss_v:.4f} < {target} after {it} iterations: your {what} fits a batch "
                f"(the sanity check passes)")
        out(line)
        return True, line
    first = EXERCISES[ex.name]
    line = (f"the loss stayed at {loss_v:.4f} after {iters} iterations (target {target}): something in your "
            f"{what} keeps the model from fitting one batch; run python -m minirnn.exercises check {path}"
            + (" and the check of its step" if first.after else ""))
    out(line)
    return False, line
