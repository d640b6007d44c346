"""`import cupy` with tests/standin first on PYTHONPATH: the strict stand-in (tests/standin/cupy_standin.py)."""
import sys

import cupy_standin

sys.modules[__name__] = cupy_standin
