"""The engine: faster versions of the book's equations, for NumPy arrays on the CPU.

``minirnn/layers`` (and the Adam lines of ``minirnn/optim.py``) is the book: what a reader learns
from and what the gradient checks run on. This package holds the code that exists only for speed.
Each module here computes the equations of the book module it is named after, takes and returns
the same arrays and caches, and tests/test_fast_path.py holds it equal to the book (float64 to
1e-12 relative, float32 to a few ulp) for every input the book takes:

    lstm.py            the LSTM, fused: one Numba kernel for a step's gate math, time-major work
                       arrays, transposed recurrent GEMMs, no per-step allocation (layers/lstm.py);
                       ``infer``, its forward without the backward cache (so gru.py, rnn.py)
    rnn.py             the tanh RNN, parameter gradients as single GEMMs after the loop (layers/rnn.py)
    gru.py             the GRU, fused like the LSTM: Numba step kernels, time-major buffers (layers/gru.py)
    linear.py          the output layer on time-major rows, without a copy (layers/linear.py);
                       ``nll``, the layer fused with softmax_ce.per_token for evaluation
    embedding.py       the embedding's backward by the row scatter-add kernel (layers/embedding.py)
    stack.py           layers/stack.py's loop with each cell run by its twin here
    adam.py            Adam's update in one pass over memory (optim.Adam)
    _rnn_kernels.py    Numba: one LSTM step's gate math, forward and backward
    _array_kernels.py  Numba: row scatter-add and strip transpose; ``row_indices`` checks ids for them
    heap.py            a glibc malloc setting: a step's freed arrays stay in the heap

Selection happens here and nowhere else. ``pick(book, *arrays)`` returns the engine's twin of a
book module when the engine is on and every array is a NumPy array, and the book module itself
otherwise: CuPy arrays always run the book (a GPU engine would go beside this CPU one), and so does
everything when the environment sets ``MINIRNN_FAST=0``, after ``set_enabled(False)``, or when
Numba is not installed (the book needs only NumPy). ``model.py`` asks it for the embedding, the
stack of recurrent layers (stack.py, whose layers are the cells' twins) and the output layer;
``optim.Optimizer.step`` asks ``pick_update`` for the function that updates a parameter (Adam's
one-pass twin, adam.py). minirnn/layers imports nothing from here.
A twin's cache is the book's cache, so a forward from one and a backward from the other agree.

Evaluation (validation, eval_char, sampling, beam search) needs no backward cache. ``forward_only``
hands out a cell's or the output layer's ``infer`` here (forward's results, computed the same way,
with the gates and c in per-step scratch blocks instead of arrays kept for backward), and
``pick_nll`` the output layer fused with the per-token loss (linear.nll: blocks of rows, no logits
or probabilities kept); on CuPy arrays or with the engine off, the book's forward with its cache
dropped, and linear.forward then softmax_ce.per_token. ``RNNLM.predict``, ``token_nll`` and
``eval_loss`` run them; tests/test_forward_only.py holds them equal to the training forward and
to the book.

What the engine switches on for itself:
  - layout: the LSTM twin keeps gates, c and h time-major, (T, N, .), so that step t is one
    contiguous (N, .) block, and hands the caller (N, T, .) views of them. The linear twin reads
    such a view's rows in memory order, (t, n), for the output GEMM, and the LSTM twin's backward
    takes gradients in either order; the book, in (n, t) order, never sees the difference.
  - the heap: the first time ``pick`` or ``runs`` hands work to the engine, it calls
    ``heap.keep_freed_heap()`` (a process-wide malloc setting, see heap.py; skipped with
    ``MINIRNN_KEEP_HEAP=0``), since a process that runs the engine is a process that trains or
    benchmarks on the CPU.
"""
from __future__ import annotations

import os

from .. import backend
from ..layers import embedding as _book_embedding
from ..layers import gru as _book_gru
from ..layers import linear as _book_linear
from ..layers import lstm as _book_lstm
from ..layers import rnn as _book_rnn
from ..layers import softmax_ce as _book_softmax_ce
from ..layers import stack as _book_stack

try:  # the engine needs Numba; without it the book runs everywhere
    from . import adam, embedding, gru, heap, linear, lstm, rnn, stack
    AVAILABLE = True
except ImportError:  # pragma: no cover - exercised by tests/test_fast_path.py in a subprocess
    AVAILABLE = False

ENABLED = AVAILABLE and os.environ.get("MINIRNN_FAST", "1") != "0"

# book module -> its engine twin
TWINS = {_book_lstm: lstm, _book_rnn: rnn, _book_gru: gru, _book_linear: linear,
         _book_embedding: embedding, _book_stack: stack} if AVAILABLE else {}

_heap_set = False


def set_enabled(on: bool) -> bool:
    """Turn the engine on or off for everything that follows; returns the previous setting.
    Turning it on without Numba raises RuntimeError."""
    global ENABLED
    if on and not AVAILABLE:
        raise RuntimeError("minirnn's CPU engine needs Numba (pip install numba)")
    previous, ENABLED = ENABLED, bool(on)
    return previous


def runs(*arrays) -> bool:
    """True when the engine is on and none of the arrays lives on a GPU."""
    global _heap_set
    if not ENABLED or any(backend.is_device_array(a) for a in arrays):
        return False
    if not _heap_set:
        _heap_set = True
        heap.keep_freed_heap()
    return True


def pick(book, *arrays):
    """The module to run ``book``'s equations on these arrays: its engine twin where ``runs``,
    the book module itself otherwise (and for a module the engine has no twin of)."""
    twin = TWINS.get(book)
    return twin if twin is not None and runs(*arrays) else book


def forward_only(book, *arrays):
    """A function that runs ``book``'s forward at evaluation time, without its backward cache:
    called with forward's arguments, it returns forward's results less the cache, as a tuple
    ((h, cT) for the LSTM, (h,) for the RNN and GRU, (h, new_state) for the stack, (y,) for the
    linear layer). The engine twin's
    ``infer`` where ``runs`` (it writes no cache: same numbers, less memory traffic), otherwise
    the book's own forward with the cache dropped."""
    twin = TWINS.get(book)
    if twin is not None and hasattr(twin, "infer") and runs(*arrays):
        return twin.infer
    return lambda *args: book.forward(*args)[:-1]


def pick_nll(*arrays):
    """The function (x, W, b, y) -> (N, T) that gives -log softmax(x W + b)[y] for every token:
    the output layer and the loss's per-token terms at evaluation time. The engine's ``linear.nll``
    (blocks of rows, no logits or probabilities kept) where ``runs``, the book's
    softmax_ce.per_token(linear.forward(x, W, b)) otherwise."""
    return linear.nll if runs(*arrays) else _book_nll


def _book_nll(x, W, b, y):
    """The book's way: layers/linear.py's forward, then layers/softmax_ce.py's per_token."""
    return _book_softmax_ce.per_token(_book_linear.forward(x, W, b)[0], y)


def pick_update(optimizer, *arrays):
    """The function ``step`` calls as update(name, p, g) for each parameter: ``optimizer._update``
    (the reference lines of minirnn/optim.py), or its engine twin where there is one and ``runs``
    (for optim.Adam itself, not a subclass: adam.py's one pass). Adam is known by its name, so
    that this package imports nothing from optim.py, which imports it."""
    cls = type(optimizer)
    if f"{cls.__module__}.{cls.__qualname__}" == "minirnn.optim.Adam" and runs(*arrays):
        return lambda name, p, g: adam.update_of(optimizer, name, p, g)
    return optimizer._update
