"""The stack of minirnn/layers/stack.py with every layer run by the engine's twin of its cell
(fast/lstm.py, fast/rnn.py, fast/gru.py): the book's loop, dropout, arguments, results and cache,
on NumPy arrays.

It exists so that the book's stack.py names only the book's cells: ``minirnn.fast.pick`` hands
the model this module in place of layers/stack.py where the engine runs. Its cache is the book's,
(cell, [(mask, layer cache), ...]), and the twins' layer caches are the book's, so either stack's
backward takes either stack's forward's cache; the dropout masks are drawn by the book's dropout,
in the same order, from the same ``rng``. tests/test_fast_path.py holds it equal to the book.
"""
import numpy as np

from ..layers import dropout as dropout_layer
from ..layers import gru as _book_gru
from ..layers import lstm as _book_lstm
from ..layers import rnn as _book_rnn
from ..layers import stack as _book_stack
from . import gru, lstm, rnn

_TWIN = {_book_rnn: rnn, _book_lstm: lstm, _book_gru: gru}


def cell_module(cell):
    """The module that runs ``cell``: the engine's twin of the book's cell, or, where the book's
    ``stack.CELLS`` names a module the engine has no twin of (a learner's own LSTM, installed by
    ``train_char.py --lstm-file``), that module itself."""
    book = _book_stack.CELLS[cell]
    return _TWIN.get(book, book)


def forward(x, state, params, cell="lstm", p_drop=0.0, rng=None):
    """layers/stack.py's ``forward``: returns (h, new_state, cache)."""
    L = len(params)
    state = state if state is not None else [None] * L
    layer = cell_module(cell)                                # the engine's twin of the cell
    caches, new_state = [], []
    inp = x                                                  # (N, T, D) (1)
    for l in range(L):
        mask = None
        if l > 0:
            inp, mask = dropout_layer.forward(inp, p_drop, rng)  # (N, T, H) (3)
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
    """layers/stack.py's ``backward``: returns (dx, dstate, dparams)."""
    cell, caches = cache
    layer = cell_module(cell)
    L = len(caches)
    dstate, dparams = [None] * L, [None] * L
    for l in reversed(range(L)):
        mask, layer_cache = caches[l]
        if cell == "lstm":                                   # (2)
            dx, dh0, dc0, dWx, dWh, db = layer.backward(dh, layer_cache, need_dx=need_dx or l > 0)
            dstate[l] = (dh0, dc0)
        else:
            dx, dh0, dWx, dWh, db = layer.backward(dh, layer_cache, need_dx=need_dx or l > 0)
            dstate[l] = (dh0,)
        dparams[l] = (dWx, dWh, db)
        dh = dropout_layer.backward(dx, mask) if l > 0 else dx  # (3)
    return dh, dstate, dparams


def infer(x, state, params, cell="lstm", p_drop=0.0, rng=None):
    """``forward`` at evaluation time: (h, new_state) without the cache (no dropout: p_drop and rng
    are ignored, as the book's forward ignores them at p_drop = 0). An LSTM stack over several
    steps runs as a wavefront (lstm_wavefront); otherwise each layer's twin ``infer`` in turn."""
    N, T = x.shape[:2]
    if cell == "lstm" and T > 1 and cell_module(cell) is lstm:
        return lstm_wavefront(x, state, params)
    L = len(params)
    state = state if state is not None else [None] * L
    layer = cell_module(cell)
    # the twin's forward without a cache; a learner's LSTM (no twin) runs its forward, cache dropped
    run = getattr(layer, "infer", None) or (lambda *args: layer.forward(*args)[:-1])
    inp, new_state = x, []
    for l in range(L):
        s = state[l] or (None, None)
        if cell == "lstm":
            h, cT = run(inp, s[0], s[1], *params[l])            # (N, T, H) (2)
            new_state.append((h[:, -1], cT))
        else:
            h, = run(inp, s[0], *params[l])                     # (N, T, H) (2)
            new_state.append((h[:, -1],))
        inp = h
    return inp, new_state


def lstm_wavefront(x, state, params):
    """The LSTM stack's (2) at evaluation time as a wavefront: at wave s every layer l runs its step
    s - l, all their tiles in one parallel loop (_rnn_kernels.lstm_wave), layer l's input product
    x_t Wx inside the tile beside its recurrent one (Wx stacked on Wh in the panels), so that no
    layer waits for the one below to finish and no GEMM runs outside the waves. The numbers of the
    layers run one by one (``forward``), bit for bit. Returns (h (N, T, H) of the top layer,
    new_state)."""
    from . import _array_kernels, _rnn_kernels as kernels
    N, T = x.shape[:2]
    L = len(params)
    Wx0, Wh0, b0 = params[0]
    dtype, H = Wx0.dtype, Wh0.shape[0]
    state = state if state is not None else [None] * L
    h = np.empty((L, T + 1, N, H), dtype=dtype)              # (L, T+1, N, H) h[l, t+1] = h_t of layer l
    c = np.empty((L, 2, N, H), dtype=dtype)                  # (L, 2, N, H) c_t in slot t % 2
    c0 = np.zeros((L, N, H), dtype=dtype)                    # (L, N, H)
    for l in range(L):
        s = state[l] or (None, None)
        h[l, 0] = 0 if s[0] is None else s[0]
        if s[1] is not None:
            c0[l] = s[1]
    zero_xw, zero_rows = np.zeros((1, 4 * H), dtype=dtype), np.zeros(N, dtype=np.int64)
    if x.ndim == 2:                                          # ids: x_t Wx = Wx[ids_t], looked up
        x0 = np.empty((T, N, 0), dtype=dtype)                # (T, N, 0)
        Wp0 = kernels.gate_panels(np.empty((0, 4 * H), dtype=dtype), np.asarray(Wh0, dtype=dtype))  # (P, H, 64)
        xw0, rows0 = np.ascontiguousarray(Wx0, dtype=dtype), _array_kernels.row_indices(x.T, Wx0.shape[0])
    else:                                                    # dense x_t: in the tile, Wx over Wh
        x0 = np.ascontiguousarray(x.transpose(1, 0, 2), dtype=dtype)  # (T, N, D)
        Wp0 = kernels.gate_panels(np.asarray(Wx0, dtype=dtype), np.asarray(Wh0, dtype=dtype))  # (P, D+H, 64)
        xw0, rows0 = zero_xw, np.zeros((T, N), dtype=np.int64)
    Wpu = np.empty((L - 1,) + (Wp0.shape[0], 2 * H, Wp0.shape[2]), dtype=dtype)  # (L-1, P, 2H, 64)
    bu = np.empty((L - 1, 4 * H), dtype=dtype)               # (L-1, 4H)
    for l in range(1, L):
        Wx, Wh, b = params[l]
        kernels.gate_panels(np.asarray(Wx, dtype=dtype), np.asarray(Wh, dtype=dtype), out=Wpu[l - 1])
        bu[l - 1] = b
    gates = np.empty((L, N, 4 * H), dtype=dtype)             # (L, N, 4H) scratch
    kernels.lstm_stack_infer(x0, h, c, c0, Wp0, xw0, rows0, np.ascontiguousarray(b0, dtype=dtype), Wpu, bu,
                             zero_xw, zero_rows, gates)
    new_state = [(h[l, T], c[l, (T - 1) % 2]) for l in range(L)]
    return h[L - 1, 1:].transpose(1, 0, 2), new_state        # (N, T, H) view of the top layer
