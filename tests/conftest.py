"""Shared fixtures: every backend-parametrized test runs on numpy, and on cupy where a GPU exists."""
import numpy as np
import pytest

from minirnn import backend, fast

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


@pytest.fixture(scope="module")
def book():
    """Run a module's tests on the book alone (minirnn/layers): the engine off, restored after.
    Module-scoped so that hypothesis tests can use it (``pytestmark = usefixtures("book")``)."""
    previous = fast.set_enabled(False)
    yield
    fast.set_enabled(previous)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def tiny_text(tmp_path):
    """A 3.4k-character UTF-8 text file (helpers.TINY): enough windows for the small pipelines."""
    from helpers import TINY
    p = tmp_path / "tiny.txt"
    p.write_text(TINY, encoding="utf-8")
    return str(p)
