"""minirnn.fast.heap.keep_freed_heap: after it, a loop that allocates and frees a few MB stops page-faulting.

Run in a fresh interpreter each time (the setting is process-wide and cannot be undone)."""
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc only")

LOOP = """
import resource, sys
import numpy as np
from minirnn.fast import heap
ok = heap.keep_freed_heap() if sys.argv[1] == "keep" else None
def churn():
    arrays = [np.ones(3 << 18, dtype=np.float32) for _ in range(3)]   # 3 x 3 MiB, touched
    del arrays
for _ in range(3):
    churn()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    churn()
print(ok, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10)
"""


def faults_per_loop(mode, env_extra=None):
    env = dict(os.environ, **(env_extra or {}))
    out = subprocess.run([sys.executable, "-c", LOOP, mode], capture_output=True, text=True,
                         env=env, check=True).stdout.split()
    return out[0], float(out[1])


def test_keep_freed_heap_stops_the_refaulting():
    ok, default = faults_per_loop("default")
    if default < 500:                          # this libc keeps freed memory anyway: nothing to show
        pytest.skip(f"the allocator does not trim here ({default:.0f} faults per loop)")
    ok, kept = faults_per_loop("keep")
    assert ok == "True"
    assert kept < default / 10, (kept, default)


def test_opt_out_by_environment():
    ok, _ = faults_per_loop("keep", {"MINIRNN_KEEP_HEAP": "0"})
    assert ok == "False"


ENGINE_STEP = """
import numpy as np
from minirnn.fast import heap
from minirnn.model import RNNLM
model = RNNLM(5, hidden=3, layers=1, cell="lstm", embed=0, seed=0)
assert not heap._applied
model.loss(np.zeros((2, 3), dtype=int), np.zeros((2, 3), dtype=int))
print(heap._applied)
"""


@pytest.mark.parametrize("fast,expect", [("1", "True"), ("0", "False")])
def test_engine_makes_the_setting_when_it_first_runs(fast, expect):
    """The engine (not the Trainer) sets the heap the first time it runs a step on the CPU; with
    the engine off (MINIRNN_FAST=0) nothing changes the process's malloc."""
    out = subprocess.run([sys.executable, "-c", ENGINE_STEP], capture_output=True, text=True,
                         check=True, env=dict(os.environ, MINIRNN_FAST=fast))
    assert out.stdout.split() == [expect]
