"""Optimizers, gradient clipping and learning-rate schedules.

Every optimizer updates a dict ``params`` (name -> array) in place from a dict ``grads`` with the same
names, and writes its running state into ``state_dict()`` so a checkpoint can resume it exactly.
Formulas follow PyTorch's (so the parity tests can compare step for step); g is a gradient, p a parameter:

    SGD       v = μ v + g ;  p -= lr v                       (μ = momentum; plain SGD when μ = 0)
    RMSprop   s = α s + (1-α) g² ;  p -= lr g / (sqrt(s) + ε)
    Adam      m = β1 m + (1-β1) g ;  v = β2 v + (1-β2) g² ;  t += 1
              p -= lr (m / (1-β1^t)) / (sqrt(v / (1-β2^t)) + ε)

Clipping is a separate step between backward and the update, never inside the loss.
Nothing here reads a value back to the host, so a GPU step never synchronises.

Each ``_update`` below is the reference. ``step`` runs the function ``fast.pick_update`` hands it:
``_update`` itself, or for Adam on NumPy arrays with the engine on, the same formula in one pass
over memory (minirnn/fast/adam.py). tests/test_optim.py checks that both give the same numbers.
"""
from __future__ import annotations

import math

from . import fast
from .backend import array_module, to_device, to_numpy

class Optimizer:
    """Base class. ``lr_factors`` (name -> factor, default 1) scales the learning rate of single
    parameters: parameter k is updated with lr * lr_factors[k] (see ``bias_lr_factors``)."""
    slots: tuple = ()  # names of the per-parameter state arrays

    def __init__(self, params: dict, lr: float, lr_factors: dict | None = None):
        if not lr > 0:
            raise ValueError(f"learning rate must be > 0, got {lr}")
        self.params, self.lr, self.t = params, float(lr), 0
        self.lr_factors = {k: float(f) for k, f in (lr_factors or {}).items()}
        unknown = sorted(set(self.lr_factors) - set(params))
        if unknown or not all(f > 0 for f in self.lr_factors.values()):
            raise ValueError(f"lr_factors must name parameters and be > 0, got {lr_factors}")
        self.state = {s: {k: array_module(v).zeros_like(v) for k, v in params.items()} for s in self.slots}

    def step(self, grads: dict) -> None:
        self.t += 1
        base = self.lr
        update = fast.pick_update(self, *self.params.values())  # self._update, or its engine twin
        try:
            for k, g in grads.items():
                self.lr = base * self.lr_factors.get(k, 1.0)   # parameter k's learning rate
                update(k, self.params[k], g)
        finally:
            self.lr = base

    def _update(self, name, p, g):
        raise NotImplementedError

    def state_dict(self) -> tuple[dict, dict]:
        """(JSON-able scalars, name -> NumPy array) for a checkpoint."""
        arrays = {f"{s}.{k}": to_numpy(v) for s in self.slots for k, v in self.state[s].items()}
        return {"type": type(self).__name__, "lr": self.lr, "t": self.t}, arrays

    def load_state_dict(self, scalars: dict, arrays: dict) -> None:
        if scalars.get("type") != type(self).__name__:
            raise ValueError(f"optimizer state is for {scalars.get('type')}, not {type(self).__name__}")
        self.lr, self.t = float(scalars["lr"]), int(scalars["t"])
        for s in self.slots:
            for k in self.state[s]:
                self.state[s][k][...] = to_device(arrays[f"{s}.{k}"])


class SGD(Optimizer):
    slots = ("velocity",)

    def __init__(self, params, lr=0.01, momentum=0.0, lr_factors=None):
        self.momentum = float(momentum)
        super().__init__(params, lr, lr_factors)

    def _update(self, name, p, g):
        v = self.state["velocity"][name]
        v *= self.momentum
        v += g                                   # v = μ v + g
        p -= self.lr * v                         # p -= lr v


class RMSprop(Optimizer):
    slots = ("square_avg",)

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, lr_factors=None):
        self.alpha, self.eps = float(alpha), float(eps)
        super().__init__(params, lr, lr_factors)

    def _update(self, name, p, g):
        xp = array_module(p)
        s = self.state["square_avg"][name]
        s *= self.alpha
        s += (1 - self.alpha) * g * g            # s = α s + (1-α) g²
        p -= self.lr * g / (xp.sqrt(s) + self.eps)


class Adam(Optimizer):
    slots = ("m", "v")

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, lr_factors=None):
        self.beta1, self.beta2 = map(float, betas)
        self.eps = float(eps)
        super().__init__(params, lr, lr_factors)

    def _update(self, name, p, g):
        xp = array_module(p)
        m, v = self.state["m"][name], self.state["v"][name]
        m *= self.beta1
        m += (1 - self.beta1) * g                # m = β1 m + (1-β1) g
        v *= self.beta2
        v += (1 - self.beta2) * g * g            # v = β2 v + (1-β2) g²
        bias1 = 1 - self.beta1 ** self.t         # bias corrections, Python floats
        bias2 = 1 - self.beta2 ** self.t
        p -= (self.lr / bias1) * m / (xp.sqrt(v) / math.sqrt(bias2) + self.eps)


OPTIMIZERS = {"sgd": SGD, "adam": Adam, "rmsprop": RMSprop}


def bias_lr_factors(params: dict, factor: float) -> dict:
    """``lr_factors`` giving every recurrent bias ('rnn.<l>.b') the learning rate lr * factor.

    PyTorch's nn.LSTM / nn.RNN hold two bias vectors, b_ih and b_hh, that enter the gates only as
    their sum b = b_ih + b_hh. Both receive the gradient g of b, so SGD, and Adam (whose update
    depends on g alone), move each by the same step u and their sum by 2u. One bias vector with
    factor 2 takes exactly that trajectory: the same model as PyTorch's, trained as PyTorch trains it,
    as long as gradient clipping does not bind (torch's clip_grad_norm_ counts the two vectors' equal
    gradients twice in the norm, ``global_norm`` here the one vector's once).
    (The factor is one number per array: for the GRU, whose b = [b_r, b_z, b_in, b_hn] holds two
    sums and two single PyTorch biases, it doubles the rate of all four quarters.)
    """
    return {k: factor for k in params if k.startswith("rnn.") and k.endswith(".b")} if factor != 1 else {}


def global_norm(grads: dict):
    """sqrt of the sum of squares of every gradient entry (a 0-d array: no host sync).
    Each sum of squares is a dot product g . g, with no g * g temporary."""
    xp = array_module(*grads.values())
    return xp.sqrt(sum(xp.vdot(g.ravel(), g.ravel()) for g in grads.values()))


def clip_grad_norm(grads: dict, max_norm: float, eps: float = 1e-6):
    """Scale every gradient by min(1, max_norm / (norm + eps)), as torch's clip_grad_norm_.
    Returns the norm before clipping (a 0-d array)."""
    if not grads:
        raise ValueError("clip_grad_norm: no gradients to clip")
    xp = array_module(*grads.values())
    norm = global_norm(grads)
    coef = xp.minimum(max_norm / (norm + eps), 1.0).astype(next(iter(grads.values())).dtype)
    for g in grads.values():
        g *= coef
    return norm


def clip_grad_value(grads: dict, clip: float) -> None:
    """Clamp every gradient entry to [-clip, clip] in place."""
    xp = array_module(*grads.values())
    for g in grads.values():
        xp.clip(g, -clip, clip, out=g)


class StepDecay:
    """lr(it) = base_lr * factor ** (it // every): multiply by ``factor`` every ``every`` iterations.
    Call it with the iteration number and assign the result to ``optimizer.lr``."""

    def __init__(self, base_lr: float, every: int, factor: float = 1.0):
        if every < 1:
            raise ValueError(f"decay interval must be >= 1, got {every}")
        self.base_lr, self.every, self.factor = float(base_lr), int(every), float(factor)

    def __call__(self, it: int) -> float:
        return self.base_lr * self.factor ** (it // self.every)


class WarmupCosine:
    """Linear warm-up, a hold at base_lr, then a half cosine down to base_lr * floor at ``iters``:

        lr(it) = base_lr * (it + 1) / warmup                                  it < warmup
        lr(it) = base_lr                                                      warmup <= it < decay_from
        lr(it) = base_lr * (floor + (1 - floor) (1 + cos(π s)) / 2),
                 s = min(1, (it - decay_from) / (iters - decay_from))         it >= decay_from

    decay_from defaults to warmup (a cosine over the whole run after the warm-up); a later one keeps
    the peak rate for most of the run and decays only at its end. ``it`` counts iterations done
    (0 for the first update), so lr(it) is a function of the iteration alone and a resumed run
    takes the same values. Past ``iters`` it stays at the floor.
    """

    def __init__(self, base_lr: float, iters: int, warmup: int = 0, floor: float = 0.0,
                 decay_from: int | None = None):
        decay_from = warmup if decay_from is None else decay_from
        if not 0 <= warmup <= decay_from < iters:
            raise ValueError(f"need 0 <= warm-up <= decay start < iters, got {warmup}, {decay_from}, {iters}")
        if not 0 <= floor <= 1:
            raise ValueError(f"floor must be in [0, 1], got {floor}")
        self.base_lr, self.iters, self.warmup, self.floor = float(base_lr), int(iters), int(warmup), float(floor)
        self.decay_from = int(decay_from)

    def __call__(self, it: int) -> float:
        if it < self.warmup:
            return self.base_lr * (it + 1) / self.warmup
        s = max(0.0, min(1.0, (it - self.decay_from) / (self.iters - self.decay_from)))
        return self.base_lr * (self.floor + (1 - self.floor) * 0.5 * (1 + math.cos(math.pi * s)))
