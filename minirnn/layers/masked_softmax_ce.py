"""Masked temporal softmax cross-entropy: softmax_ce.py with a 0/1 mask that says which tokens count
(padding, or the positions of a batch of sequences of unequal length that lie past a sequence's end).

Shapes
    N batch, T time steps, V vocabulary
    logits   (N, T, V)
    y        (N, T)     integer targets (any value where the mask is 0)
    mask     (N, T)     1 where the token counts, 0 where it does not (bool or 0/1 numbers)
    loss     scalar (a 0-d array)

Equations, with z one token's logits and K = max(1, sum of the mask) the number of tokens that count
    (1) lse(z) = max z + log sum_v exp(z_v - max z)       log-sum-exp, shifted (softmax_ce.py (1))
    (2) p = softmax(z) = exp(z - lse(z))
    (3) loss = (1/K) sum_{n,t} mask[n, t] (lse(z[n, t]) - z[n, t, y[n, t]])
A token whose mask is 0 adds nothing to the loss and gets no gradient; the mean is over the K
tokens that count, so a batch of padding weighs as much as one without it. With a mask of ones this
is softmax_ce.py. Backward
    (4) dz[n, t] = mask[n, t] (p[n, t] - onehot(y[n, t])) / K * dloss
"""
from ..backend import array_module
from .softmax_ce import log_sum_exp


def forward(logits, y, mask):
    """Returns (loss, cache)."""
    xp = array_module(logits)
    V = logits.shape[-1]
    z = logits.reshape(-1, V)                                # (M, V)  M = N*T tokens
    y = y.reshape(-1)                                        # (M,)
    m = mask.reshape(-1).astype(z.dtype)                     # (M,) 0/1
    M = z.shape[0]
    K = max(1.0, float(m.sum()))                             # tokens that count
    y = xp.where(m > 0, y, 0)                                # (M,) any valid index where masked
    lse, s, e = log_sum_exp(z, xp)                           # (M,), (M, V) x2  (1), shifted
    loss = (m * (lse - s[xp.arange(M), y])).sum() / K        # ()     (3)
    p = e / xp.exp(lse)[:, None]                             # (M, V) (2)
    return loss, (p, y, m, K, logits.shape)


def backward(cache, dloss=1.0):
    """Returns dlogits, the shape of logits."""
    p, y, m, K, shape = cache
    xp = array_module(p)
    M = p.shape[0]
    # backprop through (3) and (2): (4), row by row scaled by its mask
    dz = p.copy()                                            # (M, V)
    dz[xp.arange(M), y] -= 1
    dz *= (m * (dloss / K))[:, None]
    return dz.reshape(shape)                                 # (N, T, V)
