"""Softmax cross-entropy, averaged over tokens: the language-model loss.

Shapes
    N batch, T time steps, V vocabulary
    logits   (N, T, V)
    y        (N, T)     integer targets
    loss     scalar (a 0-d array: reading it as a float is the caller's choice, and on the GPU
             that is a host synchronisation)

Equations, with M = N*T tokens and z one token's logits
    (1) lse(z) = max z + log sum_v exp(z_v - max z)       log-sum-exp, shifted: never overflows
    (2) log p = z - lse(z),  p = softmax(z) = exp(z - lse(z))
    (3) loss = -(1/M) sum_{n,t} log p[n, t, y[n, t]] = (1/M) sum (lse(z) - z_y)
Backward
    (4) dz = (p - onehot(y)) / M * dloss                  d lse(z)/dz = p, d z_y/dz = onehot(y)
"""
from ..backend import array_module


def log_sum_exp(z, xp):
    """(1) for every row of z (M, V), shifted by the row's max m so that no exp overflows.
    Returns (lse(z) - m (M,), s = z - m (M, V), exp(s) (M, V)): with them the loss of a token is
    lse(z) - z_y = (lse(z) - m) - s_y, and p = exp(s) / exp(lse(z) - m)."""
    s = z - z.max(axis=1, keepdims=True)                     # (M, V) shifted: every exp(s) <= 1
    e = xp.exp(s)                                            # (M, V)
    return xp.log(e.sum(axis=1)), s, e                       # (M,), (M, V), (M, V)


def forward(logits, y):
    """Returns (loss, cache)."""
    xp = array_module(logits)
    V = logits.shape[-1]
    z = logits.reshape(-1, V)                                # (M, V)
    y = y.reshape(-1)                                        # (M,)
    M = z.shape[0]
    lse, s, e = log_sum_exp(z, xp)                           # (M,), (M, V) x2  (1), shifted
    loss = (lse - s[xp.arange(M), y]).mean()                 # ()     (3)
    p = e / xp.exp(lse)[:, None]                             # (M, V) (2)
    return loss, (p, y, logits.shape)


def backward(cache, dloss=1.0):
    """Returns dlogits, the shape of logits."""
    p, y, shape = cache
    xp = array_module(p)
    M = p.shape[0]
    # backprop through (3) and (2): (4) dz = (p - onehot(y)) / M
    dz = p.copy()                                            # (M, V)
    dz[xp.arange(M), y] -= 1
    dz *= dloss / M
    return dz.reshape(shape)                                 # (N, T, V)


def per_token(logits, y):
    """-log p[y] = lse(z) - z_y for every token, without the cache: (N, T). For evaluation."""
    xp = array_module(logits)
    V = logits.shape[-1]
    z = logits.reshape(-1, V)                                # (M, V)
    yy = y.reshape(-1)                                       # (M,)
    lse, s, _ = log_sum_exp(z, xp)                           # (M,), (M, V)  (1), shifted
    return (lse - s[xp.arange(z.shape[0]), yy]).reshape(y.shape)  # (N, T) (3) per token
