"""Optimizers, clipping and the learning-rate schedule.

Each optimizer is checked against its update formula written out below, step by step (these run on
every backend: the device result is compared with the NumPy formula), and against torch.optim for
several steps where PyTorch is installed. clip_grad_norm is compared with
torch.nn.utils.clip_grad_norm_.
"""
import math

import numpy as np
import pytest

from minirnn import backend
from minirnn.optim import (OPTIMIZERS, SGD, Adam, RMSprop, StepDecay, WarmupCosine, bias_lr_factors,
                           clip_grad_norm, clip_grad_value, global_norm)

SHAPES = {"W": (3, 4), "b": (4,)}
STEPS = 3


def start(seed=0):
    """Random float64 parameters and a sequence of STEPS random gradient dicts, on the host."""
    rng = np.random.default_rng(seed)
    params = {k: rng.standard_normal(s) for k, s in SHAPES.items()}
    grads = [{k: rng.standard_normal(s) for k, s in SHAPES.items()} for _ in range(STEPS)]
    return params, grads


def on_device(d):
    """Copies on the selected backend (to_device does not copy a NumPy array already there)."""
    return {k: backend.to_device(v.copy(), dtype=np.float64) for k, v in d.items()}


def run_ours(cls, kw, params, grads):
    p = on_device(params)
    opt = cls(p, **kw)
    for g in grads:
        opt.step(on_device(g))
    assert opt.t == len(grads)
    return {k: backend.to_numpy(v) for k, v in p.items()}


# ---- the update formulas, by hand ---------------------------------------------------------------
def sgd_by_hand(params, grads, lr, momentum):
    p = {k: v.copy() for k, v in params.items()}
    vel = {k: np.zeros_like(v) for k, v in params.items()}
    for g in grads:
        for k in p:
            vel[k] = momentum * vel[k] + g[k]                        # v = μ v + g
            p[k] = p[k] - lr * vel[k]                                # p -= lr v
    return p


def rmsprop_by_hand(params, grads, lr, alpha, eps):
    p = {k: v.copy() for k, v in params.items()}
    s = {k: np.zeros_like(v) for k, v in params.items()}
    for g in grads:
        for k in p:
            s[k] = alpha * s[k] + (1 - alpha) * g[k] ** 2            # s = α s + (1-α) g²
            p[k] = p[k] - lr * g[k] / (np.sqrt(s[k]) + eps)
    return p


def adam_by_hand(params, grads, lr, b1, b2, eps):
    p = {k: v.copy() for k, v in params.items()}
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v = {k: np.zeros_like(x) for k, x in params.items()}
    for t, g in enumerate(grads, start=1):
        for k in p:
            m[k] = b1 * m[k] + (1 - b1) * g[k]
            v[k] = b2 * v[k] + (1 - b2) * g[k] ** 2
            m_hat = m[k] / (1 - b1 ** t)
            v_hat = v[k] / (1 - b2 ** t)
            p[k] = p[k] - lr * m_hat / (np.sqrt(v_hat) + eps)
    return p


CASES = {
    "sgd": (SGD, dict(lr=0.1), lambda p, g: sgd_by_hand(p, g, 0.1, 0.0)),
    "sgd_momentum": (SGD, dict(lr=0.1, momentum=0.9), lambda p, g: sgd_by_hand(p, g, 0.1, 0.9)),
    "rmsprop": (RMSprop, dict(lr=0.01, alpha=0.9, eps=1e-6),
                lambda p, g: rmsprop_by_hand(p, g, 0.01, 0.9, 1e-6)),
    "adam": (Adam, dict(lr=0.01, betas=(0.8, 0.95), eps=1e-6),
             lambda p, g: adam_by_hand(p, g, 0.01, 0.8, 0.95, 1e-6)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_matches_hand_computed_steps(xp, case):
    cls, kw, by_hand = CASES[case]
    params, grads = start()
    got = run_ours(cls, kw, params, grads)
    ref = by_hand(params, grads)
    for k in params:
        assert not np.allclose(ref[k], params[k])                    # the steps moved something
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-13, atol=1e-15)


def test_sgd_first_step_exact():
    p = {"w": np.array([1.0, -2.0])}
    SGD(p, lr=0.5, momentum=0.9).step({"w": np.array([0.2, 0.4])})
    assert np.array_equal(p["w"], [0.9, -2.2])                       # first step: v = g


def test_adam_first_step_is_lr_times_sign():
    """After one step the bias-corrected m/sqrt(v) is g/|g|: each entry moves by lr (up to eps)."""
    g = np.array([3.0, -0.001, 50.0])
    p = {"w": np.zeros(3)}
    Adam(p, lr=0.01, eps=1e-12).step({"w": g})
    np.testing.assert_allclose(p["w"], -0.01 * np.sign(g), rtol=1e-8)


def test_updates_in_place_and_skips_missing_grads():
    params, grads = start(1)
    W = params["W"]
    frozen = params["b"].copy()
    opt = Adam(params, lr=0.1)
    opt.step({"W": grads[0]["W"]})                                   # a frozen 'b' gets no gradient
    assert params["W"] is W and not np.allclose(W, start(1)[0]["W"])
    assert np.array_equal(params["b"], frozen)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
@pytest.mark.parametrize("lr", [0.0, -1e-3, float("nan")])
def test_bad_learning_rate_raises(name, lr):
    with pytest.raises(ValueError, match="learning rate"):
        OPTIMIZERS[name]({"w": np.zeros(2)}, lr=lr)


@pytest.mark.parametrize("case", list(CASES))
def test_state_dict_round_trip(case):
    cls, kw, _ = CASES[case]
    params, grads = start(2)
    a_params = {k: v.copy() for k, v in params.items()}
    a = cls(a_params, **kw)
    for g in grads[:2]:
        a.step(g)
    scalars, arrays = a.state_dict()
    assert scalars["t"] == 2 and scalars["type"] == cls.__name__
    # a fresh optimizer on a copy of the parameters, resumed from the checkpoint
    b_params = {k: v.copy() for k, v in a_params.items()}
    b = cls(b_params, **kw)
    b.load_state_dict(dict(scalars), {k: v.copy() for k, v in arrays.items()})
    assert b.t == a.t and b.lr == a.lr
    a.step(grads[2])
    b.step(grads[2])
    for k in params:
        assert np.array_equal(a_params[k], b_params[k])
    # a checkpoint from another optimizer is refused
    other = SGD if cls is not SGD else Adam
    with pytest.raises(ValueError, match=cls.__name__):
        other({k: v.copy() for k, v in params.items()}, lr=0.1).load_state_dict(scalars, arrays)


def test_state_dict_resume_differs_from_fresh():
    """The running state matters: without loading it, the next step differs (Adam's t and moments)."""
    params, grads = start(3)
    a = Adam({k: v.copy() for k, v in params.items()}, lr=0.1)
    a.step(grads[0])
    fresh = Adam({k: v.copy() for k, v in a.params.items()}, lr=0.1)
    a.step(grads[1])
    fresh.step(grads[1])
    assert not np.allclose(a.params["W"], fresh.params["W"])


# ---- per-parameter learning-rate factors -----------------------------------------------------------
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_bias_factor_two_trains_the_sum_of_two_biases(name):
    """One bias with factor 2 follows b_ih + b_hh, two biases that each get b's gradient (PyTorch's
    LSTM), step for step; the other parameters are untouched by the factor."""
    params, grads = start(7)
    cls = OPTIMIZERS[name]
    b_ih, b_hh = params["b"], np.random.default_rng(8).standard_normal(SHAPES["b"])
    one = {"W": params["W"].copy(), "b": b_ih + b_hh}
    two = {"W": params["W"].copy(), "b_ih": b_ih.copy(), "b_hh": b_hh.copy()}
    opt1 = cls(one, lr=0.05, lr_factors={"b": 2.0})
    opt2 = cls(two, lr=0.05)
    for g in grads:
        opt1.step({"W": g["W"].copy(), "b": g["b"].copy()})
        opt2.step({"W": g["W"].copy(), "b_ih": g["b"].copy(), "b_hh": g["b"].copy()})
        assert opt1.lr == 0.05                                       # the base rate is restored
    np.testing.assert_allclose(one["b"], two["b_ih"] + two["b_hh"], rtol=1e-13, atol=1e-13)
    np.testing.assert_array_equal(one["W"], two["W"])
    plain = run_ours(cls, dict(lr=0.05), params, grads)              # factor 1 changes nothing else
    np.testing.assert_array_equal(one["W"], plain["W"])


def test_lr_factor_scales_the_first_adam_step():
    p = {"W": np.zeros(3), "b": np.zeros(3)}
    Adam(p, lr=0.1, lr_factors={"b": 3.0}).step({"W": np.ones(3), "b": -np.ones(3)})
    np.testing.assert_allclose(p["W"], -0.1, rtol=1e-6)              # lr * sign(g)
    np.testing.assert_allclose(p["b"], 0.3, rtol=1e-6)               # 3 lr * sign(-g)


def test_bias_lr_factors_names_the_recurrent_biases_only():
    names = ["embed.W", "rnn.0.Wx", "rnn.0.Wh", "rnn.0.b", "rnn.1.b", "out.W", "out.b"]
    params = dict.fromkeys(names, np.zeros(1))
    assert bias_lr_factors(params, 2.0) == {"rnn.0.b": 2.0, "rnn.1.b": 2.0}
    assert bias_lr_factors(params, 1.0) == {}
    with pytest.raises(ValueError):
        Adam({"b": np.zeros(2)}, lr=0.1, lr_factors={"c": 2.0})        # no such parameter
    with pytest.raises(ValueError):
        Adam({"b": np.zeros(2)}, lr=0.1, lr_factors={"b": 0.0})


# ---- clipping -----------------------------------------------------------------------------------
def test_global_norm(xp):
    g = {"a": backend.to_device(np.array([3.0, 0.0])), "b": backend.to_device(np.array([[4.0]]))}
    assert float(backend.to_numpy(global_norm(g))) == 5.0


def test_clip_grad_norm_scales_in_place_and_returns_pre_clip_norm(xp):
    _, grads = start(4)
    g = on_device(grads[0])
    ids = {k: id(v) for k, v in g.items()}
    norm_before = math.sqrt(sum((v ** 2).sum() for v in grads[0].values()))
    ret = clip_grad_norm(g, max_norm=1.0)
    assert float(backend.to_numpy(ret)) == pytest.approx(norm_before, rel=1e-14)
    assert {k: id(v) for k, v in g.items()} == ids                   # the same arrays, scaled
    coef = 1.0 / (norm_before + 1e-6)
    for k in g:
        np.testing.assert_allclose(backend.to_numpy(g[k]), grads[0][k] * coef, rtol=1e-14)
    assert float(backend.to_numpy(global_norm(g))) == pytest.approx(1.0, rel=1e-5)


def test_clip_grad_norm_under_max_is_noop():
    _, grads = start(5)
    g = {k: v.copy() for k, v in grads[0].items()}
    norm = float(clip_grad_norm(g, max_norm=1e3))
    assert norm < 1e3
    for k in g:
        assert np.array_equal(g[k], grads[0][k])


def test_clip_grad_norm_keeps_float32():
    g = {"w": np.full(4, 10.0, dtype=np.float32)}
    clip_grad_norm(g, 1.0)
    assert g["w"].dtype == np.float32
    assert abs(float(np.linalg.norm(g["w"])) - 1.0) < 1e-5


def test_clip_grad_value_clamps_in_place(xp):
    _, grads = start(6)
    g = on_device(grads[0])
    W = g["W"]
    clip_grad_value(g, 0.5)
    assert g["W"] is W
    for k in g:
        got = backend.to_numpy(g[k])
        assert np.array_equal(got, np.clip(grads[0][k], -0.5, 0.5))
        assert np.abs(got).max() <= 0.5


# ---- schedule -----------------------------------------------------------------------------------
def test_step_decay():
    sched = StepDecay(0.1, every=3, factor=0.5)
    assert [sched(it) for it in range(8)] == pytest.approx(
        [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025], rel=1e-15)
    assert StepDecay(0.2, every=1)(100) == 0.2                       # factor 1: constant
    with pytest.raises(ValueError):
        StepDecay(0.1, every=0)


def test_warmup_cosine_values():
    s = WarmupCosine(1.0, iters=12, warmup=4, floor=0.1)
    assert [s(it) for it in range(4)] == pytest.approx([0.25, 0.5, 0.75, 1.0], rel=1e-15)  # warm-up
    assert s(4) == 1.0                                               # the peak, then the half cosine
    assert s(8) == pytest.approx(0.1 + 0.9 * 0.5, rel=1e-15)         # halfway: (1 + cos(π/2)) / 2
    assert s(12) == pytest.approx(0.1, rel=1e-15) and s(50) == pytest.approx(0.1, rel=1e-15)
    values = [s(it) for it in range(4, 13)]
    assert all(a > b for a, b in zip(values, values[1:]))          # decreasing after the warm-up
    held = WarmupCosine(1.0, iters=12, warmup=2, floor=0.0, decay_from=8)   # hold, then decay
    assert [held(it) for it in range(9)] == pytest.approx([0.5, 1, 1, 1, 1, 1, 1, 1, 1], rel=1e-15)
    assert held(10) == pytest.approx(0.5, rel=1e-15) and held(12) == pytest.approx(0.0, abs=1e-15)
    assert WarmupCosine(0.5, iters=10)(0) == 0.5                     # no warm-up: starts at the peak
    assert WarmupCosine(0.5, iters=10, floor=1.0)(7) == 0.5          # floor 1: constant
    for bad in (dict(iters=10, warmup=10), dict(iters=10, warmup=-1), dict(iters=10, floor=1.5),
                dict(iters=10, warmup=4, decay_from=3), dict(iters=10, decay_from=10)):
        with pytest.raises(ValueError):
            WarmupCosine(1.0, **bad)


# ---- PyTorch ------------------------------------------------------------------------------------
def _torch():
    return pytest.importorskip("torch", reason="PyTorch is not installed: the parity tests need it")


TORCH_CASES = {
    "sgd": (SGD, dict(lr=0.1), "SGD", dict(lr=0.1)),
    "sgd_momentum": (SGD, dict(lr=0.1, momentum=0.9), "SGD", dict(lr=0.1, momentum=0.9)),
    "rmsprop": (RMSprop, dict(lr=0.01, alpha=0.9, eps=1e-6), "RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-6)),
    "adam": (Adam, dict(lr=0.01, betas=(0.8, 0.95), eps=1e-6), "Adam",
             dict(lr=0.01, betas=(0.8, 0.95), eps=1e-6)),
}


@pytest.mark.torch
@pytest.mark.parametrize("case", list(TORCH_CASES))
def test_matches_torch_optim(case):
    torch = _torch()
    cls, kw, tname, tkw = TORCH_CASES[case]
    rng = np.random.default_rng(7)
    params = {k: rng.standard_normal(s) for k, s in SHAPES.items()}
    grads = [{k: rng.standard_normal(s) for k, s in SHAPES.items()} for _ in range(6)]
    tp = {k: torch.tensor(v.copy(), dtype=torch.float64, requires_grad=True) for k, v in params.items()}
    topt = getattr(torch.optim, tname)(list(tp.values()), **tkw)
    ours = cls(params, **kw)
    for g in grads:
        ours.step(g)
        for k, t in tp.items():
            t.grad = torch.tensor(g[k], dtype=torch.float64)
        topt.step()
        for k in params:
            np.testing.assert_allclose(params[k], tp[k].detach().numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.torch
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_matches_torch(max_norm):
    torch = _torch()
    _, grads = start(8)
    ours = {k: v.copy() for k, v in grads[0].items()}
    tp = [torch.zeros(v.shape, dtype=torch.float64, requires_grad=True) for v in grads[0].values()]
    for t, v in zip(tp, grads[0].values()):
        t.grad = torch.tensor(v, dtype=torch.float64)
    tnorm = torch.nn.utils.clip_grad_norm_(tp, max_norm)
    norm = clip_grad_norm(ours, max_norm)
    assert float(norm) == pytest.approx(tnorm.item(), rel=1e-14)
    for (k, g), t in zip(ours.items(), tp):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-14, atol=0)


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 1e-6)], ids=["f64", "f32"])
def test_adam_fused_matches_numpy_formula(monkeypatch, dtype, tol):
    """The engine's one-pass Numba Adam (minirnn/fast/adam.py) against the book's in-place NumPy
    lines, over several steps, in float64 and float32: parameters and both moment buffers."""
    from minirnn import fast
    rng = np.random.default_rng(5)
    shapes = {"W": (7, 9), "b": (9,), "big": (300, 17)}
    params0 = {k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()}
    grads = [{k: (rng.standard_normal(s) * 10.0 ** rng.integers(-4, 2)).astype(dtype)
              for k, s in shapes.items()} for _ in range(5)]
    runs = []
    for fused in (False, True):
        monkeypatch.setattr(fast, "ENABLED", fused)
        params = {k: v.copy() for k, v in params0.items()}
        opt = Adam(params, lr=1e-2)
        for g in grads:
            opt.step({k: v.copy() for k, v in g.items()})
        runs.append((params, opt.state))
    (p_ref, s_ref), (p_fast, s_fast) = runs
    for k in shapes:
        for a, r in ((p_fast[k], p_ref[k]), (s_fast["m"][k], s_ref["m"][k]), (s_fast["v"][k], s_ref["v"][k])):
            assert a.dtype == r.dtype
            assert np.max(np.abs(a - r) / np.maximum(np.abs(r), 1e-30)) < tol, k
