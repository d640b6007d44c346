"""The CuPy stand-in itself (tests/standin): it refuses what CuPy refuses (and the implicit reads CuPy
allows), counts transfers, and computes what NumPy computes. A stand-in that let a host read or a
NumPy/device mix through would make every device test here vacuous."""
import operator
import subprocess
import sys

import numpy as np
import pytest

from conftest import standin_env, standin_module as cp


@pytest.fixture(autouse=True)
def zeroed():
    cp.reset_counters()


def test_implicit_reads_are_refused():
    a = cp.arange(6, dtype=np.float32).reshape(2, 3)
    s = a.sum()
    for read in (np.asarray, float, int, bool, complex, operator.index, list, lambda x: x.item(),
                 lambda x: x.tolist(), lambda x: range(5)[x], lambda x: 1 if x else 0):
        with pytest.raises(TypeError):
            read(s)
    with pytest.raises(TypeError):
        np.asarray(a)
    assert cp.counters["d2h"] == 0


def test_numpy_and_device_do_not_mix():
    a, h = cp.ones(3), np.ones(3)
    for mix in (lambda: a + h, lambda: h + a, lambda: a * h, lambda: h < a, lambda: a @ np.eye(3),
                lambda: cp.exp(h), lambda: cp.concatenate([a, h]), lambda: np.concatenate([a, a]),
                lambda: np.sum(a), lambda: np.add(h, a)):
        with pytest.raises(TypeError):
            mix()
    # scalars mix, as on CuPy; host index arrays and assigned values are copied over
    assert isinstance(np.float32(2) * a + 1, cp.ndarray)
    a[np.array([0, 2])] = np.array([5.0, 6.0])
    assert cp.counters["h2d"] == 2
    assert np.array_equal(a.get(), [5, 1, 6]) and cp.counters["d2h"] == 1


def test_reads_are_counted_and_values_are_numpys():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 5))
    d = cp.asarray(x)
    assert cp.counters["h2d"] == 1 and isinstance(d, cp.ndarray) and d is not x
    y = cp.tanh(d @ d.T).sum(axis=1)
    assert np.array_equal(cp.asnumpy(y), np.tanh(x @ x.T).sum(axis=1))
    assert isinstance(d.sum(), cp.ndarray) and d.sum().shape == ()      # 0-d, not a host scalar
    d[d > 0]                                                             # data-dependent size: a sync
    cp.flatnonzero(d)
    assert cp.counters["d2h"] == 3
    assert cp.asnumpy(x) is not None and cp.counters["d2h"] == 3         # a host array: no transfer


def test_scatter_add_sums_repeats_and_random_and_cuda():
    a = cp.zeros((3, 2))
    cp.cupyx.scatter_add(a, cp.asarray(np.array([0, 0, 2])), cp.ones((3, 2)))
    assert np.array_equal(a.get(), [[2, 2], [0, 0], [1, 1]])
    with pytest.raises(TypeError):
        cp.cupyx.scatter_add(np.zeros(3), np.array([0]), cp.ones(1))
    g = cp.random.default_rng(1)
    u = g.random((2, 3), dtype=np.float32)
    assert isinstance(u, cp.ndarray) and u.dtype == np.float32 and cp.counters["generators"] == 1
    assert cp.cuda.runtime.getDeviceCount() == 1 and "name" in cp.cuda.runtime.getDeviceProperties(0)
    cp.cuda.Device().synchronize()


def test_installs_as_cupy_in_a_subprocess():
    code = ("import cupy, cupyx, numpy as np; a = cupy.ones(2); cupyx.scatter_add(a, np.array([0, 0]), "
            "cupy.ones(2)); print(type(a).__module__, cupy.asnumpy(a).tolist())")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=standin_env())
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["cupy_standin", "[3.0,", "1.0]"]
