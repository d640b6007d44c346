"""Optimizers, gradient clipping and a learning-rate schedule.

Every optimizer updates a dict ``params`` (name -> array) in place from a dict ``grads`` with the same
names, and writes its running state into ``state_dict()`` so a checkpoint can resume it exactly.
Formulas follow PyTorch's (so the parity tests can compare step for step); g is a gradient, p a parameter:

    SGD       v = μ v + g ;  p -= lr v                       (μ = momentum; plain SGD when μ = 0)
    RMSprop   s = α s + (1-α) g² ;  p -= lr g / (sqrt(s) + ε)
    Adam      m = β1 m + (1-β1) g ;  v = β2 v + (1-β2) g² ;  t += 1
              p -= lr (m / (1-β1^t)) / (sqrt(v / (1-β2^t)) + ε)

Clipping is a separate step between backward and the update, never inside the loss.
Nothing here reads a value back to the host, so a GPU step never synchronises.

Adam on NumPy arrays runs the same formula in one pass over memory in the engine
(minirnn/fast/adam.py) when ``fast.runs`` says the engine is on; the lines below are the reference,
and what runs on CuPy. tests/test_optim.py checks that both give the same numbers.
"""
from __future__ import annotations

import math

import numpy as np

from . import fast
from .backend import array_module, to_device, to_numpy

class Optimizer:
    slots: tuple = ()  # names of the per-parameter state arrays

    def __init__(self, params: dict, lr: float):
        if not lr > 0:
            raise ValueError(f"learning rate must be > 0, got {lr}")
        self.params, self.lr, self.t = params, float(lr), 0
        self.state = {s: {k: array_module(v).zeros_like(v) for k, v in params.items()} for s in self.slots}

    def step(self, grads: dict) -> None:
        self.t += 1
        for k, g in grads.items():
            self._update(k, self.params[k], g)

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

    def __init__(self, params, lr=0.01, momentum=0.0):
        self.momentum = float(momentum)
        super().__init__(params, lr)

    def _update(self, name, p, g):
        v = self.state["velocity"][name]
        v *= self.momentum
        v += g                                   # v = μ v + g
        p -= self.lr * v                         # p -= lr v


class RMSprop(Optimizer):
    slots = ("square_avg",)

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8):
        self.alpha, self.eps = float(alpha), float(eps)
        super().__init__(params, lr)

    def _update(self, name, p, g):
        xp = array_module(p)
        s = self.state["square_avg"][name]
        s *= self.alpha
        s += (1 - self.alpha) * g * g            # s = α s + (1-α) g²
        p -= self.lr * g / (xp.sqrt(s) + self.eps)


class Adam(Optimizer):
    slots = ("m", "v")

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8):
        self.beta1, self.beta2 = map(float, betas)
        self.eps = float(eps)
        super().__init__(params, lr)

    def _update(self, name, p, g):
        xp = array_module(p)
        m, v = self.state["m"][name], self.state["v"][name]
        if fast.runs(p) and fast.adam.update(p, g, m, v, self.t, self.lr, self.beta1, self.beta2, self.eps):
            return                               # the lines below, in one pass (minirnn/fast/adam.py)
        m *= self.beta1
        m += (1 - self.beta1) * g                # m = β1 m + (1-β1) g
        v *= self.beta2
        v += (1 - self.beta2) * g * g            # v = β2 v + (1-β2) g²
        bias1 = 1 - self.beta1 ** self.t         # bias corrections, Python floats
        bias2 = 1 - self.beta2 ** self.t
        p -= (self.lr / bias1) * m / (xp.sqrt(v) / math.sqrt(bias2) + self.eps)


OPTIMIZERS = {"sgd": SGD, "adam": Adam, "rmsprop": RMSprop}


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
