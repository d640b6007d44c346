"""A character-level LSTM on one page: data, the book's layers, loss, truncated BPTT, clipping, Adam
and sampling, in the spirit of Karpathy's min-char-rnn. About a minute on the bundled novel:

    python examples/min_char_lstm.py                      # prints a falling loss, then a sample
    python examples/min_char_lstm.py --text my.txt --iters 2000 --hidden 256

The layers are minirnn's book, minirnn/layers (lstm.py, linear.py, softmax_ce.py): plain NumPy,
equations in their docstrings. scripts/train_char.py trains the same model with the fast engine,
validation, checkpoints and a learning-rate schedule; this page leaves all that out.
Shapes: N streams (batch), T steps per window, V characters, H hidden units.
"""
import argparse
import sys
import time

import numpy as np

from minirnn.layers import linear, lstm, softmax_ce
from minirnn.textio import default_corpus

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("--text", default=default_corpus(), help="UTF-8 text (default: the bundled Don Quijote)")
p.add_argument("--iters", type=int, default=1500, help="training windows")
p.add_argument("--hidden", type=int, default=128, help="H")
p.add_argument("--batch", type=int, default=32, help="N, parallel streams through the text")
p.add_argument("--seq", type=int, default=50, help="T, steps per window (truncated BPTT length)")
p.add_argument("--lr", type=float, default=6e-3, help="Adam's learning rate")
p.add_argument("--clip", type=float, default=5.0, help="clip the gradients' global norm to this")
p.add_argument("--print-every", type=int, default=100, help="iterations between loss lines")
p.add_argument("--sample-length", type=int, default=300, help="characters in the final sample")
p.add_argument("--seed", type=int, default=0)
args = p.parse_args()
rng = np.random.default_rng(args.seed)


def fail(message):
    """Bad input: one line, exit status 2 (minirnn's convention), no traceback."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


if min(args.iters, args.hidden, args.batch, args.seq, args.print_every) < 1 or not args.lr > 0:
    fail("--iters, --hidden, --batch, --seq, --print-every and --lr must be positive")

# ---- data: characters -> ids, cut into N parallel streams ----------------------------------------
try:
    text = open(args.text, encoding="utf-8-sig").read()            # a byte-order mark is no character
except (OSError, UnicodeDecodeError) as e:
    fail(f"{args.text}: {e.strerror if isinstance(e, OSError) else 'not UTF-8 text'}")
chars = sorted(set(text))
V, N, T, H = len(chars), args.batch, args.seq, args.hidden
index = {ch: i for i, ch in enumerate(chars)}
ids = np.array([index[ch] for ch in text], dtype=np.int64)          # (len(text),)
L = (len(ids) - 1) // N                                             # characters per stream
if L < T + 1:
    fail(f"{args.text} is too short for --batch {N} --seq {T}")
inputs = ids[:N * L].reshape(N, L)                                  # (N, L) stream n is a slice of the text
targets = ids[1:N * L + 1].reshape(N, L)                            # (N, L) the next character of each
print(f"{len(text):,} characters, {V} distinct; {N} streams of {L:,}; LSTM H={H}")

# ---- parameters: the book's initialisation (PyTorch's), float32 ------------------------------------
dtype = np.float32
P = {}
P["Wx"], P["Wh"], P["b"] = lstm.init_params(V, H, rng, dtype)        # (V, 4H), (H, 4H), (4H,)
P["Wy"], P["by"] = linear.init_params(H, V, rng, dtype)              # (H, V), (V,)
m = {k: np.zeros_like(v) for k, v in P.items()}                      # Adam's first moments
v2 = {k: np.zeros_like(v) for k, v in P.items()}                     # and second moments


def loss_and_grads(x, y, h0, c0):
    """One window: forward, loss, backward. x, y (N, T) ids; h0, c0 (N, H) carried from the
    previous window (truncated BPTT: no gradient flows back past the window's start)."""
    h, cT, cache = lstm.forward(x, h0, c0, P["Wx"], P["Wh"], P["b"])  # (N, T, H); x as ids: Wx[x_t] rows
    logits, out_cache = linear.forward(h, P["Wy"], P["by"])          # (N, T, V)
    loss, ce_cache = softmax_ce.forward(logits, y)                   # mean nats per character
    dlogits = softmax_ce.backward(ce_cache)                          # (N, T, V)
    dh, dWy, dby = linear.backward(dlogits, out_cache)               # (N, T, H)
    _, _, _, dWx, dWh, db = lstm.backward(dh, cache)                 # dx is None for ids
    grads = {"Wx": dWx, "Wh": dWh, "b": db, "Wy": dWy, "by": dby}
    return float(loss), grads, h[:, -1].copy(), cT.copy()


def sample(h, c, n, temperature=0.8):
    """n characters after what (h, c) has read: each drawn from the state's prediction, then fed in."""
    out = []
    for _ in range(n):
        z = (h @ P["Wy"] + P["by"])[0] / temperature                # (V,) logits of the next character
        p = np.exp(z - z.max())                                      # softmax, shifted: no overflow
        i = int(rng.choice(V, p=p / p.sum()))
        out.append(chars[i])
        hs, c, _ = lstm.forward(np.array([[i]]), h, c, P["Wx"], P["Wh"], P["b"])  # (1, 1, H)
        h = hs[:, -1]                                                # (1, H)
    return "".join(out)


# ---- training: windows in order through the streams, the state carried between them -------------
beta1, beta2, eps = 0.9, 0.999, 1e-8
pos, h, c = 0, None, None
smooth, first_loss, t0 = None, None, time.time()
for it in range(1, args.iters + 1):
    if pos + T > L:                                                  # an epoch ends: start over, fresh state
        pos, h, c = 0, None, None
    x, y = inputs[:, pos:pos + T], targets[:, pos:pos + T]           # (N, T) each
    loss, grads, h, c = loss_and_grads(x, y, h, c)
    pos += T

    # clipping: scale every gradient by min(1, clip / global norm), a step of its own after backward
    norm = np.sqrt(sum(float((g * g).sum()) for g in grads.values()))
    scale = min(1.0, args.clip / (norm + 1e-6))

    # Adam: m, v running means of g and g^2, bias-corrected, then a step of lr per parameter
    for k, g in grads.items():
        g = g * scale
        m[k] = beta1 * m[k] + (1 - beta1) * g
        v2[k] = beta2 * v2[k] + (1 - beta2) * g * g
        m_hat = m[k] / (1 - beta1 ** it)
        v_hat = v2[k] / (1 - beta2 ** it)
        P[k] -= (args.lr * m_hat / (np.sqrt(v_hat) + eps)).astype(dtype)

    smooth = loss if smooth is None else 0.95 * smooth + 0.05 * loss
    first_loss = loss if first_loss is None else first_loss
    if it % args.print_every == 0 or it == args.iters:
        print(f"iter {it:5d}  loss {smooth:.3f} nats/char  grad norm {norm:6.2f}  {time.time() - t0:5.1f}s")

print(f"loss: {first_loss:.3f} at the first window, {smooth:.3f} (smoothed) at the last")
print(f"sample, stream 0 going on after ...{''.join(chars[i] for i in inputs[0, max(0, pos - 24):pos])!r}:")
print(sample(h[:1], c[:1], args.sample_length))
