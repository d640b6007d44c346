"""Softmax cross-entropy, averaged over tokens: the language-model loss.

Shapes
    N batch, T time steps, V vocabulary
    logits   (N, T, V)
    y        (N, T)     integer targets
    loss     scalar (a 0-d array: reading it as a float is the caller's choice, and on the GPU
             that is a host synchronisation)

Equations, with M = N*T tokens
    (1) p = softmax(z) = exp(z - max z) / sum exp(z - max z)     (shifted: never overflows)
    (2) loss = -(1/M) sum_{n,t} log p[n, t, y[n, t]]
              = (1/M) sum (logsumexp(z) - z_y)
Backward
    dz = (p - onehot(y)) / M
"""
from ..backend import array_module


def forward(logits, y):
    """Returns (loss, cache)."""
    xp = array_module(logits)
    V = logits.shape[-1]
    z = logits.reshape(-1, V)                                # (M, V)
    y = y.reshape(-1)                                        # (M,)
    M = z.shape[0]
    shifted = z - z.max(axis=1, keepdims=True)               # (M, V)
    expz = xp.exp(shifted)                                   # (M, V)
    sumexp = expz.sum(axis=1, keepdims=True)                 # (M, 1)
    logp_y = shifted[xp.arange(M), y] - xp.log(sumexp[:, 0])  # (M,) log p[y]  (1)
    loss = -logp_y.mean()                                    # ()   (2)
    p = expz / sumexp                                        # (M, V) (1)
    return loss, (p, y, logits.shape)


def backward(cache, dloss=1.0):
    """Returns dlogits, the shape of logits."""
    p, y, shape = cache
    xp = array_module(p)
    M = p.shape[0]
    # backprop through (2) and (1): d/dz of (logsumexp(z) - z_y) is p - onehot(y)
    dz = p.copy()                                            # (M, V)
    dz[xp.arange(M), y] -= 1
    dz *= dloss / M
    return dz.reshape(shape)                                 # (N, T, V)


def per_token(logits, y):
    """-log p[y] for every token, without the cache: (N, T). For evaluation."""
    xp = array_module(logits)
    V = logits.shape[-1]
    z = logits.reshape(-1, V)                                # (M, V)
    yy = y.reshape(-1)                                       # (M,)
    zmax = z.max(axis=1, keepdims=True)                      # (M, 1)
    lse = xp.log(xp.exp(z - zmax).sum(axis=1)) + zmax[:, 0]  # (M,) logsumexp
    return (lse - z[xp.arange(z.shape[0]), yy]).reshape(y.shape)
