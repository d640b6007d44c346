"""The training step side by side: minirnn (its NumPy engine; CuPy on a GPU) against PyTorch (CPU; cuDNN on a GPU).

    python benchmarks/bench_rnn.py                                   # LSTM and GRU, L = 2, H = 512, 3 rounds
    python benchmarks/bench_rnn.py --cells rnn,lstm,gru --layers 1,2,3 --hidden 128,256,512   # the grid
    python benchmarks/bench_rnn.py --path reference                  # minirnn's book instead of its engine
    python benchmarks/bench_rnn.py --rows all --repeats 25 --warmup 5   # the rows of ROWS: vs_torch.json
    python benchmarks/bench_rnn.py --rows char_train,tr512 --profile    # where minirnn's time goes (Linux perf)

The grid: torch-rnn's configuration, vocabulary V = 65 (one-hot input), batch N = 50, sequence T = 50,
float32; a step is forward, loss, backward, clip_grad_norm(5) and Adam(2e-3), the state carried.
Backends: numpy (the engine, minirnn/fast; --path reference runs the book) and torch-cpu, and where
there is a GPU cupy (the book on CuPy) and torch-cuda (cuDNN). Without a GPU one line says so and the
GPU rows of the summary say "not measured"; without PyTorch one line says so and minirnn runs alone.
JSON: rnn.json in --out-dir.

--rows: named LSTM configurations on the CPU (ROWS; --tiny shrinks each to N = 2, T = 4, H = 8):
the default char model's training step (one-hot V = 91, H = 256, L = 2, N = 32, T = 64), its
validation forward (RNNLM.eval_loss against PyTorch under no_grad, the state carried) and its batch-1
sampling per character (sampling.generate against a per-step loop of softmax and multinomial), and
torch-rnn's configuration with a trained embedding of 64 at H = 128, 512 and 512 x 3. JSON:
vs_torch.json (vs_torch_profile.json with --profile: one minirnn worker per row under `perf record`
after its warm-up, its CPU samples split into GEMM, BLAS threads waiting, Numba, NumPy, the
interpreter, the kernel and libc).

Each (backend, configuration) runs in a fresh process with the same threads and malloc setting
(minirnn.fast.heap.keep_freed_heap, for both CPU libraries); the backends alternate which goes first
and the whole set runs --rounds times. Per process: the first two steps apart (compilation, lazy
start-up), --warmup untimed steps, then --repeats timed ones; the forward alone (PyTorch under
no_grad); the library's own sgemm rate at M x 1024 @ 1024 x 2048, M = N*T (2048 with --rows): the
ceiling of the step's GFLOP/s, which count 3x the forward's GEMMs: sum over layers of
2*N*T*(D_l + H)*G, G = 4H, 3H or H, plus 2*N*T*H*V; page faults and system time per step; the peak resident memory of one step
(CPU) or the allocator's peak (GPU); and the bytes minirnn's layers keep for backward. A figure is the
median over rounds of each process's median; every timed step goes to rnn.pyperf.json where pyperf
is installed.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common  # noqa: E402

from minirnn.errors import UsageError, run_cli  # noqa: E402

V, N, T = 65, 50, 50                                               # the grid's sizes
SMOKE_ARGS = ["--cells", "lstm", "--layers", "1", "--hidden", "16", "--repeats", "1", "--rounds", "1",
              "--warmup", "0", "--threads", "1"]
REFERENCE = {"numpy": "torch-cpu", "cupy": "torch-cuda"}          # each minirnn backend's PyTorch twin
LIB = {"numpy": "minirnn", "torch-cpu": "torch"}                  # --rows's names in vs_torch.json
ROWS = {   # --rows: LSTM configurations, float32; E = 0 is one-hot input
    "char_train": dict(kind="train", V=91, E=0, N=32, T=64, L=2, H=256,
                       label="default char model, training step (one-hot V = 91, H = 256, L = 2, B = 32, T = 64)"),
    "char_val": dict(kind="val", V=91, E=0, N=32, T=64, L=2, H=256, label="the same, validation forward (no gradients)"),
    "tr128": dict(kind="train", V=65, E=64, N=50, T=50, L=2, H=128,
                  label="torch-rnn's config (embedding 64, B = T = 50, L = 2), H = 128, training"),
    "tr512": dict(kind="train", V=65, E=64, N=50, T=50, L=2, H=512, label="the same, H = 512"),
    "tr512x3": dict(kind="train", V=91, E=64, N=50, T=50, L=3, H=512,
                    label="the same with the novel's V = 91 and L = 3 (H512x3 of issue 34)"),
    "sample": dict(kind="sample", V=91, E=0, N=1, T=1, L=2, H=256, chars=100,
                   label="default char model, batch-1 sampling (ms per character)"),
}
TINY = dict(N=2, T=4, H=8, chars=5)                               # --tiny: every row at these sizes


def flops(cfg) -> float:
    """GEMM flops of one forward (D of layer 0: V for one-hot input, else E; G = 4H, 3H or H)."""
    n, t, H, L = cfg["N"], cfg["T"], cfg["H"], cfg["L"]
    G = {"lstm": 4 * H, "gru": 3 * H}.get(cfg.get("cell", "lstm"), H)
    return float(sum(2 * n * t * ((cfg["E"] or cfg["V"] if l == 0 else H) + H) * G for l in range(L))
                 + 2 * n * t * H * cfg["V"])


def forward_flops(cell, L, H):
    return flops(dict(cell=cell, L=L, H=H, V=V, E=0, N=N, T=T))


# ---- one measurement, in a worker process --------------------------------------------------------
def minirnn_step(model, x, y, lr=2e-3, clip=5.0):
    """The timed training step on fixed windows (x, y): forward, loss, backward, clip_grad_norm(clip),
    Adam(lr), the final state carried (copied) into the next call. Returns (step, box): step()
    returns the loss where it lives (no read back); box["state"] is the carried state."""
    from minirnn.optim import Adam, clip_grad_norm
    opt = Adam(model.trainable(), lr=lr)
    box = {"state": None}

    def step():
        loss, state, cache = model.loss(x, y, box["state"], train=True)
        grads, _ = model.backward(cache)
        clip_grad_norm(grads, clip)
        opt.step(grads)
        box["state"] = [tuple(s.copy() for s in layer) for layer in state]
        return loss
    return step, box


def _minirnn_setup(spec):
    """{train, val, sample, forward, cache_bytes, sync}: the timed functions of a minirnn worker."""
    import numpy as np
    from minirnn import backend, fast
    from minirnn.model import RNNLM
    from minirnn.sampling import generate
    backend.set_backend(spec["backend"])
    fast.set_enabled(spec["path"] == "fused")                # the engine, or the book alone
    s = dict(dict(V=V, E=0, N=N, T=T), **spec)
    model = RNNLM(s["V"], hidden=s["H"], layers=s["L"], cell=s["cell"], embed=s["E"], seed=0)
    rng = np.random.default_rng(0)
    x, y = (backend.to_device(rng.integers(0, s["V"], (s["N"], s["T"]))) for _ in range(2))   # (N, T) each
    step, box = minirnn_step(model, x, y)

    def val():
        loss, box["state"] = model.eval_loss(x, y, box["state"])
        return loss

    def cache_bytes():
        _, (_, layer_caches), _, _ = model.loss(x, y, None, train=True)[2]   # (embedding, stack, output, loss)
        # lstm: (x, h0, c0, Wx, Wh, gates, c, h); gru: (x, h0, Wx, Wh, gates, h); rnn: (x, h0, Wx, Wh, h)
        return sum(a.nbytes for _, c in layer_caches for a in c[5 if s["cell"] == "lstm" else 4:])
    return {"train": step, "val": val, "sample": lambda: sum(generate(model, [1], s.get("chars", 1), np.random.default_rng(1))),
            "forward": lambda: model.loss(x, y, box["state"])[0], "cache_bytes": cache_bytes, "sync": backend.synchronize}


def _torch_setup(spec):
    import torch
    import torch.nn.functional as F
    dev = "cuda" if spec["backend"] == "torch-cuda" else "cpu"
    s = dict(dict(V=V, E=0, N=N, T=T), **spec)
    Vs, E, H = s["V"], s["E"], s["H"]
    torch.manual_seed(0)
    emb = torch.nn.Embedding(Vs, E or Vs).to(dev)
    if not E:                                                # one-hot input, as minirnn's embed=0
        with torch.no_grad():
            emb.weight.copy_(torch.eye(Vs))
        emb.weight.requires_grad_(False)
    Rnn = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}.get(s["cell"], torch.nn.RNN)
    rnn, lin = Rnn(E or Vs, H, num_layers=s["L"], batch_first=True).to(dev), torch.nn.Linear(H, Vs).to(dev)
    params = [p for m in (emb, rnn, lin) for p in m.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=2e-3)
    g = torch.Generator().manual_seed(0)
    x, y = (torch.randint(0, Vs, (s["N"], s["T"]), generator=g).to(dev) for _ in range(2))
    box = {"state": None}

    def detach(st):
        return None if st is None else tuple(a.detach() for a in st) if isinstance(st, tuple) else st.detach()

    def step():
        opt.zero_grad(set_to_none=True)
        out, box["state"] = rnn(emb(x), detach(box["state"]))
        loss = F.cross_entropy(lin(out).reshape(-1, Vs), y.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()
        return loss

    def forward(carry=False):
        with torch.no_grad():
            out, state = rnn(emb(x), detach(box["state"]))
            box["state"] = state if carry else box["state"]
            return F.cross_entropy(lin(out).reshape(-1, Vs), y.reshape(-1))

    def sample():
        gen, total, state, tok = torch.Generator().manual_seed(1), 0, None, torch.tensor([[1]])
        with torch.no_grad():
            for _ in range(s.get("chars", 1)):
                out, state = rnn(emb(tok), state)
                nxt = int(torch.multinomial(torch.softmax(lin(out[0, -1]).double(), dim=-1), 1, generator=gen))
                total, tok = total + nxt, torch.tensor([[nxt]])
        return total
    return {"train": step, "val": lambda: forward(carry=True), "sample": sample, "forward": forward, "cache_bytes": None,
            "sync": torch.cuda.synchronize if dev == "cuda" else None}


def sgemm_gflops(spec):
    """The best of 5 sgemm runs of the worker's own library at max(N*T, 256) x 1024 @ 1024 x 2048, GFLOP/s."""
    m, k, n = spec.get("gemm_m") or max(spec.get("N", N) * spec.get("T", T), 256), 1024, 2048
    if spec["backend"].startswith("torch"):
        import torch
        dev = "cuda" if spec["backend"] == "torch-cuda" else "cpu"
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
    fns = (_torch_setup if spec["backend"].startswith("torch") else _minirnn_setup)(spec)
    fn, sync, kind, warmup = fns[spec.get("kind", "train")], fns["sync"], spec.get("kind", "train"), spec["warmup"]
    ceiling = None if spec.get("profile") else sgemm_gflops(spec)
    first = common.times_ms(fn, 2, 0, sync)                   # from a zero state, then a carried one
    if spec.get("profile"):                                   # warm: tell the parent, wait for perf
        common.times_ms(fn, warmup, 0, sync)
        print("READY", flush=True)
        sys.stdin.readline()
        warmup = 0
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    steps = common.times_ms(fn, spec["repeats"], warmup, sync)
    ru1, n = resource.getrusage(resource.RUSAGE_SELF), spec["repeats"] + warmup
    out = {"step_times_ms": steps, "first_steps_ms": first, "threads": threads,
           "minor_faults_per_step": (ru1.ru_minflt - ru0.ru_minflt) / n,
           "system_ms_per_step": (ru1.ru_stime - ru0.ru_stime) * 1e3 / n}
    if spec.get("profile"):                                   # hand the result over, wait while perf stops
        print("RESULT " + json.dumps(out), flush=True)
        sys.stdin.readline()
        return out
    out.update(forward_ms=statistics.median(common.times_ms(fns["forward"], spec["repeats"], 1, sync))
               if kind == "train" else None, ceiling_gflops=max(ceiling, sgemm_gflops(spec)),
               cache_bytes=fns["cache_bytes"]() if fns["cache_bytes"] and kind == "train" else None)
    if spec["backend"] == "torch-cuda":                       # memory last: it changes the allocator's settings
        import torch
        torch.cuda.reset_peak_memory_stats()
        fn(), sync()
        out["peak_bytes"] = torch.cuda.max_memory_allocated()
    elif spec["backend"] == "cupy":
        import cupy
        fn(), sync()
        out["peak_bytes"] = cupy.get_default_memory_pool().total_bytes()
    else:
        out["peak_bytes"] = common.peak_rss_during(fn)
    return out


def worker_cmd(spec):
    env = dict(os.environ, **{var: str(spec["threads"]) for var in common.THREAD_VARS})
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(HERE)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return [sys.executable, os.path.abspath(__file__), "--worker", json.dumps(spec)], env


def run_worker(spec, timeout=900):
    cmd, env = worker_cmd(spec)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
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


def measure(args, specs, backends):
    """{(backend, key): [worker results]}: every round runs each spec on each backend, in fresh
    processes, the backends alternating which goes first."""
    runs = {}
    for rnd in range(args.rounds):
        for k, (key, spec) in enumerate(specs.items()):
            for b in (backends if (k + rnd) % 2 == 0 else backends[::-1]):
                r = run_worker(dict(spec, backend=b, threads=args.threads, repeats=args.repeats, warmup=args.warmup,
                                    path=args.path))
                runs.setdefault((b, key), []).append(r)
                what = key if isinstance(key, str) else "{} L={} H={}".format(*key)
                print(f"  round {rnd + 1}/{args.rounds} {b:<10} {what:<16} {statistics.median(r['step_times_ms']):9.2f} ms",
                      flush=True)
    return runs


def grid(args, backends, no_gpu, mach, path):
    specs = {(c, L, H): dict(cell=c, L=L, H=H) for c in args.cells for L in args.layers for H in args.hidden}
    results = []
    for (b, (cell, L, H)), rs in measure(args, specs, backends).items():
        step_ms = statistics.median(statistics.median(r["step_times_ms"]) for r in rs)
        gflops = 3 * forward_flops(cell, L, H) / (step_ms * 1e-3) / 1e9
        ceiling = max(r["ceiling_gflops"] for r in rs)
        results.append({"backend": b, "cell": cell, "L": L, "H": H, "step_ms": step_ms,
                        "step_ms_rounds": [statistics.median(r["step_times_ms"]) for r in rs],
                        "forward_ms": statistics.median(r["forward_ms"] for r in rs), "step_gflops": gflops,
                        "ceiling_gflops": ceiling, "step_pct_of_ceiling": 100 * gflops / ceiling if gflops <= ceiling else None,
                        "peak_bytes": max(r["peak_bytes"] or 0 for r in rs) or None, "runs": rs,
                        "cache_bytes_per_step": rs[-1]["cache_bytes"]})
    rows = summary(results, no_gpu, mach["versions"].get("torch"))
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
                             "config": {"V": V, "N": N, "T": T, "dtype": "float32", "cells": args.cells, "layers": args.layers,
                                        "hidden": args.hidden, "backends": backends, "repeats": args.repeats,
                                        "warmup": args.warmup, "rounds": args.rounds, "minirnn_path": args.path},
                             "no_gpu": no_gpu, "gpu_speedups": speedups, "results": results, "summary": rows})
    common.save_pyperf(path[:-5] + ".pyperf.json", {f"{r['cell']} L{r['L']} H{r['H']} {r['backend']}":
                                                    [w["step_times_ms"] for w in r["runs"]] for r in results})


# ---- the rows (vs_torch.json) ----------------------------------------------------------------------
def row_configs(args):
    names = list(ROWS) if args.rows == "all" else args.rows.split(",")
    if not set(names) <= set(ROWS):
        raise UsageError(f"--rows takes all or a comma list of {', '.join(ROWS)}, got {args.rows!r}")
    return {n: dict(ROWS[n], cell="lstm", gemm_m=256 if args.tiny else 2048,
                    **(dict(TINY, label=f"{n} at N = 2, T = 4, H = 8 (--tiny)") if args.tiny else {})) for n in names}


def rows_table(args, cfgs, backends, mach, meta, path):
    runs = measure(args, cfgs, backends)
    ceilings = [r["ceiling_gflops"] for (b, _), rs in runs.items() if b == "numpy" for r in rs]
    ceil, rows, summ = statistics.median(ceilings), [], []
    for name, cfg in cfgs.items():
        row = {"row": name, "label": cfg["label"], "config": cfg}
        for b in backends:
            meds = [statistics.median(r["step_times_ms"]) for r in runs[(b, name)]]
            lib = row[LIB[b]] = {"median_ms": statistics.median(meds), "round_medians_ms": meds, "minor_faults_per_step":
                                 statistics.median(r["minor_faults_per_step"] for r in runs[(b, name)])}
            if cfg["kind"] == "sample":
                lib.update(chars_per_s=cfg["chars"] / (lib["median_ms"] * 1e-3), ms_per_char=lib["median_ms"] / cfg["chars"])
            else:
                row["gflop_per_step"] = flops(cfg) * (3 if cfg["kind"] == "train" else 1) / 1e9
                lib.update(gflops=row["gflop_per_step"] / (lib["median_ms"] * 1e-3))
                lib.update(pct_of_ceiling=100 * lib["gflops"] / ceil if lib["gflops"] <= ceil else None)
        unit, key = ("ms/char", "ms_per_char") if cfg["kind"] == "sample" else ("ms", "median_ms")
        t = row.get("torch")
        if t:
            row["ratio"] = row["minirnn"]["median_ms"] / t["median_ms"]
        rows.append(row)
        summ.append(common.row(cfg["label"], f"{row['minirnn'][key]:.3g} {unit}", t and f"PyTorch {mach['versions'].get('torch')} CPU",
                               t and f"{t[key]:.3g} {unit}", row.get("ratio"), "" if cfg["kind"] == "sample" else
                               f"{row['minirnn']['pct_of_ceiling'] or 0:.0f}% of numpy's sgemm rate"))
    ceiling = {"gflops_median": ceil, "per_round": ceilings, "shape": [256 if args.tiny else 2048, 1024, 2048]}
    print(f"# sgemm ceiling {ceil:.0f} GFLOP/s; median of {args.repeats} steps after {args.warmup}, {args.rounds} rounds")
    common.show(summ)
    common.write_json(path, dict(meta, command=common.command_line(), ceiling=ceiling, rows=rows, summary=summ))


# ---- the profile (--rows ... --profile) ------------------------------------------------------------
CATEGORIES = (
    ("GEMM compute and packing (OpenBLAS kernels)", lambda dso, sym: "openblas" in dso and re.search(
        r"gemm_kernel|gemv|copy|_beta|dot|axpy|scal", sym) is not None),
    ("BLAS threads waiting / handing out work", lambda dso, sym: "openblas" in dso),
    ("Numba kernels (JIT code)", lambda dso, sym: dso.startswith(("[JIT]", "perf-")) or dso in ("[unknown]", "")),
    ("NumPy elementwise and reductions", lambda dso, sym: "numpy" in dso or "_multiarray" in dso or "_umath" in dso),
    ("Python interpreter and call overhead", lambda dso, sym: "libpython" in dso or dso.startswith("python")),
    ("kernel: page faults, zeroing, syscalls", lambda dso, sym: "kernel" in dso),
    ("libc: malloc, free, memset, memcpy", lambda dso, sym: dso.startswith("libc")),
    ("OpenMP runtime: Numba's parallel loops handing out work, threads waiting", lambda dso, sym: "gomp" in dso or "libomp" in dso),
)


def classify(report: str) -> dict:
    """perf report --sort dso,sym lines -> {category: percent of samples}."""
    shares = dict.fromkeys([name for name, _ in CATEGORIES] + ["other"], 0.0)
    for line in report.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+(\S+(?: tid \d+)?)\s+\[[.k]\]\s+(.*)", line)
        if m:
            pct, dso, sym = float(m.group(1)), m.group(2), m.group(3).strip()
            shares[next((name for name, test in CATEGORIES if test(dso, sym)), "other")] += pct
    return shares


def profile(args, cfgs, folder):
    """Each row's minirnn worker under perf record, after its warm-up: the shares of its CPU samples."""
    perf, out = shutil.which("perf"), []
    if perf is None:
        raise UsageError("--profile needs Linux perf (not found); nothing profiled")
    for name, cfg in cfgs.items():
        cmd, env = worker_cmd(dict(cfg, backend="numpy", threads=args.threads, repeats=args.repeats,
                                   warmup=args.warmup, path=args.path, profile=True))
        data = os.path.join(folder, f"perf_{name}.data")
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        if proc.stdout.readline().strip() != "READY":
            raise RuntimeError(f"profiled worker {name} failed:\n{proc.stderr.read()[-2000:]}")
        rec = subprocess.Popen([perf, "record", "-F", "1999", "-q", "-o", data, "-p", str(proc.pid)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)                                  # perf attached
        proc.stdin.write("go\n")
        proc.stdin.flush()
        first = proc.stdout.readline()                   # the timed steps are done
        rec.send_signal(signal.SIGINT)
        rec.wait(timeout=60)
        stdout, stderr = proc.communicate("stop\n", timeout=600)
        res = json.loads([l for l in (first + stdout).splitlines() if l.startswith("RESULT ")][-1][7:])
        if not os.path.exists(data):
            raise UsageError("perf recorded nothing (see /proc/sys/kernel/perf_event_paranoid); nothing profiled")
        report = subprocess.run([perf, "report", "-i", data, "--no-children", "--sort", "dso,sym", "--stdio", "-g", "none"],
                                capture_output=True, text=True).stdout
        os.remove(data)
        out.append({"row": name, "label": cfg["label"], "step_ms_under_perf": statistics.median(res["step_times_ms"]),
                    "minor_faults_per_step": res["minor_faults_per_step"], "system_ms_per_step": res["system_ms_per_step"],
                    "shares_pct": classify(report), "top_symbols": [l.strip() for l in report.splitlines()
                                                                   if re.match(r"\s*[\d.]+%", l)][:15]})
        print(f"{name}: " + ", ".join(f"{k} {v:.0f}%" for k, v in out[-1]["shares_pct"].items()), flush=True)
    return out


def main(argv=None):
    ap = common.parser(__doc__)
    ap.add_argument("--cells", default="lstm,gru", help="comma list of rnn, lstm, gru")
    ap.add_argument("--layers", type=common.counts, default=[2], help="comma list of L")
    ap.add_argument("--hidden", type=common.counts, default=[512], help="comma list of H")
    ap.add_argument("--rows", default=None, help=f"all, or a comma list of {', '.join(ROWS)}: the rows instead of the grid")
    ap.add_argument("--tiny", action="store_true", help=f"with --rows: every row at {TINY}")
    ap.add_argument("--profile", action="store_true", help="with --rows: profile minirnn's rows with perf instead")
    ap.add_argument("--backends", default="auto", help="comma list of numpy, cupy, torch-cpu, torch-cuda; auto = all present")
    ap.add_argument("--threads", type=common.count, default=len(os.sched_getaffinity(0)), help="threads for every library")
    ap.add_argument("--repeats", type=common.count, default=7, help="timed steps per process")
    ap.add_argument("--warmup", type=common.natural, default=2, help="untimed steps per process after the first two")
    ap.add_argument("--rounds", type=common.count, default=3, help="times the whole set runs, in fresh processes")
    ap.add_argument("--path", choices=("fused", "reference"), default="fused", help="minirnn on NumPy: the engine or the book")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    common.add_output_args(ap)
    args = ap.parse_args(argv)
    if args.worker:
        print("RESULT " + json.dumps(worker(json.loads(args.worker))), flush=True)
        return 0
    args.cells = args.cells.split(",")
    if not set(args.cells) <= {"rnn", "lstm", "gru"}:
        raise UsageError(f"--cells takes a comma list of rnn, lstm, gru, got {','.join(args.cells)!r}")
    if (args.tiny or args.profile) and not args.rows:
        raise UsageError("--tiny and --profile go with --rows")
    cfgs = row_configs(args) if args.rows else None
    have, no_gpu = present_backends()
    backends = have if args.backends == "auto" else args.backends.split(",")
    if not set(backends) <= set(have):
        raise UsageError(f"--backends: {', '.join(sorted(set(backends) - set(have)))} not present here (present: {', '.join(have)})")
    if cfgs is not None:
        backends = [b for b in backends if b in LIB]
        if "numpy" not in backends:
            raise UsageError("--rows runs on the CPU: --backends must hold numpy")
    path = common.result_path(args, "vs_torch_profile.json" if args.profile else "vs_torch.json" if args.rows else "rnn.json")
    if not args.rows:
        common.check_result_file(path[:-5] + ".pyperf.json")
    mach = common.machine()
    print(f"# {common.machine_line(mach)}; {args.threads} threads")
    if no_gpu and not args.rows:
        print(f"# no GPU on this machine ({no_gpu}): CPU rows only; run this on a GPU machine for the GPU rows", flush=True)
    meta = {"benchmark": "bench_rnn", "machine": mach, "threads": args.threads, "rounds": args.rounds,
            "warmup": args.warmup, "steps": args.repeats, "tiny": args.tiny, "date": mach["date"]}
    if args.profile:
        common.write_json(path, dict(meta, command=common.command_line(), profile=profile(args, cfgs, os.path.dirname(path))))
    elif args.rows:
        rows_table(args, cfgs, backends, mach, meta, path)
    else:
        grid(args, backends, no_gpu, mach, path)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
