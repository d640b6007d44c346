"""minirnn: recurrent networks written from scratch in NumPy (+ Numba on the CPU, CuPy on the GPU).

Importing the package imports nothing heavy: a script's first line (``minirnn.errors.startup``) runs
before NumPy and Numba load, so its signal handlers cover their imports. ``minirnn.backend`` and its
functions load on first use."""

__version__ = "0.1.0"
__all__ = ["backend", "get_backend", "set_backend", "use_backend", "__version__"]


def __getattr__(name):
    if name in __all__:
        import importlib
        backend = importlib.import_module(__name__ + ".backend")
        return backend if name == "backend" else getattr(backend, name)
    raise AttributeError(f"module 'minirnn' has no attribute {name!r}")
