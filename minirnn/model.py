"""The recurrent language model shared by both pipelines: embedding -> L recurrent layers -> linear
-> softmax cross-entropy.

Shapes
    N batch, T time steps, V vocabulary (characters, or clusters in the word pipeline),
    E embedding size, H hidden size, L layers
    ids, targets  (N, T)       integer ids; targets are ids shifted one step ahead
    x             (N, T, E)    embedded input
    h             (N, T, H)    top recurrent layer's output
    logits        (N, T, V)

Equations
    (1) x = Embed(ids)                 embedding.py (trainable; frozen one-hot if E = 0;
                                       frozen given matrix in the quantized word model)
                                       A frozen one-hot table is never multiplied out: layer 0
                                       gets the ids, and x_t Wx = Wx[ids_t] (rnn.py, lstm.py, gru.py)
    (2) h, state' = Stack(x, state)    stack.py (rnn.py / lstm.py / gru.py, dropout between layers)
    (3) logits = h Wout + bout         linear.py
    (4) loss = CE(logits, targets)     softmax_ce.py, mean over the N*T tokens

Parameters live in one flat dict ``params`` of name -> array ('embed.W', 'rnn.0.Wx', 'rnn.0.Wh',
'rnn.0.b', ..., 'out.W', 'out.b'); ``grads`` from ``backward`` has the same names, minus frozen ones.
The model holds no hidden counters: the recurrent state is passed in and handed back explicitly.
Each layer (and the stack) runs as ``fast.pick`` hands it out: the book's (minirnn/layers), or on the
CPU its engine twin, which computes the same equations faster (minirnn/fast).
"""
from __future__ import annotations

import numpy as np

from . import backend, fast
from .layers import embedding as embed_layer
from .layers import linear, softmax_ce, stack


class RNNLM:
    """Stacked RNN/LSTM/GRU language model.

    vocab_size  V, the output classes
    embed       E; 0 means one-hot input (a frozen identity table)
    embedding   a given (V, E) matrix to use as the input table (e.g. k-means centroids)
    freeze_embedding  keep a trained (embed > 0) or given table fixed (default: a given one is
                      frozen, a trained one is not); a one-hot table is always frozen
    """

    def __init__(self, vocab_size, hidden=128, layers=2, cell="lstm", embed=0, dropout=0.0,
                 embedding=None, freeze_embedding=None, seed=0, dtype=backend.DEFAULT_DTYPE):
        if cell not in stack.CELLS:
            raise ValueError(f"cell must be one of {sorted(stack.CELLS)}, got {cell!r}")
        self.V, self.H, self.L, self.cell = int(vocab_size), int(hidden), int(layers), cell
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.dropout = float(dropout)
        self.dtype = np.dtype(dtype)
        rng = np.random.default_rng(seed)  # weights are drawn on the host, the same on every backend
        if embedding is not None:
            table = np.array(backend.to_numpy(embedding), dtype=self.dtype)   # (V, E) a copy
            freeze = True if freeze_embedding is None else freeze_embedding
        elif embed == 0:
            table = np.eye(self.V, dtype=self.dtype)                          # (V, V) one-hot
            freeze = True
        else:
            table = embed_layer.init_params(self.V, embed, rng, self.dtype)            # (V, E)
            freeze = bool(freeze_embedding)
        self.E = table.shape[1]
        self.frozen = {"embed.W"} if freeze else set()
        # a frozen identity table: hand layer 0 the ids instead of one-hot rows (same numbers)
        self.one_hot = freeze and table.shape == (self.V, self.V) and np.array_equal(
            table, np.eye(self.V, dtype=self.dtype))
        init = stack.CELLS[cell].init_params
        p = {"embed.W": table}
        for l in range(self.L):
            p[f"rnn.{l}.Wx"], p[f"rnn.{l}.Wh"], p[f"rnn.{l}.b"] = init(
                self.E if l == 0 else self.H, self.H, rng, self.dtype)
        p["out.W"], p["out.b"] = linear.init_params(self.H, self.V, rng, self.dtype)
        self.params = {k: backend.to_device(v) for k, v in p.items()}

    # ---- configuration, for checkpoints -------------------------------------------------------
    def config(self) -> dict:
        return {"vocab_size": self.V, "hidden": self.H, "layers": self.L, "cell": self.cell,
                "embed": self.E, "dropout": self.dropout, "dtype": self.dtype.name,
                "frozen": sorted(self.frozen)}

    @classmethod
    def from_params(cls, config: dict, params: dict) -> "RNNLM":
        """Rebuild a model from ``config()`` and its named parameters (e.g. from a checkpoint)."""
        missing = sorted(set(["embed.W", "out.W", "out.b"]) - set(params))
        if missing:
            raise ValueError(f"parameters missing: {', '.join(missing)}")
        model = cls(config["vocab_size"], hidden=config["hidden"], layers=config["layers"],
                    cell=config["cell"], dropout=config["dropout"], embedding=params["embed.W"],
                    freeze_embedding="embed.W" in config["frozen"], dtype=config["dtype"])
        for k, v in model.params.items():
            if params[k].shape != v.shape:
                raise ValueError(f"parameter {k} has shape {params[k].shape}, the config needs {v.shape}")
            v[...] = backend.to_device(params[k])
        return model

    def trainable(self) -> dict:
        """The parameters an optimizer updates (frozen ones left out)."""
        return {k: v for k, v in self.params.items() if k not in self.frozen}

    def layer_params(self):
        """The recurrent layers' parameters as the stack takes them: a list of (Wx, Wh, b)."""
        return [(self.params[f"rnn.{l}.Wx"], self.params[f"rnn.{l}.Wh"], self.params[f"rnn.{l}.b"])
                for l in range(self.L)]

    def initial_state(self, N):
        """Zero state for N streams: a list over layers of (h,) or (h, c), each (N, H)."""
        xp = backend.array_module(self.params["out.W"])
        k = 2 if self.cell == "lstm" else 1
        return [tuple(xp.zeros((N, self.H), dtype=self.dtype) for _ in range(k)) for _ in range(self.L)]

    # ---- forward / backward -------------------------------------------------------------------
    def forward(self, ids, state=None, train=False, rng=None):
        """Returns (logits, new_state, cache). Dropout only when train=True (rng draws the masks)."""
        W_embed, W_out, b_out = self.params["embed.W"], self.params["out.W"], self.params["out.b"]
        ids = backend.to_module(ids, backend.array_module(W_out))                 # (N, T) where the weights are
        if self.one_hot:
            x, emb_cache = ids, None                                              # (N, T) (1) as ids
        else:
            x, emb_cache = fast.pick(embed_layer, W_embed).forward(ids, W_embed)  # (N, T, E) (1)
        p_drop = self.dropout if train else 0.0
        h, new_state, stack_cache = fast.pick(stack, x, W_out).forward(
            x, state, self.layer_params(), self.cell, p_drop, rng)               # (N, T, H) (2)
        logits, out_cache = fast.pick(linear, h, W_out).forward(h, W_out, b_out)  # (N, T, V) (3)
        return logits, new_state, (emb_cache, stack_cache, out_cache)

    def loss(self, ids, targets, state=None, train=False, rng=None):
        """Returns (loss, new_state, cache): mean cross-entropy in nats per token (a 0-d array)."""
        logits, new_state, cache = self.forward(ids, state, train, rng)
        targets = backend.to_module(targets, backend.array_module(logits))       # (N, T)
        loss, ce_cache = softmax_ce.forward(logits, targets)                     # () (4)
        return loss, new_state, cache + (ce_cache,)

    # ---- evaluation: forward only -------------------------------------------------------------
    # The same equations (1)-(4) at evaluation time (no dropout), with no backward cache: each layer
    # runs as ``fast.forward_only`` hands it out (the engine's cache-free forward on the CPU, the
    # book's forward otherwise), and the loss as ``fast.pick_nll`` hands it out. Validation,
    # eval_char, sampling and beam search run these.
    def hidden(self, ids, state=None):
        """Returns (h, new_state): the top layer's output (N, T, H) and the final state, as
        ``forward(ids, state)`` computes them, without caches."""
        W_embed = self.params["embed.W"]
        ids = backend.to_module(ids, backend.array_module(W_embed))               # (N, T) where the weights are
        if self.one_hot:
            x = ids                                                               # (N, T) (1) as ids
        else:
            x = fast.forward_only(embed_layer, W_embed)(ids, W_embed)[0]          # (N, T, E) (1)
        W_out = self.params["out.W"]
        return fast.forward_only(stack, x, W_out)(x, state, self.layer_params(), self.cell)  # (2)

    def predict(self, ids, state=None):
        """Returns (logits (N, T, V), new_state): ``forward``'s at evaluation time, without caches."""
        W_out, b_out = self.params["out.W"], self.params["out.b"]
        h, new_state = self.hidden(ids, state)                                    # (N, T, H) (1)-(2)
        logits, = fast.forward_only(linear, h, W_out)(h, W_out, b_out)            # (N, T, V) (3)
        return logits, new_state

    def token_nll(self, ids, targets, state=None):
        """Returns (nats (N, T), new_state): -log p(target) of every token, (3)-(4) fused where the
        engine runs (no logits kept)."""
        W_out, b_out = self.params["out.W"], self.params["out.b"]
        h, new_state = self.hidden(ids, state)                                    # (N, T, H) (1)-(2)
        targets = backend.to_module(targets, backend.array_module(W_out))        # (N, T)
        nats = fast.pick_nll(h, W_out)(h, W_out, b_out, targets)                  # (N, T) (3)-(4)
        return nats, new_state

    def eval_loss(self, ids, targets, state=None):
        """Returns (loss, new_state): ``loss(ids, targets, state)``'s mean cross-entropy (a 0-d
        array) and state at evaluation time, without caches."""
        nats, new_state = self.token_nll(ids, targets, state)
        return nats.mean(), new_state                                             # () (4)

    def backward(self, cache, dloss=1.0):
        """Returns (grads, dstate): the gradient of the loss for every trainable parameter, by
        name, and dstate, the gradient for the initial state (a list over layers like the state,
        of (dh0,) or (dh0, dc0)), for gradient checks."""
        emb_cache, stack_cache, out_cache, ce_cache = cache
        dlogits = softmax_ce.backward(ce_cache, dloss)                           # (N, T, V) (4)
        dh, dWout, dbout = fast.pick(linear, dlogits).backward(dlogits, out_cache)  # (N, T, H) (3)
        train_embed = "embed.W" not in self.frozen
        dx, dstate, dlayers = fast.pick(stack, dh).backward(dh, stack_cache, need_dx=train_embed)  # (2)
        grads = {"out.W": dWout, "out.b": dbout}
        for l, (dWx, dWh, db) in enumerate(dlayers):
            grads[f"rnn.{l}.Wx"], grads[f"rnn.{l}.Wh"], grads[f"rnn.{l}.b"] = dWx, dWh, db
        if train_embed:
            grads["embed.W"] = fast.pick(embed_layer, dx).backward(dx, emb_cache)  # (1)
        return grads, dstate
