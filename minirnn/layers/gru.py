"""GRU over a whole sequence: forward and backward through time on one page.

Shapes
    N batch, T time steps, D input size, H hidden size
    x       (N, T, D)    input sequence; or (N, T) integer ids, each standing for a one-hot row
                         of size D: x_t Wx is then row ids_t of Wx (embedding.py's lookup), dWx a
                         scatter-add, and dx None
    h0      (N, H)       initial hidden state (None means zeros)
    Wx      (D, 3H)      input-to-gates weights, W_ir | W_iz | W_in
    Wh      (H, 3H)      hidden-to-gates weights, W_hr | W_hz | W_hn
    b       (4H,)        biases b_r | b_z | b_in | b_hn (see "Parameterization")
    h       (N, T, H)    every hidden state; the final one, carried to the next window, is h[:, -1]

Gate order along the 3H axis: r, z, n (reset, update, candidate), the order PyTorch's nn.GRU uses,
so its weights copy over transposed without reordering. ``gate_slices(H)`` names them.

Equations (PyTorch's nn.GRU), for t = 0 .. T-1 with h_{-1} = h0 (σ is the logistic sigmoid)
    (1) ax_t = x_t Wx + b[:3H]                      (N, 3H)  input part, split ax_r, ax_z, ax_n
    (2) ah_t = h_{t-1} Wh                           (N, 3H)  hidden part, split ah_r, ah_z, ah_n
    (3) r_t = σ(ax_r + ah_r)                        reset gate
    (4) z_t = σ(ax_z + ah_z)                        update gate
    (5) hn_t = ah_n + b_hn                          the hidden part of the candidate
    (6) n_t = tanh(ax_n + r_t * hn_t)               candidate
    (7) h_t = (1 - z_t) * n_t + z_t * h_{t-1}       hidden state

Parameterization. nn.GRU has two bias vectors of 3H, b_ih and b_hh. For r and z only their sum
enters (3)-(4), so one bias each is enough: b_r = b_ir + b_hr, b_z = b_iz + b_hz. For n they differ:
b_in is added outside the reset gate and b_hn inside it, in (6). Hence b = [b_r, b_z, b_in, b_hn]
(4H numbers), which is exactly nn.GRU's function with 3H fewer redundant parameters, and keeps the
(Wx, Wh, b) triple of the other cells. From PyTorch: Wx = W_ih^T, Wh = W_hh^T,
b = [b_ir + b_hr, b_iz + b_hz, b_in, b_hn].

Backward, for t = T-1 .. 0, with dh_t = dL/dh_t from the output plus dh_next from step t+1
    (7)  dn = dh_t * (1 - z_t)      dz = dh_t * (h_{t-1} - n_t)      dh_{t-1} = dh_t * z_t + ...
    (6)  dan = dn * (1 - n_t^2)     (the candidate's pre-activation)
         dax_n = dan                dhn = dan * r_t                  dr = dan * hn_t
    (5)  dah_n = dhn                db_hn += sum_n dhn
    (4)  daz = dz * z_t (1 - z_t)   (dax_z = dah_z = daz)
    (3)  dar = dr * r_t (1 - r_t)   (dax_r = dah_r = dar)
    (2)  dh_{t-1} += dah_t Wh^T     dWh += h_{t-1}^T dah_t           dah_t = [dar, daz, dhn]
    (1)  dx_t = dax_t Wx^T          dWx += x_t^T dax_t               dax_t = [dar, daz, dan]
         db[:3H] += sum_n dax_t
The parameter gradients are sums over time of the per-step terms, accumulated in the loop.

One step: ``step_forward`` computes (1)-(7) for a single t and ``step_backward`` the Backward
equations for it, with this step's share of each parameter gradient; the exercises build the
sequence on them.

Memory cached for backward: the gates r, z, n and hn (4*N*T*H numbers) and h (N*T*H): 5*N*T*H,
plus references to x, h0 and the weights.
"""
from ..backend import array_module, scatter_add
from . import embedding


def gate_slices(H):
    """Slices of the 3H axis, by name: r, z, n."""
    return slice(0, H), slice(H, 2 * H), slice(2 * H, 3 * H)


def sigmoid(a, xp):
    """σ(a) = 1 / (1 + e^-a), written with tanh so it never overflows."""
    return 0.5 * (xp.tanh(0.5 * a) + 1)


def init_params(D, H, rng, dtype):
    """Wx, Wh ~ U(-1/sqrt(H), 1/sqrt(H)) as nn.GRU; b_r, b_z are sums of two such draws, like
    nn.GRU's b_ih + b_hh, and b_in, b_hn one draw each."""
    k = 1.0 / H ** 0.5
    Wx = rng.uniform(-k, k, (D, 3 * H)).astype(dtype)                       # (D, 3H)
    Wh = rng.uniform(-k, k, (H, 3 * H)).astype(dtype)                       # (H, 3H)
    b = rng.uniform(-k, k, (4 * H,))                                         # (4H,)
    b[:2 * H] += rng.uniform(-k, k, (2 * H,))                                # b_ih + b_hh for r, z
    return Wx, Wh, b.astype(dtype)


def forward(x, h0, Wx, Wh, b):
    """Run the GRU over x. Returns (h, cache); h is (N, T, H), the final state h[:, -1]."""
    xp = array_module(x, Wx)                                     # the weights' side, for host ids too
    N, T = x.shape[:2]
    D, H = Wx.shape[0], Wh.shape[0]
    R, Z, Nn = gate_slices(H)
    bx, b_hn = b[:3 * H], b[3 * H:]                              # (3H,), (H,)
    if h0 is None:
        h0 = xp.zeros((N, H), dtype=Wx.dtype)                    # (N, H)
    # (1) for every step at once: it does not depend on the recurrence
    if x.ndim == 2:                                              # ids: x_t Wx = Wx[ids_t]
        ax = embedding.forward(x, Wx)[0] + bx                    # (N, T, 3H)
    else:
        ax = (x.reshape(N * T, D) @ Wx).reshape(N, T, 3 * H) + bx  # (N, T, 3H)
    gates = xp.empty((N, T, 4 * H), dtype=ax.dtype)              # (N, T, 4H) r, z, n, hn
    h = xp.empty((N, T, H), dtype=ax.dtype)                      # (N, T, H)
    h_prev = h0                                                  # (N, H)
    for t in range(T):
        ah = h_prev @ Wh                                         # (2) (N, 3H)
        r = gates[:, t, R] = sigmoid(ax[:, t, R] + ah[:, R], xp)  # (3) reset gate   (N, H)
        z = gates[:, t, Z] = sigmoid(ax[:, t, Z] + ah[:, Z], xp)  # (4) update gate  (N, H)
        hn = gates[:, t, 3 * H:] = ah[:, Nn] + b_hn              # (5)                (N, H)
        n = gates[:, t, Nn] = xp.tanh(ax[:, t, Nn] + r * hn)     # (6) candidate     (N, H)
        h[:, t] = (1 - z) * n + z * h_prev                       # (7) hidden state  (N, H)
        h_prev = h[:, t]
    cache = (x, h0, Wx, Wh, gates, h)
    return h, cache


def backward(dh, cache, need_dx=True):
    """Backprop through time. dh (N, T, H) is dL/dh for every step (the final state's gradient
    included in dh[:, -1]). Returns (dx, dh0, dWx, dWh, db) in the order of forward's inputs;
    dx is None for ids, or when need_dx is False (a frozen input: its GEMM would be wasted)."""
    x, h0, Wx, Wh, gates, h = cache
    xp = array_module(dh)
    N, T = x.shape[:2]
    D, H = Wx.shape[0], Wh.shape[0]
    R, Z, Nn = gate_slices(H)
    ids = x.ndim == 2
    dx = xp.empty((N, T, D), dtype=h.dtype) if need_dx and not ids else None  # (N, T, D)
    dWx = xp.zeros_like(Wx)                                      # (D, 3H)
    dWh = xp.zeros_like(Wh)                                      # (H, 3H)
    db = xp.zeros((4 * H,), dtype=h.dtype)                       # (4H,)
    dax = xp.empty((N, 3 * H), dtype=h.dtype)                    # (N, 3H) dL/d(ax_t), one step
    dah = xp.empty((N, 3 * H), dtype=h.dtype)                    # (N, 3H) dL/d(ah_t), one step
    dh_next = xp.zeros((N, H), dtype=h.dtype)                    # (N, H) dL/dh_t arriving from t+1
    for t in reversed(range(T)):
        r, z, n, hn = (gates[:, t, R], gates[:, t, Z], gates[:, t, Nn],
                       gates[:, t, 3 * H:])                      # each (N, H)
        h_prev = h[:, t - 1] if t > 0 else h0                    # (N, H)
        # h_t feeds the output at t and step t+1: add both gradients
        dh_t = dh[:, t] + dh_next                                # (N, H)
        # backprop through (7) h_t = (1 - z) * n + z * h_{t-1}
        dn = dh_t * (1 - z)                                      # (N, H)
        dz = dh_t * (h_prev - n)                                 # (N, H)
        dh_prev = dh_t * z                                       # (N, H)
        # backprop through (6) n = tanh(ax_n + r * hn): tanh' = 1 - n^2
        dan = dn * (1 - n * n)                                   # (N, H)
        dax[:, Nn] = dan
        dr = dan * hn                                            # (N, H)
        # backprop through (5) hn = ah_n + b_hn
        dah[:, Nn] = dan * r                                     # (N, H)
        db[3 * H:] += dah[:, Nn].sum(axis=0)                     # (H,)
        # backprop through (4) z = σ(ax_z + ah_z): σ' = z (1 - z)
        dax[:, Z] = dah[:, Z] = dz * z * (1 - z)                 # (N, H)
        # backprop through (3) r = σ(ax_r + ah_r)
        dax[:, R] = dah[:, R] = dr * r * (1 - r)                 # (N, H)
        # backprop through (2) ah = h_{t-1} Wh: into h_{t-1} and Wh
        dh_next = dh_prev + dah @ Wh.T                           # (N, H)
        dWh += h_prev.T @ dah                                    # (H, 3H)
        # backprop through (1) ax = x_t Wx + b[:3H]: into b, Wx and x_t
        db[:3 * H] += dax.sum(axis=0)                            # (3H,)
        if ids:                                                  # row ids_t of Wx got dax's rows
            scatter_add(dWx, x[:, t], dax)
        else:
            dWx += x[:, t].T @ dax                               # (D, 3H)
            if dx is not None:
                dx[:, t] = dax @ Wx.T                            # (N, D)
    dh0 = dh_next                                                # (N, H)
    return dx, dh0, dWx, dWh, db


def step_forward(x_t, h_prev, Wx, Wh, b):
    """One step of (1)-(7): x_t (N, D), or (N,) integer ids standing for one-hot rows; h_prev (N, H).
    Returns (h_t, cache). A loop of it over t is ``forward``."""
    xp = array_module(h_prev, Wx)
    H = Wh.shape[0]
    R, Z, Nn = gate_slices(H)
    ax = (Wx[x_t] if x_t.ndim == 1 else x_t @ Wx) + b[:3 * H]    # (1) (N, 3H) a row lookup for ids
    ah = h_prev @ Wh                                             # (2) (N, 3H)
    gates = xp.empty((ax.shape[0], 4 * H), dtype=ax.dtype)       # (N, 4H) r, z, n, hn
    r = gates[:, R] = sigmoid(ax[:, R] + ah[:, R], xp)           # (3) reset gate   (N, H)
    z = gates[:, Z] = sigmoid(ax[:, Z] + ah[:, Z], xp)           # (4) update gate  (N, H)
    hn = gates[:, 3 * H:] = ah[:, Nn] + b[3 * H:]                # (5)               (N, H)
    n = gates[:, Nn] = xp.tanh(ax[:, Nn] + r * hn)               # (6) candidate    (N, H)
    h_t = (1 - z) * n + z * h_prev                               # (7) hidden state (N, H)
    return h_t, (x_t, h_prev, Wx, Wh, gates)


def step_backward(dh_t, cache):
    """Backward of one step: dh_t (N, H) is everything that reaches h_t (dh[:, t] + dh_next in
    ``backward``). Returns (dx_t, dh_prev, dWx, dWh, db): this step's share of each parameter
    gradient (``backward`` sums the shares over t) and dx_t (N, D), None for ids."""
    x_t, h_prev, Wx, Wh, gates = cache
    xp = array_module(dh_t)
    H = Wh.shape[0]
    R, Z, Nn = gate_slices(H)
    r, z, n, hn = gates[:, R], gates[:, Z], gates[:, Nn], gates[:, 3 * H:]  # (N, H) each
    dax = xp.empty((dh_t.shape[0], 3 * H), dtype=dh_t.dtype)     # (N, 3H) dL/d(ax_t)
    dah = xp.empty((dh_t.shape[0], 3 * H), dtype=dh_t.dtype)     # (N, 3H) dL/d(ah_t)
    db = xp.zeros(4 * H, dtype=dh_t.dtype)                       # (4H,)
    # backprop through (7) h_t = (1 - z) * n + z * h_{t-1}
    dn = dh_t * (1 - z)                                          # (N, H)
    dz = dh_t * (h_prev - n)                                     # (N, H)
    dh_prev = dh_t * z                                           # (N, H)
    # backprop through (6) n = tanh(ax_n + r * hn): tanh' = 1 - n^2
    dan = dn * (1 - n * n)                                       # (N, H)
    dax[:, Nn] = dan
    dr = dan * hn                                                # (N, H)
    # backprop through (5) hn = ah_n + b_hn
    dah[:, Nn] = dan * r                                         # (N, H)
    db[3 * H:] = dah[:, Nn].sum(axis=0)                          # (H,)
    # backprop through (4) z = σ(ax_z + ah_z) and (3) r = σ(ax_r + ah_r): σ' = σ (1 - σ)
    dax[:, Z] = dah[:, Z] = dz * z * (1 - z)                     # (N, H)
    dax[:, R] = dah[:, R] = dr * r * (1 - r)                     # (N, H)
    # backprop through (2) ah = h_{t-1} Wh
    dh_prev = dh_prev + dah @ Wh.T                               # (N, H)
    dWh = h_prev.T @ dah                                         # (H, 3H) this step's share
    # backprop through (1) ax = x_t Wx + b[:3H]
    db[:3 * H] = dax.sum(axis=0)                                 # (3H,)
    if x_t.ndim == 1:                                            # row ids_t of Wx got dax's rows
        dWx = xp.zeros_like(Wx)
        scatter_add(dWx, x_t, dax)
        return None, dh_prev, dWx, dWh, db
    dWx = x_t.T @ dax                                            # (D, 3H)
    dx_t = dax @ Wx.T                                            # (N, D)
    return dx_t, dh_prev, dWx, dWh, db
