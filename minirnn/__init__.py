"""minirnn: recurrent networks written from scratch in NumPy (+ Numba on the CPU, CuPy on the GPU)."""
from . import backend
from .backend import get_backend, set_backend, use_backend

__version__ = "0.1.0"
__all__ = ["backend", "get_backend", "set_backend", "use_backend", "__version__"]
