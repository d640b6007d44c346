"""The backend switch: selection (function, context manager, MINIRNN_BACKEND), errors for unknown or
unusable backends, the host/device edges, and scatter_add.

The selection is module state (``backend._selected``, read from the environment on first use); every
test here that touches it goes through the ``fresh`` fixture, which clears it and the environment
variable with monkeypatch, so the original selection is restored whatever the test does.
"""
import os

import numpy as np
import pytest

from minirnn import backend
from minirnn.backend import BackendError

HAS_GPU = backend.gpu_available()


@pytest.fixture
def fresh(monkeypatch):
    """No backend chosen yet and no MINIRNN_BACKEND; both restored after the test."""
    monkeypatch.setattr(backend, "_selected", None)
    monkeypatch.delenv("MINIRNN_BACKEND", raising=False)
    return monkeypatch


def test_default_is_numpy(fresh):
    assert backend.get_backend() == "numpy"
    assert backend.xp() is np
    assert "numpy" in backend.available_backends()
    assert backend.describe()["backend"] == "numpy"


def test_set_backend_returns_previous(fresh):
    assert backend.set_backend("numpy") == "numpy"
    assert backend.get_backend() == "numpy"
    if HAS_GPU:
        assert backend.set_backend("cupy") == "numpy"
        assert backend.set_backend("numpy") == "cupy"


def test_use_backend_restores(fresh):
    target = "cupy" if HAS_GPU else "numpy"
    backend._selected = "numpy"
    with backend.use_backend(target) as mod:
        assert backend.get_backend() == target
        assert mod is backend.xp()
    assert backend.get_backend() == "numpy"
    # restored on an exception too
    with pytest.raises(KeyError):
        with backend.use_backend(target):
            raise KeyError("boom")
    assert backend.get_backend() == "numpy"


def test_use_backend_restores_previous_non_default(fresh):
    """The context manager restores whatever was selected before, not the default."""
    fresh.setattr(backend, "gpu_available", lambda: True)
    fresh.setattr(backend, "_cupy", object())                # pretend: only the name is checked here
    backend._selected = "cupy"
    with backend.use_backend("numpy") as mod:
        assert mod is np and backend.get_backend() == "numpy"
    assert backend._selected == "cupy"


@pytest.mark.parametrize("value", ["numpy", " NumPy ", ""])
def test_env_var_selects_numpy(fresh, value):
    fresh.setenv("MINIRNN_BACKEND", value)
    assert backend.get_backend() == "numpy"


def test_env_var_read_once_then_cached(fresh):
    fresh.setenv("MINIRNN_BACKEND", "numpy")
    assert backend.get_backend() == "numpy"
    fresh.setenv("MINIRNN_BACKEND", "nonsense")              # already chosen: not read again
    assert backend.get_backend() == "numpy"


def test_env_var_unknown_raises(fresh):
    fresh.setenv("MINIRNN_BACKEND", "tensorflow")
    with pytest.raises(BackendError, match="unknown backend 'tensorflow'"):
        backend.get_backend()


def test_set_unknown_backend_raises_and_keeps_selection(fresh):
    backend.set_backend("numpy")
    with pytest.raises(BackendError, match="unknown backend") as info:
        backend.set_backend("jax")
    assert "numpy" in str(info.value) and "cupy" in str(info.value)   # names the choices
    assert backend.get_backend() == "numpy"
    with pytest.raises(BackendError):
        with backend.use_backend("jax"):
            pass
    assert backend.get_backend() == "numpy"
    assert issubclass(BackendError, RuntimeError)


@pytest.mark.skipif(HAS_GPU, reason="a GPU exists here: cupy is a valid backend")
def test_cupy_unavailable_here_raises(fresh):
    with pytest.raises(BackendError, match=r"cuda12|GPU"):
        backend.set_backend("cupy")
    assert backend.get_backend() == "numpy"
    fresh.setattr(backend, "_selected", None)
    fresh.setenv("MINIRNN_BACKEND", "cupy")
    with pytest.raises(BackendError, match=r"cuda12|GPU"):
        backend.get_backend()


def test_cupy_missing_message_names_the_extra(fresh):
    fresh.setattr(backend, "_cupy", None)
    assert backend.gpu_available() is False
    assert backend.available_backends() == ["numpy"]
    with pytest.raises(BackendError) as info:
        backend.set_backend("cupy")
    # the install commands exactly as docs/gpu.md gives them
    assert 'pip install -e ".[cuda12]"' in str(info.value) and 'pip install -e ".[cuda13]"' in str(info.value)
    with open(os.path.join(os.path.dirname(__file__), "..", "docs", "gpu.md")) as f:
        doc = f.read()
    assert 'pip install -e ".[cuda12]"' in doc and 'pip install -e ".[cuda13]"' in doc


def test_cupy_without_gpu_message_names_the_gpu(fresh):
    fresh.setattr(backend, "_cupy", object())                # CuPy importable ...
    fresh.setattr(backend, "gpu_available", lambda: False)   # ... but no device
    with pytest.raises(BackendError, match="GPU"):
        backend.set_backend("cupy")


# ---- host/device edges --------------------------------------------------------------------------
def test_to_device_to_numpy_round_trip(xp):
    a = np.arange(12, dtype=np.float64).reshape(3, 4)
    d = backend.to_device(a)
    assert isinstance(d, xp.ndarray) and backend.array_module(d) is xp
    assert backend.is_device_array(d) == (xp is not np)
    back = backend.to_numpy(d)
    assert isinstance(back, np.ndarray) and np.array_equal(back, a) and back.dtype == a.dtype
    d32 = backend.to_device(a, dtype=np.float32)
    assert d32.dtype == np.float32 and np.array_equal(backend.to_numpy(d32), a.astype(np.float32))
    assert np.array_equal(backend.to_numpy(backend.to_device([1, 2, 3])), [1, 2, 3])


def test_to_module_moves_only_across(xp):
    a = np.arange(6).reshape(2, 3)
    d = backend.to_module(a, xp)
    assert isinstance(d, xp.ndarray) and np.array_equal(backend.to_numpy(d), a)
    assert backend.to_module(d, xp) is d or xp is np                     # already there: no copy
    h = backend.to_module(d, np, dtype=np.float32)
    assert isinstance(h, np.ndarray) and h.dtype == np.float32 and np.array_equal(h, a)


def test_to_numpy_passes_host_values_through():
    a = np.ones(3)
    assert backend.to_numpy(a) is a
    assert backend.to_numpy(2.5) == 2.5
    assert backend.array_module(a, a) is np


def test_scatter_add_repeated_indices(xp):
    rng = np.random.default_rng(0)
    idx = np.array([0, 2, 2, 4, 0, 0, 1])                    # 0 three times, 2 twice, 3 never
    vals = rng.standard_normal((len(idx), 3))
    a = backend.to_device(np.ones((5, 3)))
    backend.scatter_add(a, backend.to_device(idx), backend.to_device(vals))
    ref = np.ones((5, 3))
    for k, i in enumerate(idx):
        ref[i] += vals[k]
    got = backend.to_numpy(a)
    np.testing.assert_allclose(got, ref, rtol=1e-14)
    assert np.array_equal(got[3], np.ones(3))
    # plain fancy-index += would keep only one of the repeated rows: scatter_add must not
    assert not np.allclose(got[0], 1 + vals[6])


def test_default_rng_is_on_selected_backend(xp):
    r1 = backend.to_numpy(backend.default_rng(3).random(4))
    r2 = backend.to_numpy(backend.default_rng(3).random(4))
    assert np.array_equal(r1, r2) and r1.shape == (4,)
