"""A stack of L recurrent layers (all RNN, all LSTM or all GRU), with optional dropout between layers.

Shapes
    N batch, T time steps, D input size, H hidden size, L layers
    x        (N, T, D)                 input to layer 0; or (N, T) ids standing for one-hot rows
                                       (rnn.py / lstm.py / gru.py then look up rows of layer 0's Wx)
    params   list of L tuples (Wx, Wh, b); layer 0 has Wx (D, G), the others Wx (H, G),
             with G = H for 'rnn', G = 4H for 'lstm' and G = 3H for 'gru' (whose b is (4H,))
    state    list of L tuples: (h,) for 'rnn' and 'gru', (h, c) for 'lstm', each (N, H); None means zeros
    h        (N, T, H)                 output of the top layer

Equations
    (1) x^0 = x
    (2) h^l = cell(x^l, state^l; params^l)           (rnn.py, lstm.py or gru.py)
    (3) x^{l+1} = dropout(h^l)                        (between layers only, p = ``p_drop``)
    output: h^{L-1};  final state of layer l: h^l[:, -1] (and c^l_T for the LSTM)

Backward runs the layers top-down, handing each layer's dx to the dropout and layer below it.
The final states get no gradient: truncated BPTT stops at the window's end.
"""
from . import dropout as dropout_layer
from . import gru, lstm, rnn

CELLS = {"rnn": rnn, "lstm": lstm, "gru": gru}


def forward(x, state, params, cell="lstm", p_drop=0.0, rng=None):
    """Returns (h, new_state, cache). ``rng`` draws the dropout masks (only needed if p_drop > 0)."""
    L = len(params)
    state = state if state is not None else [None] * L
    layer = CELLS[cell]                                      # rnn.py, lstm.py or gru.py
    caches, new_state = [], []
    inp = x                                                  # (N, T, D) (1)
    for l in range(L):
        if l > 0:
            inp, mask = dropout_layer.forward(inp, p_drop, rng)  # (N, T, H) (3)
        else:
            mask = None
        s = state[l] or (None, None)
        if cell == "lstm":
            h, cT, cache = layer.forward(inp, s[0], s[1], *params[l])  # (N, T, H) (2)
            new_state.append((h[:, -1], cT))
        else:
            h, cache = layer.forward(inp, s[0], *params[l])  # (N, T, H) (2) rnn or gru
            new_state.append((h[:, -1],))
        caches.append((mask, cache))
        inp = h
    return inp, new_state, (cell, caches)


def backward(dh, cache, need_dx=True):
    """dh (N, T, H): dL/d(top layer output). Returns (dx, dstate, dparams), dstate and dparams
    being lists over layers like forward's state and params. need_dx=False skips dL/dx for the
    input (dx is then None): the model asks for it only when the embedding is trained."""
    cell, caches = cache
    layer = CELLS[cell]
    L = len(caches)
    dstate, dparams = [None] * L, [None] * L
    for l in reversed(range(L)):
        mask, layer_cache = caches[l]
        # backprop through (2), this layer's recurrence
        if cell == "lstm":
            dx, dh0, dc0, dWx, dWh, db = layer.backward(dh, layer_cache, need_dx=need_dx or l > 0)
            dstate[l] = (dh0, dc0)
        else:
            dx, dh0, dWx, dWh, db = layer.backward(dh, layer_cache, need_dx=need_dx or l > 0)
            dstate[l] = (dh0,)
        dparams[l] = (dWx, dWh, db)
        # backprop through (3), the dropout below this layer
        dh = dropout_layer.backward(dx, mask) if l > 0 else dx
    return dh, dstate, dparams
