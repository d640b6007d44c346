"""The stack of minirnn/layers/stack.py with every layer run by the engine's twin of its cell
(fast/lstm.py, fast/rnn.py, fast/gru.py): the book's loop, dropout, arguments, results and cache,
on NumPy arrays.

It exists so that the book's stack.py names only the book's cells: ``minirnn.fast.pick`` hands
the model this module in place of layers/stack.py where the engine runs. Its cache is the book's,
(cell, [(mask, layer cache), ...]), and the twins' layer caches are the book's, so either stack's
backward takes either stack's forward's cache; the dropout masks are drawn by the book's dropout,
in the same order, from the same ``rng``. tests/test_fast_path.py holds it equal to the book.
"""
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
