"""Embedding: look up one row of a table per token id.

Shapes
    N batch, T time steps, V vocabulary, D embedding size
    ids  (N, T)   integer token ids in [0, V)
    W    (V, D)   the table: trainable, or frozen (e.g. the k-means centroids of the word pipeline,
                  or the identity matrix for a one-hot input)
    out  (N, T, D)

Equation
    (1) out[n, t] = W[ids[n, t]]

Backward: row v of dW is the sum of dout over every position where ids == v (a scatter-add);
a frozen table simply never asks for it.
"""
from ..backend import array_module, scatter_add


def init_params(V, D, rng, dtype):
    """W ~ N(0, 1), as PyTorch's nn.Embedding."""
    return rng.standard_normal((V, D)).astype(dtype)         # (V, D)


def forward(ids, W):
    """Returns (out, cache): out (N, T, D) = W[ids]."""
    out = W[ids]                                             # (N, T, D) (1)
    return out, (ids, W.shape)


def backward(dout, cache):
    """Returns dW (V, D): dout scattered back onto the rows that were looked up."""
    ids, shape = cache
    xp = array_module(dout)
    dW = xp.zeros(shape, dtype=dout.dtype)                   # (V, D)
    # backprop through (1): a row used k times receives the sum of its k gradients
    scatter_add(dW, ids.reshape(-1), dout.reshape(-1, shape[1]))
    return dW
