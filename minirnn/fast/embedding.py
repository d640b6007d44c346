"""The embedding of minirnn/layers/embedding.py with its backward's scatter-add as a Numba loop
(_array_kernels.scatter_add_rows, which adds whole rows where np.add.at goes element by element;
see docs/studies.md, Engine), and without a copy
for a gradient in time-major order (an (N, T, D) view of (T, N, D) memory, as the engine's LSTM
returns dx): its rows are scattered in memory order, with the ids in the same order. Forward is the
book's own. Same cache, same results (the same additions; in time-major order for such a view).
"""
import numpy as np

from ..layers import embedding as book
from . import _array_kernels

forward = book.forward
init_params = book.init_params


def backward(dout, cache):
    """Returns dW (V, D): dout scattered back onto the rows that were looked up."""
    ids, shape = cache
    dW = np.zeros(shape, dtype=dout.dtype)                   # (V, D)
    if dout.ndim == 3 and not dout.flags.c_contiguous and dout.transpose(1, 0, 2).flags.c_contiguous:
        dout, ids = dout.transpose(1, 0, 2), np.asarray(ids).T   # (T, N, D), (T, N): rows in memory order
    _array_kernels.scatter_add(dW, np.asarray(ids).reshape(-1), dout.reshape(-1, shape[1]))
    return dW
