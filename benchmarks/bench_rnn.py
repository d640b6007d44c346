"""The training step side by side: minirnn (its NumPy engine; CuPy on a GPU) against PyTorch (CPU; cuDNN on a GPU).

    python benchmarks/bench_rnn.py                                   # LSTM and GRU, L = 2, H = 512, 3 rounds
    python benchmarks/bench_rnn.py --cells rnn,lstm,gru --layers 1,2,3 --hidden 128,256,512   # the grid
    python benchmarks/bench_rnn.py --path reference                  # minirnn's book instead of its engine

torch-rnn's configuration: vocabulary V = 65 (one-hot input), batch N = 50, sequence T = 50, float32;
a step is forward, loss, backward, clip_grad_norm(5) and Adam(2e-3), the state carried. Backends:
numpy (the engine, minirnn/fast; --path reference runs the book) and torch-cpu, and where there is a
GPU cupy (the book on CuPy) and torch-cuda (cuDNN). Without a GPU one line says so and the GPU rows
of the summary say "not measured"; without PyTorch one line says so and minirnn runs alone.

Each (backend, cell, L, H) runs in a fresh process with the same threads and malloc setting
(minirnn.fast.heap.keep_freed_heap, for both CPU libraries); the backends alternate which goes first
and the whole grid runs --rounds times. Per process: the first two steps apart (compilation, lazy
start-up), --warmup untimed steps, then --repeats timed ones; the forward alone (PyTorch under
no_grad); the library's own sgemm rate at (N*T) x 1024 @ 1024 x 2048 (the ceiling of the step's
GFLOP/s, which count 3x the forward's GEMMs: sum over layers of 2*N*T*(D_l + H)*G, G = 4H, 3H or H,
plus 2*N*T*H*V); page faults and system time per step; the peak resident memory of one step (CPU) or
the allocator's peak (GPU); and the bytes minirnn's layers keep for backward. A figure is the median
over rounds of each process's median; every timed step goes to rnn.pyperf.json where pyperf is
installed. JSON: rnn.json in --out-dir.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common  # noqa: E402

from minirnn.errors import UsageError, run_cli  # noqa: E402

V, N, T = 65, 50, 50
SMOKE_ARGS = ["--cells", "lstm", "--layers", "1", "--hidden", "16", "--repeats", "1", "--rounds", "1",
              "--warmup", "0", "--threads", "1"]
REFERENCE = {"numpy": "torch-cpu", "cupy": "torch-cuda"}          # each minirnn backend's PyTorch twin


def forward_flops(cell, L, H):
    G = {"lstm": 4 * H, "gru": 3 * H}.get(cell, H)
    return sum(2 * N * T * ((V if l == 0 else H) + H) * G for l in range(L)) + 2 * N * T * H * V


# ---- one measurement, in a worker process --------------------------------------------------------
def _minirnn_setup(spec):
    import numpy as np
    from minirnn import backend, fast
    from minirnn.model import RNNLM
    backend.set_backend(spec["backend"])
    fast.set_enabled(spec["path"] == "fused")                # the engine, or the book alone
    model = RNNLM(V, hidden=spec["H"], layers=spec["L"], cell=spec["cell"], embed=0, seed=0)
    rng = np.random.default_rng(0)
    x, y = (backend.to_device(rng.integers(0, V, (N, T))) for _ in range(2))          # (N, T) each
    step, box = common.minirnn_step(model, x, y)

    def cache_bytes():
        _, (_, layer_caches), _, _ = model.loss(x, y, None, train=True)[2]   # (embedding, stack, output, loss)
        # lstm: (x, h0, c0, Wx, Wh, gates, c, h); gru: (x, h0, Wx, Wh, gates, h); rnn: (x, h0, Wx, Wh, h)
        return sum(a.nbytes for _, c in layer_caches for a in c[5 if spec["cell"] == "lstm" else 4:])
    return step, lambda: model.loss(x, y, box["state"])[0], backend.synchronize, cache_bytes


def _torch_setup(spec):
    import torch
    import torch.nn.functional as F
    dev = "cuda" if spec["backend"] == "torch-cuda" else "cpu"
    torch.manual_seed(0)
    emb = torch.nn.Embedding(V, V).to(dev)
    with torch.no_grad():
        emb.weight.copy_(torch.eye(V))                       # one-hot input, as minirnn's embed=0
    emb.weight.requires_grad_(False)
    Rnn = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}.get(spec["cell"], torch.nn.RNN)
    rnn, lin = Rnn(V, spec["H"], num_layers=spec["L"], batch_first=True).to(dev), torch.nn.Linear(spec["H"], V).to(dev)
    params = list(rnn.parameters()) + list(lin.parameters())
    opt = torch.optim.Adam(params, lr=2e-3)
    g = torch.Generator().manual_seed(0)
    x, y = (torch.randint(0, V, (N, T), generator=g).to(dev) for _ in range(2))
    box = {"state": None}

    def detach(s):
        return None if s is None else tuple(a.detach() for a in s) if isinstance(s, tuple) else s.detach()

    def step():
        opt.zero_grad(set_to_none=True)
        out, box["state"] = rnn(emb(x), detach(box["state"]))
        loss = F.cross_entropy(lin(out).reshape(-1, V), y.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()
        return loss

    def forward():
        with torch.no_grad():
            return F.cross_entropy(lin(rnn(emb(x), detach(box["state"]))[0]).reshape(-1, V), y.reshape(-1))
    return step, forward, torch.cuda.synchronize if dev == "cuda" else None, None


def sgemm_gflops(backend_name):
    """The best of 5 sgemm runs of the worker's own library at (N*T) x 1024 @ 1024 x 2048, GFLOP/s."""
    m, k, n = N * T, 1024, 2048
    if backend_name.startswith("torch"):
        import torch
        dev = "cuda" if backend_name == "torch-cuda" else "cpu"
        A, B = torch.randn(m, k, device=dev), torch.randn(k, n, device=dev)       # (m, k), (k, n)
        mm, sync = (lambda: torch.mm(A, B)), (torch.cuda.synchronize if dev == "cuda" else None)
    else:
        import numpy as np
        from minirnn import backend
        A = backend.to_device(np.ones((m, k), np.float32))                         # (m, k)
        B = backend.to_device(np.ones((k, n), np.float32))                         # (k, n)
        mm, sync = (lambda: A @ B), backend.synchronize
    return 2 * m * k * n / (min(common.times_ms(mm, 5, 1, sync)) * 1e-3) / 1e9


def worker(spec):
    import importlib
    importlib.import_module("torch" if spec["backend"].startswith("torch") else "minirnn.fast")  # then pin threads
    threads = common.set_threads(spec["threads"])
    if spec["backend"] in ("numpy", "torch-cpu"):
        from minirnn.fast import heap
        heap.keep_freed_heap()                 # freed arrays stay in the heap between steps, for both alike
    step, forward, sync, cache_bytes = (_torch_setup if spec["backend"].startswith("torch") else _minirnn_setup)(spec)
    ceiling = sgemm_gflops(spec["backend"])
    first = common.times_ms(step, 2, 0, sync)                 # from a zero state, then a carried one
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    steps = common.times_ms(step, spec["repeats"], spec["warmup"], sync)
    ru1, n = resource.getrusage(resource.RUSAGE_SELF), spec["repeats"] + spec["warmup"]
    out = {"step_times_ms": steps, "first_steps_ms": first, "forward_ms": statistics.median(
        common.times_ms(forward, spec["repeats"], 1, sync)), "threads": threads,
        "minor_faults_per_step": (ru1.ru_minflt - ru0.ru_minflt) / n,
        "system_ms_per_step": (ru1.ru_stime - ru0.ru_stime) * 1e3 / n,
        "ceiling_gflops": max(ceiling, sgemm_gflops(spec["backend"])),
        "cache_bytes": cache_bytes() if cache_bytes else None}
    if spec["backend"] == "torch-cuda":                       # memory last: it changes the allocator's settings
        import torch
        torch.cuda.reset_peak_memory_stats()
        step(), sync()
        out["peak_bytes"] = torch.cuda.max_memory_allocated()
    elif spec["backend"] == "cupy":
        import cupy
        step(), sync()
        out["peak_bytes"] = cupy.get_default_memory_pool().total_bytes()
    else:
        out["peak_bytes"] = common.peak_rss_during(step)
    return out


def run_worker(spec, timeout=900):
    env = dict(os.environ, **{var: str(spec["threads"]) for var in common.THREAD_VARS})
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", json.dumps(spec)],
                          capture_output=True, text=True, env=env, timeout=timeout)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"worker {spec} failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][7:])


# ---- the grid ------------------------------------------------------------------------------------
def present_backends():
    """(backends present here, why there is no GPU column or None)."""
    from minirnn import backend
    have = ["numpy"] + (["cupy"] if backend.gpu_available() else [])
    torch = common.reference("torch")
    if torch is not None:
        have += ["torch-cpu"] + (["torch-cuda"] if torch.cuda.is_available() else [])
    if "cupy" in have or "torch-cuda" in have:
        return have, None
    why = "CuPy sees no CUDA device" if "cupy" in backend.describe() else "CuPy is not installed"
    return have, why + ("" if torch is None else ", PyTorch has no CUDA device")


def summary(results, no_gpu, torch_version):
    """The suite's rows: each minirnn backend against its PyTorch twin; a GPU row says why it is empty."""
    get = {(r["backend"], r["cell"], r["L"], r["H"]): r for r in results}
    rows = []
    for (b, cell, L, H), a in sorted(get.items()):
        if b in REFERENCE:
            t, where = get.get((REFERENCE[b], cell, L, H)), "GPU" if b == "cupy" else "CPU"
            what = f"{cell.upper()} training step, {where}, L = {L}, H = {H} (torch-rnn's N = T = 50)"
            rows.append(common.row(what, f"{a['step_ms']:.1f} ms", t and f"PyTorch {torch_version} {where}",
                                   t and f"{t['step_ms']:.1f} ms", t and a["step_ms"] / t["step_ms"],
                                   f"{a['step_pct_of_ceiling']:.0f}% of numpy's sgemm rate"
                                   if b == "numpy" and a["step_pct_of_ceiling"] else ""))
            if no_gpu:
                rows.append(common.row(what.replace("CPU", "GPU"), None, "PyTorch with CUDA (cuDNN)",
                                       note=f"not measured: no GPU here ({no_gpu})"))
    return rows


def main(argv=None):
    ap = common.parser(__doc__)
    ap.add_argument("--cells", default="lstm,gru", help="comma list of rnn, lstm, gru")
    ap.add_argument("--layers", type=common.counts, default=[2], help="comma list of L")
    ap.add_argument("--hidden", type=common.counts, default=[512], help="comma list of H")
    ap.add_argument("--backends", default="auto", help="comma list of numpy, cupy, torch-cpu, torch-cuda; auto = all present")
    ap.add_argument("--threads", type=common.count, default=len(os.sched_getaffinity(0)), help="threads for every library")
    ap.add_argument("--repeats", type=common.count, default=7, help="timed steps per process")
    ap.add_argument("--warmup", type=common.natural, default=2, help="untimed steps per process after the first two")
    ap.add_argument("--rounds", type=common.count, default=3, help="times the whole grid runs, in fresh processes")
    ap.add_argument("--path", choices=("fused", "reference"), default="fused", help="minirnn on NumPy: the engine or the book")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    common.add_output_args(ap)
    args = ap.parse_args(argv)
    if args.worker:
        print("RESULT " + json.dumps(worker(json.loads(args.worker))), flush=True)
        return 0
    cells = args.cells.split(",")
    if not set(cells) <= {"rnn", "lstm", "gru"}:
        raise UsageError(f"--cells takes a comma list of rnn, lstm, gru, got {args.cells!r}")
    have, no_gpu = present_backends()
    backends = have if args.backends == "auto" else args.backends.split(",")
    if not set(backends) <= set(have):
        raise UsageError(f"--backends: {', '.join(sorted(set(backends) - set(have)))} not present here (present: {', '.join(have)})")
    path = common.result_path(args, "rnn.json")
    common.check_result_file(path[:-5] + ".pyperf.json")
    mach = common.machine()
    print(f"# {common.machine_line(mach)}; {args.threads} threads")
    if no_gpu:
        print(f"# no GPU on this machine ({no_gpu}): CPU rows only; run this on a GPU machine for the GPU rows", flush=True)
    runs = {}
    for rnd in range(args.rounds):
        for k, (cell, L, H) in enumerate((c, L, H) for c in cells for L in args.layers for H in args.hidden):
            for b in (backends if (k + rnd) % 2 == 0 else backends[::-1]):          # alternate who goes first
                spec = {"backend": b, "cell": cell, "L": L, "H": H, "threads": args.threads, "repeats": args.repeats,
                        "warmup": args.warmup, "path": args.path}
                r = run_worker(spec)
                runs.setdefault((b, cell, L, H), []).append(r)
                print(f"  round {rnd + 1}/{args.rounds} {b:<10} {cell} L={L} H={H:<4} "
                      f"{statistics.median(r['step_times_ms']):9.1f} ms", flush=True)
    results = []
    for (b, cell, L, H), rs in runs.items():
        step_ms = statistics.median(statistics.median(r["step_times_ms"]) for r in rs)
        gflops = 3 * forward_flops(cell, L, H) / (step_ms * 1e-3) / 1e9
        ceiling = max(r["ceiling_gflops"] for r in rs)
        results.append({"backend": b, "cell": cell, "L": L, "H": H, "step_ms": step_ms,
                        "step_ms_rounds": [statistics.median(r["step_times_ms"]) for r in rs],
                        "forward_ms": statistics.median(r["forward_ms"] for r in rs), "step_gflops": gflops,
                        "ceiling_gflops": ceiling, "step_pct_of_ceiling": 100 * gflops / ceiling if gflops <= ceiling else None,
                        "peak_bytes": max(r["peak_bytes"] or 0 for r in rs) or None, "runs": rs,
                        "cache_bytes_per_step": rs[-1]["cache_bytes"]})
    torch_version = mach["versions"].get("torch")
    rows = summary(results, no_gpu, torch_version)
    print(f"\n{'backend':<10} {'cell':<4} {'L':>1} {'H':>4} {'step ms':>9} {'fwd ms':>8} {'GF/s':>6} {'%ceil':>6} {'peak MB':>8}")
    for r in results:
        pct = "-" if r["step_pct_of_ceiling"] is None else f"{r['step_pct_of_ceiling']:.0f}%"
        print(f"{r['backend']:<10} {r['cell']:<4} {r['L']:>1} {r['H']:>4} {r['step_ms']:>9.1f} {r['forward_ms']:>8.1f} "
              f"{r['step_gflops']:>6.1f} {pct:>6} {(r['peak_bytes'] or 0) / 2**20:>8.1f}")
    common.show(rows)
    ms = {(r["backend"], r["cell"], r["L"], r["H"]): r["step_ms"] for r in results}
    speedups = [{"cell": c, "L": L, "H": H, "library": lib, "speedup": ms[(cpu, c, L, H)] / t}
                for cpu, gpu, lib in (("numpy", "cupy", "minirnn"), ("torch-cpu", "torch-cuda", "torch"))
                for (b, c, L, H), t in ms.items() if b == gpu and (cpu, c, L, H) in ms]
    print("# GPU speed-up over the same library's CPU step: " + (", ".join(
        f"{q['library']} {q['cell']} L{q['L']} H{q['H']} {q['speedup']:.1f}x" for q in speedups) or "not measured, no GPU here"))
    common.write_json(path, {"benchmark": "bench_rnn", "command": common.command_line(), "machine": mach,
                             "config": {"V": V, "N": N, "T": T, "dtype": "float32", "cells": cells, "layers": args.layers,
                                        "hidden": args.hidden, "backends": backends, "repeats": args.repeats,
                                        "warmup": args.warmup, "rounds": args.rounds, "minirnn_path": args.path},
                             "no_gpu": no_gpu, "gpu_speedups": speedups, "results": results, "summary": rows})
    common.save_pyperf(path[:-5] + ".pyperf.json", {f"{r['cell']} L{r['L']} H{r['H']} {r['backend']}":
                                                    [w["step_times_ms"] for w in r["runs"]] for r in results})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
