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

Forward, for t = 0 .. T-1 with h_{-1} = h0
    (1) a_t = x_t Wx + h_{t-1} Wh + b
    (2) h_t = tanh(a_t)
x_t Wx + b does not depend on the recurrence, so it is computed for every step before the loop.

Backward, for t = T-1 .. 0, with dX meaning dL/dX. h_t is used by the layer above (dh[:, t]) and
by step t+1 through (1), so it receives two gradients; dh_next carries the second one back
(zero at t = T-1):
    (3) dh_t = dh[:, t] + dh_next                            both uses of h_t
    (4) da_t = dh_t * (1 - h_t^2)                            from (2), tanh' = 1 - tanh^2
    (5) dh_next = da_t Wh^T                                  from (1): dL/dh_{t-1}, for step t-1
    (6) dWx += x_t^T da_t   dWh += h_{t-1}^T da_t   db += sum over n of da_t     from (1)
    (7) dx_t = da_t Wx^T                                     from (1)
and after the loop dh0 = dh_next. Wx, Wh and b are the same at every step, so their gradient (6)
is a sum over t of each step's share. With ids, (6) reads dWx[ids_t] += da_t.
Unrolled, (4)-(5) multiply the gradient by diag(1 - h_t^2) Wh^T once per step: over many steps it
shrinks (vanishes) when those factors are small and grows when they are large.

One step: ``step_forward`` computes (1)-(2) for a single t and ``step_backward`` (4)-(7) for it,
with this step's share of (6); the exercises build the sequence on them.

Memory cached for backward: h (N*T*H numbers) plus references to x, h0 and the weights.
"""
from ..backend import array_module, scatter_add
from . import embedding


def init_params(D, H, rng, dtype):
    """Wx, Wh ~ U(-k, k), k = 1/sqrt(H), as PyTorch's nn.RNN; b is one draw from U(-k, k), where
    nn.RNN's bias is the sum b_ih + b_hh of two such draws (a wider spread around the same mean)."""
    k = 1.0 / H ** 0.5
    Wx = rng.uniform(-k, k, (D, H)).astype(dtype)           # (D, H)
    Wh = rng.uniform(-k, k, (H, H)).astype(dtype)           # (H, H)
    b = rng.uniform(-k, k, (H,)).astype(dtype)              # (H,)
    return Wx, Wh, b


def forward(x, h0, Wx, Wh, b):
    """Run the RNN over x. Returns (h, cache); h is (N, T, H), the final state h[:, -1]."""
    xp = array_module(x, Wx)                                   # the weights' side, for host ids too
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
    """Backprop through time, equations (3)-(7). dh (N, T, H) is dL/dh for every step (the final
    state's gradient included in dh[:, -1]). Returns (dx, dh0, dWx, dWh, db) in the order of
    forward's inputs; dx is None for ids, and when need_dx is False (a frozen input)."""
    x, h0, Wx, Wh, h = cache
    xp = array_module(dh)
    N, T = x.shape[:2]
    D, H = Wx.shape[0], Wh.shape[0]
    ids = x.ndim == 2
    dWx = xp.zeros((D, H), dtype=h.dtype)                      # (D, H) sums over t, (6)
    dWh = xp.zeros((H, H), dtype=h.dtype)                      # (H, H)
    db = xp.zeros(H, dtype=h.dtype)                            # (H,)
    dx = xp.empty((N, T, D), dtype=h.dtype) if need_dx and not ids else None  # (N, T, D)
    dh_next = xp.zeros((N, H), dtype=h.dtype)                  # (N, H) dL/dh_t arriving from step t+1
    for t in reversed(range(T)):
        h_prev = h[:, t - 1] if t > 0 else h0                  # (N, H)
        dh_t = dh[:, t] + dh_next                              # (3) both uses of h_t    (N, H)
        # backprop through (2) h_t = tanh(a_t)
        da_t = dh_t * (1 - h[:, t] * h[:, t])                  # (4)                     (N, H)
        # backprop through (1) a_t = x_t Wx + h_{t-1} Wh + b
        dh_next = da_t @ Wh.T                                  # (5) dL/dh_{t-1}         (N, H)
        dWh += h_prev.T @ da_t                                 # (6) step t's share      (H, H)
        db += da_t.sum(axis=0)                                 # (6)                     (H,)
        if ids:                                                # (6) dWx[ids_t] += da_t  (D, H)
            scatter_add(dWx, x[:, t], da_t)
        else:
            dWx += x[:, t].T @ da_t                            # (6)                     (D, H)
            if dx is not None:
                dx[:, t] = da_t @ Wx.T                         # (7)                     (N, D)
    dh0 = dh_next                                              # (N, H)
    return dx, dh0, dWx, dWh, db


def step_forward(x_t, h_prev, Wx, Wh, b):
    """One step of (1)-(2): x_t (N, D), or (N,) integer ids standing for one-hot rows; h_prev (N, H).
    Returns (h_t, cache). A loop of it over t is ``forward`` (which does x_t Wx for every t at once)."""
    xp = array_module(h_prev, Wx)
    xa = Wx[x_t] if x_t.ndim == 1 else x_t @ Wx                # (N, H) x_t Wx: a row lookup for ids
    h_t = xp.tanh(xa + h_prev @ Wh + b)                        # (N, H) (1) and (2)
    return h_t, (x_t, h_prev, Wx, Wh, h_t)


def step_backward(dh_t, cache):
    """Backward of one step: dh_t (N, H) is everything that reaches h_t (dh[:, t] + dh_next in
    ``backward``). Returns (dx_t, dh_prev, dWx, dWh, db): this step's share of each parameter
    gradient (``backward`` sums the shares over t) and dx_t (N, D), None for ids."""
    x_t, h_prev, Wx, Wh, h_t = cache
    xp = array_module(dh_t)
    # backprop through (2) h_t = tanh(a_t)
    da = dh_t * (1 - h_t * h_t)                                # (4)                     (N, H)
    # backprop through (1) a_t = x_t Wx + h_{t-1} Wh + b
    dh_prev = da @ Wh.T                                        # (5)                     (N, H)
    dWh = h_prev.T @ da                                        # (6) this step's share   (H, H)
    db = da.sum(axis=0)                                        # (6)                     (H,)
    if x_t.ndim == 1:                                          # (6) dWx[ids_t] += da    (D, H)
        dWx = xp.zeros_like(Wx)
        scatter_add(dWx, x_t, da)
        return None, dh_prev, dWx, dWh, db
    dWx = x_t.T @ da                                           # (6)                     (D, H)
    dx_t = da @ Wx.T                                           # (7)                     (N, D)
    return dx_t, dh_prev, dWx, dWh, db
