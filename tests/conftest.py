"""Shared fixtures: every backend-parametrized test runs three ways: on numpy, on the strict CuPy
stand-in (tests/standin, always), and on cupy where a GPU exists."""
import importlib.util
import os
import sys

import numpy as np
import pytest

from minirnn import backend, fast

STANDIN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "standin")


def _load_standin():
    """tests/standin/cupy_standin.py as the module ``cupy_standin`` (never as ``cupy``: a real CuPy,
    where one is installed, keeps that name)."""
    if "cupy_standin" not in sys.modules:
        spec = importlib.util.spec_from_file_location("cupy_standin",
                                                      os.path.join(STANDIN_DIR, "cupy_standin.py"))
        mod = importlib.util.module_from_spec(spec)
        sys.modules["cupy_standin"] = mod
        spec.loader.exec_module(mod)
    return sys.modules["cupy_standin"]


standin_module = _load_standin()

BACKEND_PARAMS = [
    pytest.param("numpy", id="numpy"),
    pytest.param("standin", id="standin"),
    pytest.param("cupy", id="cupy", marks=pytest.mark.skipif(
        not backend.gpu_available(), reason="cupy backend needs CuPy and an NVIDIA GPU")),
]


@pytest.fixture
def standin(monkeypatch):
    """The backend's CuPy replaced by the stand-in (restored after the test), its counters zeroed.
    Select it with ``backend.use_backend("cupy")``; the ``xp`` fixture's "standin" case does."""
    monkeypatch.setattr(backend, "_cupy", standin_module)
    monkeypatch.setattr(backend, "_cupyx", standin_module.cupyx, raising=False)
    standin_module.reset_counters()
    return standin_module


@pytest.fixture(params=BACKEND_PARAMS)
def xp(request):
    """The array module of each backend, selected for the duration of the test: numpy, the
    stand-in (backend 'cupy' on tests/standin) and, where a GPU exists, cupy."""
    name = request.param
    if name == "standin":
        request.getfixturevalue("standin")
        name = "cupy"
    with backend.use_backend(name) as mod:
        yield mod


def standin_env(env=None):
    """Environment for a subprocess in which ``import cupy`` / ``import cupyx`` give the stand-in."""
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join([STANDIN_DIR] + [p for p in [env.get("PYTHONPATH")] if p])
    return env


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


# ---- tests marked slow (minutes each) run only when asked: `python -m pytest --run-slow` or `-m slow`
def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", help="also run the tests marked slow (minutes each)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow") or "slow" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow (or -m slow)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
