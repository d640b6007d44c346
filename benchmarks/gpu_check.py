#!/usr/bin/env python
"""One command for the day a GPU is there: what works on it, and how fast, in a few minutes.

    python benchmarks/gpu_check.py                      # everything below, ~5 minutes on one GPU
    python benchmarks/gpu_check.py --skip-tests --hidden 256

On a machine with CuPy and an NVIDIA GPU it, in order:
    1. prints the device (name, memory, CUDA runtime and driver, CuPy and PyTorch versions);
    2. runs the cupy-parametrised tests (``python -m pytest -q -k cupy tests/``: every ``xp`` test's
       cupy case, tests/conftest.py), with a time limit (--tests-timeout);
    3. trains the char model on the GPU (``scripts/train_char.py --backend cupy``, LSTM with dropout,
       --steps iterations) without a break, and again stopped after a third of them and resumed, and
       compares the two runs' losses and final weights. cupyx.scatter_add sums with float atomics, so
       the two may differ by rounding: the largest relative difference of the weights is reported,
       and the check passes at <= --resume-rtol;
    4. times bench_rnn.py's training step (V = 65 one-hot, N = T = 50, float32, L = --layers) of the
       LSTM and the GRU at each --hidden on the GPU (minirnn's book on CuPy), on the CPU (minirnn's
       engine, every core) and, where PyTorch with CUDA is installed, with cuDNN (torch-cuda), each
       in a fresh process (bench_rnn.run_worker);
    5. writes gpu_check.json and gpu_check.md (the device, the checks, and the table of step times
       with the GPU's speed-up over the CPU engine and its ratio to cuDNN) to --out-dir, again after
       each phase and each timed configuration, so that a run cut short keeps what it measured.

Exit status 0 when every check passed, 1 when one failed (the files say which). On a machine without
a GPU it prints one line and exits 2, having run nothing.
"""
from __future__ import annotations

import argparse
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


def timings(cells, Ls, Hs, repeats, backends, on_row=None, timeout=240, rows=None) -> list:
    """bench_rnn's step for every (cell, L, H) and backend, each in a fresh process (at most
    `timeout` seconds), appended to `rows` (a new list by default); on_row() is called after each
    configuration."""
    rows = [] if rows is None else rows
    threads = len(os.sched_getaffinity(0))
    for cell in cells:
        for L in Ls:
            for H in Hs:
                row = {"cell": cell, "L": L, "H": H}
                for b in backends:
                    spec = {"backend": b, "cell": cell, "L": L, "H": H, "threads": threads, "repeats": repeats,
                            "warmup": 1, "path": "fused", "ceiling_repeats": 3}
                    try:
                        r = bench_rnn.run_worker(spec, timeout=timeout)
                        row[b] = {"step_ms": r["step"]["median_ms"], "forward_ms": r["forward"]["median_ms"],
                                  "first_steps_ms": r["step"]["first_steps_ms"], "peak_bytes": r["memory"]["peak_bytes"],
                                  "sgemm_gflops": r["ceiling_gflops"]}
                    except (RuntimeError, subprocess.TimeoutExpired) as e:
                        row[b] = {"error": " ".join(str(e).split())[-300:]}
                    print(f"  {cell} L={L} H={H:>4} {b:<10} " + (f"{row[b]['step_ms']:9.1f} ms" if "step_ms" in row[b]
                                                              else row[b]["error"]), flush=True)
                gpu, cpu, cudnn = (row.get(b, {}).get("step_ms") for b in ("cupy", "numpy", "torch-cuda"))
                row["gpu_speedup_over_cpu_engine"] = cpu / gpu if gpu and cpu else None
                row["gpu_over_cudnn"] = gpu / cudnn if gpu and cudnn else None
                rows.append(row)
                if on_row:
                    on_row()
    return rows


def resume_line(r) -> str:
    if "error" in r:
        return f"stop and resume on the GPU: FAILED ({r['error']})"
    return (f"stop and resume on the GPU: {'passed' if r['ok'] else 'FAILED'} ({r['steps']} steps, stopped at "
            f"{r['stopped_at']}; bitwise equal: {r['bitwise_equal']}; largest relative weight difference "
            f"{r['max_weight_rel_diff']:.2e}, limit {r['rtol']:.0e})")


def markdown(payload) -> str:
    d = payload["device"]
    lines = ["# gpu_check", "",
             f"- Device: {d.get('gpu')} ({d.get('memory_bytes', 0) / 2**30:.0f} GiB), CUDA runtime "
             f"{d.get('cuda_runtime')}, driver {d.get('cuda_driver')}, CuPy {d.get('cupy')}, "
             f"PyTorch {d.get('torch', 'not installed')} (cuDNN {d.get('cudnn')})",
             f"- CPU: {payload['machine']['cpu']}, {payload['machine']['usable_cores']} cores",
             f"- Command: `{payload['command']}`", ""]
    t = payload.get("tests")
    lines.append(f"- cupy tests: {'passed' if t['ok'] else 'FAILED'}: {t['summary']}" if t else "- cupy tests: skipped")
    if payload.get("resume"):
        lines.append(f"- {resume_line(payload['resume'])}")
    if not payload.get("finished", True):
        lines.append("- (cut short: the checks below this point did not run)")
    lines += ["", "Training step (bench_rnn's: V = 65 one-hot, N = T = 50, float32, forward + loss + backward + "
              "clip + Adam), median ms; speed-up = CPU engine / GPU, ratio = minirnn on the GPU / cuDNN:", "",
              "| cell | L | H | minirnn GPU (CuPy) | minirnn CPU engine | PyTorch cuDNN | speed-up over CPU | GPU / cuDNN |",
              "|---|---|---|---|---|---|---|---|"]
    fmt = lambda row, b: f"{row[b]['step_ms']:.1f}" if "step_ms" in row.get(b, {}) else "-"  # noqa: E731
    for row in payload["timings"]:
        s, c = row["gpu_speedup_over_cpu_engine"], row["gpu_over_cudnn"]
        lines.append(f"| {row['cell']} | {row['L']} | {row['H']} | {fmt(row, 'cupy')} | {fmt(row, 'numpy')} | "
                     f"{fmt(row, 'torch-cuda')} | {f'{s:.1f}x' if s else '-'} | {f'{c:.2f}x' if c else '-'} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hidden", default="256,512,1024", help="comma list of H to time")
    p.add_argument("--layers", default="1", help="comma list of L to time")
    p.add_argument("--cells", default="lstm,gru", help="comma list of cells to time")
    p.add_argument("--repeats", type=int, default=5, help="timed steps per configuration (the median counts)")
    p.add_argument("--steps", type=int, default=36, help="iterations of the resume check")
    p.add_argument("--resume-rtol", type=float, default=1e-4,
                   help="largest relative weight difference a resumed GPU run may show (float atomics)")
    p.add_argument("--skip-tests", action="store_true", help="leave out the cupy-parametrised tests")
    p.add_argument("--tests-timeout", type=float, default=240, help="seconds the tests may take")
    common.add_output_args(p)
    args = p.parse_args(argv)
    if not backend.gpu_available():
        why = "CuPy sees no CUDA device" if "cupy" in backend.describe() else "CuPy is not installed"
        print(f"error: no GPU here ({why}): gpu_check needs CuPy and an NVIDIA GPU "
              "(pip install -e .[cuda12] or .[cuda13]); nothing was run", file=sys.stderr)
        return 2
    try:
        cells = [c for c in args.cells.split(",") if c]
        Ls, Hs = [int(v) for v in args.layers.split(",")], [int(v) for v in args.hidden.split(",")]
    except ValueError:
        raise UsageError("--layers and --hidden take comma lists of whole numbers") from None
    if args.repeats < 1 or args.steps < 3 or min(Ls + Hs) < 1 or not set(cells) <= {"lstm", "gru", "rnn"}:
        raise UsageError("--repeats at least 1, --steps at least 3, L and H at least 1, cells of lstm, gru, rnn")
    t0 = time.perf_counter()
    dev = device()
    print(f"device: {dev.get('gpu')}, {dev['memory_bytes'] / 2**30:.0f} GiB, CUDA runtime {dev['cuda_runtime']}, "
          f"driver {dev['cuda_driver']}, CuPy {dev.get('cupy')}, PyTorch {dev.get('torch', 'not installed')}"
          f"{' with CUDA' if dev.get('torch_cuda') else ''}", flush=True)
    payload = {"benchmark": "gpu_check", "command": common.command_line(), "device": dev,
               "machine": common.machine(), "tests": None, "resume": None, "timings": [], "finished": False}
    path = common.result_path(args, "gpu_check.json")

    def save():
        """JSON and Markdown as far as the check got: a run cut short still leaves its results."""
        payload["seconds"] = time.perf_counter() - t0
        common.write_json(path, payload)
        with open(path[:-5] + ".md", "w") as f:
            f.write(markdown(payload))

    save()
    if not args.skip_tests:
        print("cupy tests ...", flush=True)
        payload["tests"] = run_tests(args.tests_timeout)
        print(f"cupy tests: {payload['tests']['summary']}", flush=True)
        save()
    print(f"stop and resume, {args.steps} steps ...", flush=True)
    try:
        payload["resume"] = resume_check(args.steps, args.resume_rtol)
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        payload["resume"] = {"ok": False, "error": " ".join(str(e).split())[-500:]}
    print(resume_line(payload["resume"]), flush=True)
    save()
    backends = ["cupy", "numpy"] + (["torch-cuda"] if dev.get("torch_cuda") else [])
    print(f"training step, {', '.join(backends)}:", flush=True)
    timings(cells, Ls, Hs, args.repeats, backends, on_row=save, rows=payload["timings"])
    payload["finished"] = True
    save()
    print(markdown(payload))
    print(f"wrote {path} and {path[:-5]}.md ({payload['seconds']:.0f} s)")
    ok = (payload["tests"] is None or payload["tests"]["ok"]) and payload["resume"]["ok"] and all(
        "error" not in row.get(b, {}) for row in payload["timings"] for b in backends)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(run_cli(main))
