"""Linear (affine) layer applied to the last axis; the output projection to the vocabulary.

Shapes
    x  (..., D)   any leading axes, e.g. (N, T, H) hidden states
    W  (D, M)
    b  (M,)
    y  (..., M)   e.g. (N, T, V) logits

Equation
    (1) y = x W + b
"""


def init_params(D, M, rng, dtype):
    """W, b ~ U(-1/sqrt(D), 1/sqrt(D)), as PyTorch's nn.Linear."""
    k = 1.0 / D ** 0.5
    W = rng.uniform(-k, k, (D, M)).astype(dtype)             # (D, M)
    b = rng.uniform(-k, k, (M,)).astype(dtype)               # (M,)
    return W, b


def forward(x, W, b):
    """Returns (y, cache) with y = x W + b."""
    D, M = W.shape
    y = (x.reshape(-1, D) @ W + b).reshape(*x.shape[:-1], M)  # (..., M) (1)
    return y, (x, W)


def backward(dy, cache):
    """Returns (dx, dW, db) in the order of forward's inputs."""
    x, W = cache
    D, M = W.shape
    dy2 = dy.reshape(-1, M)                                  # (rows, M)
    # backprop through (1) y = x W + b
    dx = (dy2 @ W.T).reshape(x.shape)                        # (..., D)
    dW = x.reshape(-1, D).T @ dy2                            # (D, M)
    db = dy2.sum(axis=0)                                     # (M,)
    return dx, dW, db
