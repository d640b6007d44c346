"""The one backend switch: NumPy on the CPU, CuPy on an NVIDIA GPU.

This is the only module in minirnn that imports CuPy. Everything else asks it for the array
module and writes its math once against that module, conventionally named ``xp``::

    from minirnn import backend
    xp = backend.xp()                 # numpy or cupy, whichever is selected
    xp = backend.array_module(a)      # the module that owns array `a`

The backend is chosen, in order of precedence, by

* ``with backend.use_backend("cupy"): ...``   (a context manager, restores the old one on exit)
* ``backend.set_backend("cupy")``             (a function)
* the environment variable ``MINIRNN_BACKEND=numpy|cupy``
* the default, ``numpy``.

Arrays cross between host and device only at the edges, with ``to_numpy`` and ``to_device`` (and
``to_module``, to join arrays wherever those already live).
Training runs in float32 (``DEFAULT_DTYPE``); gradient checks run in float64.
"""
from __future__ import annotations

import contextlib
import os

import numpy as np

try:  # guarded: CuPy is an optional extra (pip install -e ".[cuda12]" or ".[cuda13]", docs/gpu.md)
    import cupy as _cupy
    import cupyx as _cupyx
except Exception:  # ImportError, or a CuPy whose CUDA libraries cannot load
    _cupy = _cupyx = None

BACKENDS = ("numpy", "cupy")
DEFAULT_DTYPE = np.float32

_selected: str | None = None  # None: not chosen yet, read MINIRNN_BACKEND on first use


class BackendError(RuntimeError):
    """The requested backend cannot be used on this machine."""


def gpu_available() -> bool:
    """True when CuPy imports and sees at least one CUDA device."""
    if _cupy is None:
        return False
    try:
        return _cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def available_backends() -> list[str]:
    """The backends usable here: always numpy, plus cupy where a GPU exists."""
    return ["numpy", "cupy"] if gpu_available() else ["numpy"]


def _check(name: str) -> str:
    name = (name or "numpy").strip().lower()
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}: choose one of {', '.join(BACKENDS)}")
    if name == "cupy":
        if _cupy is None:
            raise BackendError("backend 'cupy' needs CuPy: on a machine with an NVIDIA GPU, install it with "
                               "`pip install -e \".[cuda12]\"` (CUDA 12) or `pip install -e \".[cuda13]\"` "
                               "(CUDA 13); see docs/gpu.md")
        if not gpu_available():
            raise BackendError("backend 'cupy' needs an NVIDIA GPU, and CuPy sees none on this machine")
    return name


def get_backend() -> str:
    """Name of the selected backend ('numpy' or 'cupy')."""
    global _selected
    if _selected is None:
        _selected = _check(os.environ.get("MINIRNN_BACKEND", "numpy"))
    return _selected


def set_backend(name: str) -> str:
    """Select the backend for everything that follows; returns the previous one."""
    global _selected
    previous = get_backend()
    _selected = _check(name)
    return previous


@contextlib.contextmanager
def use_backend(name: str):
    """``with use_backend('cupy'): ...`` runs the block on that backend, then restores the old one."""
    previous = set_backend(name)
    try:
        yield xp()
    finally:
        set_backend(previous)


def xp():
    """The array module of the selected backend: ``numpy`` or ``cupy``."""
    return _cupy if get_backend() == "cupy" else np


def array_module(*arrays):
    """The module owning the given arrays (cupy if any of them is a CuPy array, else numpy)."""
    if _cupy is not None:
        for a in arrays:
            if isinstance(a, _cupy.ndarray):
                return _cupy
    return np


def is_device_array(a) -> bool:
    """True for a CuPy array."""
    return _cupy is not None and isinstance(a, _cupy.ndarray)


def to_numpy(a):
    """Copy to the host if needed; NumPy arrays and Python scalars pass through unchanged."""
    if is_device_array(a):
        return _cupy.asnumpy(a)
    return a


def to_device(a, dtype=None):
    """Move an array to the selected backend (no copy when it is already there and of that dtype)."""
    mod = xp()
    if mod is np:
        return np.asarray(to_numpy(a), dtype=dtype)
    return _cupy.asarray(a, dtype=dtype)


def to_module(a, mod, dtype=None):
    """``a`` as an array of module ``mod`` (numpy, or the cupy that ``xp()``/``array_module`` gave):
    copied between host and device only when it lives on the other side. For arrays that must
    join others wherever those live (host ids for device weights, device centres for host data)."""
    if mod is np:
        return np.asarray(to_numpy(a), dtype=dtype)
    return mod.asarray(a, dtype=dtype)


def synchronize() -> None:
    """Wait for queued GPU work (a no-op on NumPy); call it before reading a clock."""
    if get_backend() == "cupy":
        _cupy.cuda.Device().synchronize()


def scatter_add(a, indices, values) -> None:
    """In place ``a[indices[k]] += values[k]`` with repeated indices summed: np.add.at on NumPy,
    cupyx.scatter_add on CuPy. (The CPU engine has a faster loop for whole rows: minirnn/fast.)
    On CuPy the repeated rows are summed with float atomics, in an order that can change from run
    to run: the result is exact to rounding, not bit for bit the same (docs/gpu.md, Determinism)."""
    if is_device_array(a):
        _cupyx.scatter_add(a, indices, values)
        return
    np.add.at(a, indices, values)


def default_rng(seed=None):
    """A random Generator on the selected backend (``numpy.random.default_rng`` or CuPy's). On a GPU
    making one sets up cuRAND states: the trainer's dropout draws from ``philox.dropout_rng`` instead."""
    return xp().random.default_rng(seed)


def describe() -> dict:
    """What the backend runs on: for benchmark JSON and --help text."""
    info = {"backend": get_backend(), "numpy": np.__version__}
    if _cupy is not None:
        info["cupy"] = _cupy.__version__
        if gpu_available():
            props = _cupy.cuda.runtime.getDeviceProperties(0)
            name = props["name"]
            info["gpu"] = name.decode() if isinstance(name, bytes) else str(name)
    return info
