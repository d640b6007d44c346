"""`import cupyx` with tests/standin first on PYTHONPATH: the stand-in's scatter_add."""
from cupy_standin import scatter_add  # noqa: F401
