"""Vanilla RNN (tanh) over a whole sequence: forward and backward through time.

Shapes (the dimension letters are the same in every layer)
    N batch, T time steps, D input size, H hidden size
    x   (N, T, D)   input sequence; or (N, T) integer ids standing for one-hot rows of size D:
                    x_t Wx is then row ids_t of Wx (embedding.py's lookup), dWx a scatter-add,
                    and dx None
    h0  (N, H)      initial hidden state (None means zeros)
    Wx  (D, H)      input-to-hidden weights
    Wh  (H, H)      hidden-to-hidden weights
    b   (H,)        bias
    h   (N, T, H)   every hidden state; the final state, carried to the next window, is h[:, -1]

Equations, for t = 0 .. T-1 with h_{-1} = h0
    (1) a_t = x_t Wx + h_{t-1} Wh + b
    (2) h_t = tanh(a_t)

Speed without hiding the math: the x_t Wx part of (1) does not depend on the recurrence, so it is
one GEMM over all N*T rows before the time loop; only h_{t-1} Wh stays inside it. In backward the
same trick gives dx, dWx and dWh as single GEMMs after the loop; only dh_{t-1} = da_t Wh^T is per step.

Memory cached for backward: h (N*T*H numbers) plus references to x, h0 and the weights.
"""
from ..backend import array_module
from . import embedding


def init_params(D, H, rng, dtype):
    """Wx, Wh, b ~ U(-1/sqrt(H), 1/sqrt(H)), as PyTorch's nn.RNN."""
    k = 1.0 / H ** 0.5
    Wx = rng.uniform(-k, k, (D, H)).astype(dtype)           # (D, H)
    Wh = rng.uniform(-k, k, (H, H)).astype(dtype)           # (H, H)
    b = rng.uniform(-k, k, (H,)).astype(dtype)              # (H,)
    return Wx, Wh, b


def forward(x, h0, Wx, Wh, b):
    """Run the RNN over x. Returns (h, cache); h is (N, T, H), the final state h[:, -1]."""
    xp = array_module(x)
    N, T = x.shape[:2]
    D, H = Wx.shape[0], Wh.shape[0]
    if h0 is None:
        h0 = xp.zeros((N, H), dtype=Wx.dtype)                 # (N, H)
    # (1), the input part for every step at once: x_t Wx + b
    if x.ndim == 2:                                            # ids: x_t Wx = Wx[ids_t]
        xa = embedding.forward(x, Wx)[0] + b                   # (N, T, H)
    else:
        xa = (x.reshape(N * T, D) @ Wx).reshape(N, T, H) + b   # (N, T, H)
    h = xp.empty((N, T, H), dtype=xa.dtype)                    # (N, T, H)
    h_prev = h0                                                # (N, H)
    for t in range(T):
        # (1) a_t = x_t Wx + b + h_{t-1} Wh ;  (2) h_t = tanh(a_t)
        h[:, t] = xp.tanh(xa[:, t] + h_prev @ Wh)              # (N, H)
        h_prev = h[:, t]
    cache = (x, h0, Wx, Wh, h)
    return h, cache


def backward(dh, cache, need_dx=True):
    """Backprop through time. dh (N, T, H) is dL/dh for every step (the final state's gradient
    included in dh[:, -1]). Returns (dx, dh0, dWx, dWh, db) in the order of forward's inputs;
    dx is None when need_dx is False (a frozen input: its GEMM would be wasted)."""
    x, h0, Wx, Wh, h = cache
    xp = array_module(dh)
    N, T = x.shape[:2]
    D, H = Wx.shape[0], Wh.shape[0]
    da = xp.empty_like(h)                                      # (N, T, H)
    dh_next = xp.zeros((N, H), dtype=h.dtype)                  # (N, H) dL/dh_t arriving from step t+1
    for t in reversed(range(T)):
        # h_t feeds the output at t and step t+1: add both gradients
        dh_t = dh[:, t] + dh_next                              # (N, H)
        # backprop through (2) h_t = tanh(a_t): tanh' = 1 - h_t^2
        da[:, t] = dh_t * (1 - h[:, t] * h[:, t])              # (N, H)
        # backprop through (1) into h_{t-1}: a_t = ... + h_{t-1} Wh
        dh_next = da[:, t] @ Wh.T                              # (N, H)
    dh0 = dh_next                                              # (N, H)
    # backprop through (1) into the parameters and x, all steps at once
    da2 = da.reshape(N * T, H)                                 # (N*T, H)
    h_prev = xp.concatenate([h0[:, None], h[:, :-1]], axis=1)  # (N, T, H) h_{t-1} for each t
    dWh = h_prev.reshape(N * T, H).T @ da2                     # (H, H)
    db = da2.sum(axis=0)                                       # (H,)
    if x.ndim == 2:                                            # ids: scatter da onto rows of Wx
        return None, dh0, embedding.backward(da, (x, Wx.shape)), dWh, db
    dWx = x.reshape(N * T, D).T @ da2                          # (D, H)
    dx = (da2 @ Wx.T).reshape(N, T, D) if need_dx else None    # (N, T, D)
    return dx, dh0, dWx, dWh, db
