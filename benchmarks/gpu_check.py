#!/usr/bin/env python
"""One command for the day a GPU is there: what works on it, and how fast, in a few minutes.

    python benchmarks/gpu_check.py                      # everything below, ~5 minutes on one GPU
    python benchmarks/gpu_check.py --skip-tests --hidden 256

On a machine with CuPy and an NVIDIA GPU it, in order:
    1. prints the device (name, memory, CUDA runtime and driver, CuPy and PyTorch versions);
    2. runs the cupy-parametrised tests (``python -m pytest -q -k cupy tests/``), with a time limit;
    3. trains the char model on the GPU (``scripts/train_char.py --backend cupy``, LSTM with dropout)
       without a break, and again stopped after a third of the --steps and resumed, and compares the
       two runs' final weights: cupyx.scatter_add sums with float atomics, so they may differ by
       rounding; the check passes at a largest relative difference <= --resume-rtol;
    4. times the training step with bench_rnn.py (the LSTM and the GRU, L = --layers, at each
       --hidden): minirnn on the GPU (CuPy), on the CPU (its engine) and cuDNN where PyTorch has CUDA.
gpu_check.json (the device and the checks) is written after each phase, so that a run cut short
keeps what it measured; the timings go to bench_rnn's rnn.json beside it. Exit status 0 when every
check passed, 1 when one failed. On a machine without a GPU it prints one line and exits 2.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import bench_rnn  # noqa: E402
import common  # noqa: E402

from minirnn import backend  # noqa: E402
from minirnn.errors import UsageError, run_cli  # noqa: E402

# tests/test_benchmarks.py runs this: on a GPU machine the smallest check, elsewhere the exit status 2
SMOKE_ARGS = ["--skip-tests", "--steps", "6", "--hidden", "64", "--repeats", "1"]
NEEDS_GPU = True


def device() -> dict:
    """The GPU, its memory and the CUDA versions, from CuPy (and PyTorch where installed)."""
    import cupy
    info = backend.describe()
    props = cupy.cuda.runtime.getDeviceProperties(0)
    free, total = cupy.cuda.runtime.memGetInfo()
    info.update({"devices": cupy.cuda.runtime.getDeviceCount(), "memory_bytes": total, "free_bytes": free,
                 "compute_capability": f"{props['major']}.{props['minor']}",
                 "cuda_runtime": cupy.cuda.runtime.runtimeGetVersion(),
                 "cuda_driver": cupy.cuda.runtime.driverGetVersion()})
    torch = common.reference("torch")
    if torch is not None:
        info["torch"] = torch.__version__
        info["torch_cuda"] = torch.cuda.is_available()
        info["cudnn"] = torch.backends.cudnn.version() if torch.cuda.is_available() else None
    return info


def run_tests(timeout: float) -> dict:
    """The cupy cases of the test suite: pytest's summary line, exit status and seconds."""
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "pytest", "-q", "-k", "cupy", "-p", "no:cacheprovider", os.path.join(ROOT, "tests")]
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        lines = [l for l in proc.stdout.splitlines() if l.strip()]
        ok = proc.returncode == 0
        out = {"returncode": proc.returncode, "summary": lines[-1] if lines else "",
               "failures": [l for l in lines if l.startswith(("FAILED", "ERROR"))][:50]}
    except subprocess.TimeoutExpired:
        ok, out = False, {"returncode": None, "summary": f"timed out after {timeout:.0f} s"}
    return {"ok": ok, "command": " ".join(cmd[1:]), "seconds": time.perf_counter() - t0, **out}


def train_char(argv, timeout=300):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "train_char.py"), *argv], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"train_char.py {' '.join(argv)} exited {proc.returncode}: {proc.stderr.strip()[-500:]}")


def resume_check(steps: int, rtol: float, backend_name: str = "cupy", hidden: int = 128, text=None) -> dict:
    """An unbroken run on `backend_name` against one stopped after a third of it and resumed:
    their losses and final weights (tests/test_benchmarks.py runs it on numpy)."""
    import numpy as np
    from minirnn import checkpoint
    t0 = time.perf_counter()
    flags = ["--backend", backend_name, "--hidden", str(hidden), "--layers", "2", "--dropout", "0.3", "--batch", "16",
             "--seq", "32", "--lr-schedule", "step", "--eval-every", str(max(1, steps // 6)),
             "--eval-windows", "4", "--sample-every", "0", "--print-every", str(steps)]
    flags += ["--text", text] if text else []
    with tempfile.TemporaryDirectory(prefix="minirnn_gpu_check_") as tmp:
        a, b = os.path.join(tmp, "unbroken"), os.path.join(tmp, "resumed")
        train_char([*flags, "--iters", str(steps), "--checkpoint-dir", a])
        train_char([*flags, "--iters", str(max(1, steps // 3)), "--checkpoint-dir", b])
        train_char(["--iters", str(steps), "--checkpoint-dir", b, "--resume", "--backend", backend_name])  # not stored

        def metrics(d):
            with open(os.path.join(d, "metrics.jsonl")) as f:
                return [json.loads(line) for line in f]
        ma, mb = metrics(a), {m["iter"]: m for m in metrics(b)}
        wa, _ = checkpoint.load(os.path.join(a, "latest.npz"))
        wb, _ = checkpoint.load(os.path.join(b, "latest.npz"))
    loss_diff = max((abs(m["train_loss"] - mb[m["iter"]]["train_loss"]) for m in ma if m["iter"] in mb),
                    default=float("inf"))
    weight_rel = 0.0
    for k in wa:
        x, y = np.asarray(wa[k], dtype=np.float64), np.asarray(wb[k], dtype=np.float64)
        if x.shape != y.shape:
            weight_rel = float("inf")
            break
        if x.size:
            weight_rel = max(weight_rel, float(np.max(np.abs(x - y)) / max(np.max(np.abs(x)), 1e-30)))
    exact = all(np.array_equal(wa[k], wb[k]) for k in wa)
    return {"ok": bool(weight_rel <= rtol and all(m["iter"] in mb for m in ma)), "steps": steps,
            "stopped_at": max(1, steps // 3), "bitwise_equal": exact, "max_train_loss_diff": loss_diff,
            "max_weight_rel_diff": weight_rel, "rtol": rtol, "flags": flags,
            "seconds": time.perf_counter() - t0}


def resume_line(r) -> str:
    if "error" in r:
        return f"stop and resume on the GPU: FAILED ({r['error']})"
    return (f"stop and resume on the GPU: {'passed' if r['ok'] else 'FAILED'} ({r['steps']} steps, stopped at "
            f"{r['stopped_at']}; bitwise equal: {r['bitwise_equal']}; largest relative weight difference "
            f"{r['max_weight_rel_diff']:.2e}, limit {r['rtol']:.0e})")


def main(argv=None):
    p = common.parser(__doc__)
    p.add_argument("--hidden", default="256,512,1024", type=common.counts, help="comma list of H to time")
    p.add_argument("--layers", default="1", type=common.counts, help="comma list of L to time")
    p.add_argument("--repeats", type=common.count, default=5, help="timed steps per process")
    p.add_argument("--steps", type=common.count, default=36, help="iterations of the resume check (at least 3)")
    p.add_argument("--resume-rtol", type=common.positive, default=1e-4,
                   help="largest relative weight difference a resumed GPU run may show (float atomics)")
    p.add_argument("--skip-tests", action="store_true", help="leave out the cupy-parametrised tests")
    p.add_argument("--tests-timeout", type=common.positive, default=240, help="seconds the tests may take")
    common.add_output_args(p)
    args = p.parse_args(argv)
    if args.steps < 3:
        raise UsageError(f"--steps must be at least 3, got {args.steps}")
    if not backend.gpu_available():
        why = "CuPy sees no CUDA device" if "cupy" in backend.describe() else "CuPy is not installed"
        print(f"error: no GPU here ({why}): gpu_check needs CuPy and an NVIDIA GPU "
              "(pip install -e .[cuda12] or .[cuda13]); nothing was run", file=sys.stderr)
        return 2
    path = common.result_path(args, "gpu_check.json")
    dev = device()
    print(f"device: {dev.get('gpu')}, {dev['memory_bytes'] / 2**30:.0f} GiB, CUDA runtime {dev['cuda_runtime']}, "
          f"driver {dev['cuda_driver']}, CuPy {dev.get('cupy')}, PyTorch {dev.get('torch', 'not installed')}"
          f"{' with CUDA' if dev.get('torch_cuda') else ''}", flush=True)
    payload = {"benchmark": "gpu_check", "command": common.command_line(), "device": dev,
               "machine": common.machine(), "tests": None, "resume": None, "timings": None}
    common.write_json(path, payload)
    if not args.skip_tests:
        print("cupy tests ...", flush=True)
        payload["tests"] = run_tests(args.tests_timeout)
        print(f"cupy tests: {payload['tests']['summary']}", flush=True)
        common.write_json(path, payload)
    print(f"stop and resume, {args.steps} steps ...", flush=True)
    try:
        payload["resume"] = resume_check(args.steps, args.resume_rtol)
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        payload["resume"] = {"ok": False, "error": " ".join(str(e).split())[-500:]}
    print(resume_line(payload["resume"]), flush=True)
    common.write_json(path, payload)
    backends = ["cupy", "numpy"] + (["torch-cuda"] if dev.get("torch_cuda") else [])
    timing = ["--backends", ",".join(backends), "--cells", "lstm,gru", "--rounds", "1", "--repeats", str(args.repeats),
              "--layers", ",".join(map(str, args.layers)), "--hidden", ",".join(map(str, args.hidden)),
              "--out-dir", os.path.dirname(path)]
    try:
        payload["timings"] = {"ok": bench_rnn.main(timing) == 0, "file": os.path.join(os.path.dirname(path), "rnn.json")}
    except RuntimeError as e:                                 # a worker failed: say so, keep the checks above
        payload["timings"] = {"ok": False, "error": " ".join(str(e).split())[-500:]}
    common.write_json(path, payload)
    print(f"wrote {path}")
    ok = (payload["tests"] is None or payload["tests"]["ok"]) and payload["resume"]["ok"] and payload["timings"]["ok"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(run_cli(main))
