"""LSTM over a whole sequence: forward and backward through time.

Shapes
    N batch, T time steps, D input size, H hidden size
    x       (N, T, D)    input sequence; or (N, T) integer ids, each standing for a one-hot row
                         of size D (the char model's input): x_t Wx is then row ids_t of Wx, an
                         embedding lookup (embedding.py), and dWx a scatter-add. dx is then None.
    h0, c0  (N, H)       initial hidden and cell state (None means zeros)
    Wx      (D, 4H)      input-to-gates weights
    Wh      (H, 4H)      hidden-to-gates weights
    b       (4H,)        gate bias, the sum PyTorch keeps as b_ih + b_hh (see ``init_params``)
    h       (N, T, H)    every hidden state; the final one is h[:, -1]
    cT      (N, H)       final cell state

Gate order along the 4H axis: i, f, g, o (input, forget, candidate, output), the order
PyTorch's nn.LSTM uses, so its weights copy over transposed but without reordering: Wx = W_ih^T,
Wh = W_hh^T, b = b_ih + b_hh. ``gate_slices(H)`` names them.

Forward, for t = 0 .. T-1 with h_{-1} = h0, c_{-1} = c0 (σ is the logistic sigmoid)
    (1) a_t = x_t Wx + h_{t-1} Wh + b                       (N, 4H), split into a_i, a_f, a_g, a_o
    (2) i_t = σ(a_i)   f_t = σ(a_f)   o_t = σ(a_o)          input, forget and output gates
    (3) g_t = tanh(a_g)                                      candidate cell
    (4) c_t = f_t * c_{t-1} + i_t * g_t                      cell state
    (5) h_t = o_t * tanh(c_t)                                hidden state
x_t Wx + b does not depend on the recurrence, so it is computed for every step before the loop.

Backward, for t = T-1 .. 0, with dX meaning dL/dX. h_t is used twice, by the layer above (dh[:, t])
and by step t+1 through (1); c_t is used twice, by (5) and by step t+1 through (4). So each
receives two gradients, and dh_next, dc_next carry the second one back from step t+1 (zero at
t = T-1, except dc_next = dcT when something used the final cell state):
    (6)  dh_t = dh[:, t] + dh_next                           both uses of h_t
    (7)  do_t = dh_t * tanh(c_t)                             from (5)
    (8)  dc_t = dc_next + dh_t * o_t * (1 - tanh(c_t)^2)     from (5), plus c_t's use in step t+1
    (9)  di_t = dc_t * g_t   df_t = dc_t * c_{t-1}   dg_t = dc_t * i_t      from (4)
    (10) dc_next = dc_t * f_t                                from (4): dL/dc_{t-1}, for step t-1
    (11) da_i = di_t i_t (1 - i_t)  da_f = df_t f_t (1 - f_t)  da_o = do_t o_t (1 - o_t)
                                                             from (2), σ' = σ (1 - σ)
    (12) da_g = dg_t * (1 - g_t^2)                           from (3), tanh' = 1 - tanh^2
    (13) dh_next = da_t Wh^T                                 from (1): dL/dh_{t-1}, for step t-1
    (14) dWx += x_t^T da_t   dWh += h_{t-1}^T da_t   db += sum over n of da_t     from (1)
    (15) dx_t = da_t Wx^T                                    from (1)
and after the loop dh0 = dh_next, dc0 = dc_next. Wx, Wh and b are the same at every step, so
their gradient (14) is a sum over t of each step's share. With ids, x_t Wx = Wx[ids_t] and (14)
reads dWx[ids_t] += da_t.

One step: ``step_forward`` computes (1)-(5) for a single t and ``step_backward`` (7)-(15) for it,
with this step's share of (14); the exercises build the sequence on them.

Memory cached for backward: the activated gates (4*N*T*H), c (N*T*H) and h (N*T*H): 6*N*T*H
numbers, torch-rnn's count, plus references to x, h0, c0 and the weights. tanh(c_t) is recomputed
in backward (one elementwise op per step) rather than cached, to stay at that count.
"""
from ..backend import array_module, scatter_add
from . import embedding


def gate_slices(H):
    """Slices of the 4H axis, by name: i, f, g, o."""
    return slice(0, H), slice(H, 2 * H), slice(2 * H, 3 * H), slice(3 * H, 4 * H)


def sigmoid(a, xp):
    """σ(a) = 1 / (1 + e^-a), written with tanh so it never overflows."""
    return 0.5 * (xp.tanh(0.5 * a) + 1)


def init_params(D, H, rng, dtype):
    """PyTorch's nn.LSTM initialisation: Wx, Wh ~ U(-k, k), k = 1/sqrt(H), and b = b_ih + b_hh with
    each of its two biases ~ U(-k, k); no forget-gate bias of 1 (docs/recipe.md, measured
    both). Train b at twice the learning rate to train it as PyTorch does (optim.bias_lr_factors)."""
    k = 1.0 / H ** 0.5
    Wx = rng.uniform(-k, k, (D, 4 * H)).astype(dtype)        # (D, 4H)
    Wh = rng.uniform(-k, k, (H, 4 * H)).astype(dtype)        # (H, 4H)
    b_ih = rng.uniform(-k, k, (4 * H,))                      # (4H,)
    b_hh = rng.uniform(-k, k, (4 * H,))                      # (4H,)
    b = (b_ih + b_hh).astype(dtype)                          # (4H,) one vector, as they enter (1)
    return Wx, Wh, b


def forward(x, h0, c0, Wx, Wh, b):
    """Run the LSTM over x. Returns (h, cT, cache): h (N, T, H) and the final cell state (N, H)."""
    xp = array_module(x, Wx)                                 # the weights' side, for host ids too
    N, T = x.shape[:2]
    D, H = Wx.shape[0], Wh.shape[0]
    I, F, G, O = gate_slices(H)
    if h0 is None:
        h0 = xp.zeros((N, H), dtype=Wx.dtype)                # (N, H)
    if c0 is None:
        c0 = xp.zeros((N, H), dtype=Wx.dtype)                # (N, H)
    # (1), the input part for every step at once: x_t Wx + b
    if x.ndim == 2:                                          # ids: x_t Wx = Wx[ids_t]
        xa = embedding.forward(x, Wx)[0] + b                 # (N, T, 4H)
    else:
        xa = (x.reshape(N * T, D) @ Wx).reshape(N, T, 4 * H) + b  # (N, T, 4H)
    gates = xp.empty_like(xa)                                # (N, T, 4H) activated i, f, g, o
    c = xp.empty((N, T, H), dtype=xa.dtype)                  # (N, T, H)
    h = xp.empty((N, T, H), dtype=xa.dtype)                  # (N, T, H)
    h_prev, c_prev = h0, c0
    for t in range(T):
        # (1) a_t = x_t Wx + b + h_{t-1} Wh
        a = xa[:, t] + h_prev @ Wh                           # (N, 4H)
        i = gates[:, t, I] = sigmoid(a[:, I], xp)            # (2) input gate    (N, H)
        f = gates[:, t, F] = sigmoid(a[:, F], xp)            # (2) forget gate   (N, H)
        g = gates[:, t, G] = xp.tanh(a[:, G])                # (3) candidate     (N, H)
        o = gates[:, t, O] = sigmoid(a[:, O], xp)            # (2) output gate   (N, H)
        c[:, t] = f * c_prev + i * g                         # (4) cell state    (N, H)
        h[:, t] = o * xp.tanh(c[:, t])                       # (5) hidden state  (N, H)
        h_prev, c_prev = h[:, t], c[:, t]
    cache = (x, h0, c0, Wx, Wh, gates, c, h)
    return h, c[:, -1], cache


def backward(dh, cache, dcT=None, need_dx=True):
    """Backprop through time, equations (6)-(15).

    dh  (N, T, H)  dL/dh_t for every step (the final state's gradient included in dh[:, -1])
    dcT (N, H)     dL/dc_{T-1} from whatever used the final cell state (None: nothing did)
    Returns (dx, dh0, dc0, dWx, dWh, db), in the order of forward's inputs; dx is None for ids,
    and when need_dx is False (the input is a frozen embedding: its products would be wasted).
    """
    x, h0, c0, Wx, Wh, gates, c, h = cache
    xp = array_module(dh)
    N, T = x.shape[:2]
    D, H = Wx.shape[0], Wh.shape[0]
    I, F, G, O = gate_slices(H)
    ids = x.ndim == 2
    dWx = xp.zeros((D, 4 * H), dtype=h.dtype)                # (D, 4H) sums over t, (14)
    dWh = xp.zeros((H, 4 * H), dtype=h.dtype)                # (H, 4H)
    db = xp.zeros(4 * H, dtype=h.dtype)                      # (4H,)
    dx = xp.empty((N, T, D), dtype=h.dtype) if need_dx and not ids else None  # (N, T, D)
    dh_next = xp.zeros((N, H), dtype=h.dtype)                # (N, H) dL/dh_t arriving from step t+1
    dc_next = xp.zeros((N, H), dtype=h.dtype) if dcT is None else dcT  # (N, H) same for c_t
    for t in reversed(range(T)):
        i, f, g, o = (gates[:, t, s] for s in (I, F, G, O))  # (N, H) each
        c_prev = c[:, t - 1] if t > 0 else c0                # (N, H)
        h_prev = h[:, t - 1] if t > 0 else h0                # (N, H)
        tanh_c = xp.tanh(c[:, t])                            # (N, H) recomputed, see module doc
        dh_t = dh[:, t] + dh_next                            # (6) both uses of h_t       (N, H)
        # backprop through (5) h_t = o_t * tanh(c_t)
        do = dh_t * tanh_c                                   # (7)                        (N, H)
        dc_t = dc_next + dh_t * o * (1 - tanh_c * tanh_c)    # (8) plus step t+1's        (N, H)
        # backprop through (4) c_t = f_t * c_{t-1} + i_t * g_t
        di, df, dg = dc_t * g, dc_t * c_prev, dc_t * i       # (9)                        (N, H) each
        dc_next = dc_t * f                                   # (10) dL/dc_{t-1}           (N, H)
        # backprop through (2) and (3), gate by gate in the order i, f, g, o
        da_t = xp.concatenate([di * i * (1 - i),             # (11) σ' = σ (1 - σ)
                               df * f * (1 - f),             # (11)
                               dg * (1 - g * g),             # (12) tanh' = 1 - tanh^2
                               do * o * (1 - o)], axis=1)    # (11)                       (N, 4H)
        # backprop through (1) a_t = x_t Wx + h_{t-1} Wh + b
        dh_next = da_t @ Wh.T                                # (13) dL/dh_{t-1}           (N, H)
        dWh += h_prev.T @ da_t                               # (14) step t's share        (H, 4H)
        db += da_t.sum(axis=0)                               # (14)                       (4H,)
        if ids:                                              # (14) dWx[ids_t] += da_t    (D, 4H)
            scatter_add(dWx, x[:, t], da_t)
        else:
            dWx += x[:, t].T @ da_t                          # (14)                       (D, 4H)
            if dx is not None:
                dx[:, t] = da_t @ Wx.T                       # (15)                       (N, D)
    dh0, dc0 = dh_next, dc_next                              # (N, H) each
    return dx, dh0, dc0, dWx, dWh, db



def step_forward(x_t, h_prev, c_prev, Wx, Wh, b):
    """One step of (1)-(5): x_t (N, D), or (N,) integer ids standing for one-hot rows; h_prev, c_prev
    (N, H). Returns (h_t, c_t, cache). A loop of it over t is ``forward``."""
    xp = array_module(h_prev, Wx)
    H = Wh.shape[0]
    I, F, G, O = gate_slices(H)
    xa = Wx[x_t] if x_t.ndim == 1 else x_t @ Wx              # (N, 4H) x_t Wx: a row lookup for ids
    a = xa + h_prev @ Wh + b                                 # (1)                (N, 4H)
    gates = xp.empty_like(a)                                 # (N, 4H) activated i, f, g, o
    i = gates[:, I] = sigmoid(a[:, I], xp)                   # (2) input gate     (N, H)
    f = gates[:, F] = sigmoid(a[:, F], xp)                   # (2) forget gate    (N, H)
    g = gates[:, G] = xp.tanh(a[:, G])                       # (3) candidate      (N, H)
    o = gates[:, O] = sigmoid(a[:, O], xp)                   # (2) output gate    (N, H)
    c_t = f * c_prev + i * g                                 # (4) cell state     (N, H)
    h_t = o * xp.tanh(c_t)                                   # (5) hidden state   (N, H)
    return h_t, c_t, (x_t, h_prev, c_prev, Wx, Wh, gates, c_t)


def step_backward(dh_t, dc_t, cache):
    """Backward of one step. dh_t (N, H) is everything that reaches h_t (dh[:, t] + dh_next in
    ``backward``), dc_t (N, H) what reaches c_t from step t+1 (dc_next; zeros or dcT at the last
    step). Returns (dx_t, dh_prev, dc_prev, dWx, dWh, db): this step's share of each parameter
    gradient (``backward`` sums the shares over t) and dx_t (N, D), None for ids."""
    x_t, h_prev, c_prev, Wx, Wh, gates, c_t = cache
    xp = array_module(dh_t)
    H = Wh.shape[0]
    I, F, G, O = gate_slices(H)
    i, f, g, o = (gates[:, s] for s in (I, F, G, O))         # (N, H) each
    tanh_c = xp.tanh(c_t)                                    # (N, H)
    # backprop through (5) h_t = o_t * tanh(c_t)
    do = dh_t * tanh_c                                       # (7)                        (N, H)
    dc = dc_t + dh_t * o * (1 - tanh_c * tanh_c)             # (8) plus step t+1's        (N, H)
    # backprop through (4) c_t = f_t * c_{t-1} + i_t * g_t
    di, df, dg = dc * g, dc * c_prev, dc * i                 # (9)                        (N, H) each
    dc_prev = dc * f                                         # (10) dL/dc_{t-1}           (N, H)
    # backprop through (2) and (3), gate by gate in the order i, f, g, o
    da = xp.concatenate([di * i * (1 - i),                   # (11) σ' = σ (1 - σ)
                         df * f * (1 - f),                   # (11)
                         dg * (1 - g * g),                   # (12) tanh' = 1 - tanh^2
                         do * o * (1 - o)], axis=1)          # (11)                       (N, 4H)
    # backprop through (1) a_t = x_t Wx + h_{t-1} Wh + b
    dh_prev = da @ Wh.T                                      # (13) dL/dh_{t-1}           (N, H)
    dWh = h_prev.T @ da                                      # (14) this step's share     (H, 4H)
    db = da.sum(axis=0)                                      # (14)                       (4H,)
    if x_t.ndim == 1:                                        # (14) dWx[ids_t] += da      (D, 4H)
        dWx = xp.zeros_like(Wx)
        scatter_add(dWx, x_t, da)
        return None, dh_prev, dc_prev, dWx, dWh, db
    dWx = x_t.T @ da                                         # (14)                       (D, 4H)
    dx_t = da @ Wx.T                                         # (15)                       (N, D)
    return dx_t, dh_prev, dc_prev, dWx, dWh, db
