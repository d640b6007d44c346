#!/usr/bin/env python
"""One command for the day a GPU is there: what works on it, and how fast, in a few minutes.

    python benchmarks/gpu_check.py                      # the tests, then the timings
    python benchmarks/gpu_check.py --skip-tests --hidden 256

On a machine with CuPy and an NVIDIA GPU it prints the device (name, memory, CUDA, CuPy and PyTorch
versions), runs the cupy cases of the tests (``python -m pytest -q -k cupy tests/``: every backend-
parametrised test, gradient checks on the device, a run stopped and resumed against an unbroken one,
k-means, sampling) with a time limit, then times the training step with bench_rnn.py: the LSTM and
the GRU at L = --layers and each --hidden, minirnn on the GPU (CuPy), on the CPU (its engine) and
cuDNN where PyTorch has CUDA. gpu_check.json (the device and the tests) is written before the
timings, which go to bench_rnn's rnn.json beside it. Exit status 0 when all passed, 1 otherwise;
on a machine without a GPU one line and exit 2.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench_rnn  # noqa: E402
import common  # noqa: E402

from minirnn import backend  # noqa: E402
from minirnn.errors import run_cli  # noqa: E402

SMOKE_ARGS = ["--skip-tests", "--hidden", "64", "--repeats", "1"]     # on a GPU machine; elsewhere exit 2
NEEDS_GPU = True


def main(argv=None):
    p = common.parser(__doc__)
    p.add_argument("--hidden", default=[256, 512, 1024], type=common.counts, help="comma list of H to time")
    p.add_argument("--layers", default=[1], type=common.counts, help="comma list of L to time")
    p.add_argument("--repeats", type=common.count, default=5, help="timed steps per process")
    p.add_argument("--skip-tests", action="store_true", help="leave out the cupy cases of the tests")
    p.add_argument("--tests-timeout", type=common.positive, default=600, help="seconds the tests may take")
    common.add_output_args(p)
    args = p.parse_args(argv)
    if not backend.gpu_available():
        why = "CuPy sees no CUDA device" if "cupy" in backend.describe() else "CuPy is not installed"
        print(f"error: no GPU here ({why}): gpu_check needs CuPy and an NVIDIA GPU "
              "(pip install -e .[cuda12] or .[cuda13]); nothing was run", file=sys.stderr)
        return 2
    path = common.result_path(args, "gpu_check.json")
    import cupy
    free, total = cupy.cuda.runtime.memGetInfo()
    torch = common.reference("torch", "no cuDNN column")
    dev = dict(backend.describe(), memory_gib=total / 2**30, cuda_runtime=cupy.cuda.runtime.runtimeGetVersion(),
               cuda_driver=cupy.cuda.runtime.driverGetVersion(), torch=torch and torch.__version__,
               torch_cuda=bool(torch and torch.cuda.is_available()))
    print("device: " + ", ".join(f"{k} {v}" for k, v in dev.items()), flush=True)
    tests = None
    if not args.skip_tests:
        cmd = [sys.executable, "-m", "pytest", "-q", "-k", "cupy", "-p", "no:cacheprovider", os.path.join(common.HERE, "..", "tests")]
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.tests_timeout)
            lines = [l for l in proc.stdout.splitlines() if l.strip()]
            tests = {"ok": proc.returncode == 0, "summary": lines[-1] if lines else "",
                     "failures": [l for l in lines if l.startswith(("FAILED", "ERROR"))][:50]}
        except subprocess.TimeoutExpired:
            tests = {"ok": False, "summary": f"timed out after {args.tests_timeout:.0f} s"}
        tests["seconds"] = time.perf_counter() - t0
        print(f"cupy tests: {tests['summary']}", flush=True)
    common.write_json(path, {"benchmark": "gpu_check", "command": common.command_line(), "machine": common.machine(),
                             "device": dev, "tests": tests, "timings": os.path.join(os.path.dirname(path), "rnn.json")})
    timed = bench_rnn.main(["--backends", "cupy,numpy" + (",torch-cuda" if dev["torch_cuda"] else ""),
                            "--cells", "lstm,gru", "--rounds", "1", "--repeats", str(args.repeats),
                            "--layers", ",".join(map(str, args.layers)), "--hidden", ",".join(map(str, args.hidden)),
                            "--out-dir", os.path.dirname(path)])
    print(f"wrote {path}")
    return 0 if (tests is None or tests["ok"]) and timed == 0 else 1


if __name__ == "__main__":
    sys.exit(run_cli(main))
