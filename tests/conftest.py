"""Shared fixtures: every backend-parametrized test runs on numpy, and on cupy where a GPU exists."""
import numpy as np
import pytest

from minirnn import backend

BACKEND_PARAMS = [
    pytest.param("numpy", id="numpy"),
    pytest.param("cupy", id="cupy", marks=pytest.mark.skipif(
        not backend.gpu_available(), reason="cupy backend needs CuPy and an NVIDIA GPU")),
]


@pytest.fixture(params=BACKEND_PARAMS)
def xp(request):
    """The array module of each available backend, selected for the duration of the test."""
    with backend.use_backend(request.param) as mod:
        yield mod


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
