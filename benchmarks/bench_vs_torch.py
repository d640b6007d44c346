"""minirnn against PyTorch on the CPU, side by side: the table of issue 24 in one command.

    python benchmarks/bench_vs_torch.py                      # every row, 3 rounds: ~5 min on 2 cores
    python benchmarks/bench_vs_torch.py --rows char_val,tr512 --rounds 5
    python benchmarks/bench_vs_torch.py --profile            # where minirnn's time goes (Linux perf)
    python benchmarks/bench_vs_torch.py --update-results     # also benchmarks/results/vs_torch.json

Rows (float32, LSTM, Adam(2e-3), clip_grad_norm 5; both libraries get the same sizes and ids):
    char_train   the default char model's training step: one-hot V = 91, H = 256, L = 2, N = 32, T = 64
                 (forward, loss, backward, clipping, Adam; the state carried from step to step)
    char_val     the same model's validation forward: minirnn's RNNLM.eval_loss (the forward-only
                 path the trainer's validation runs), PyTorch's forward and cross-entropy under no_grad
    tr128        torch-rnn's configuration, training: a trained embedding of 64, V = 65, N = T = 50,
                 L = 2, H = 128
    tr512        the same at H = 512
    tr512x3      the same at H = 512 with L = 3 and the novel's V = 91
    sample       batch-1 sampling from the default char model, milliseconds per character: minirnn's
                 sampling.generate (temperature 1), PyTorch's per-step loop (softmax, multinomial)

How: each (library, row) runs in a fresh process (one thread count for BLAS, Numba and PyTorch;
glibc's malloc setting of minirnn.fast.heap for both), ``--warmup`` untimed steps then the median
of ``--steps`` timed ones. Rounds alternate which library goes first; each figure is the median over
rounds, and the ratio is minirnn's over PyTorch's. The GEMM ceiling is numpy's sgemm at
2048 x 2048 x 2048, measured in its own process each round (median over rounds); a training step's
GFLOP/s count the GEMMs as issue 24 does, forward 2 N T (D + H) 4H per layer plus 2 N T H V for
the output layer, backward twice that, and its share of the ceiling is reported beside the ratio.

``--profile`` runs one minirnn worker per row under ``perf record`` (after its warm-up) and splits
its CPU samples, all threads, into GEMM compute, BLAS threads waiting, Numba kernels, NumPy
elementwise and reductions, the Python interpreter, the kernel and libc (page faults, allocation,
memset), and the rest; plus page faults and system time per step from getrusage.

Output: a Markdown table on stdout and JSON (vs_torch.json; vs_torch_profile.json for --profile)
in ``--out-dir`` (default $MINIRNN_BENCH_OUT or <tempdir>/minirnn-bench); ``--update-results`` also
writes them to benchmarks/results/. Without PyTorch the minirnn side still runs, and one line says so.
Run it on a quiet machine: other processes on the cores change both libraries' times.
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

ROWS = {
    "char_train": dict(kind="train", V=91, E=0, N=32, T=64, L=2, H=256,
                       label="default char model, training step (one-hot V = 91, H = 256, L = 2, B = 32, T = 64)"),
    "char_val": dict(kind="val", V=91, E=0, N=32, T=64, L=2, H=256,
                     label="the same, validation forward (no gradients)"),
    "tr128": dict(kind="train", V=65, E=64, N=50, T=50, L=2, H=128,
                  label="torch-rnn's config (embedding 64, B = T = 50, L = 2), H = 128, training"),
    "tr512": dict(kind="train", V=65, E=64, N=50, T=50, L=2, H=512, label="the same, H = 512"),
    "tr512x3": dict(kind="train", V=91, E=64, N=50, T=50, L=3, H=512,
                    label="the same with the novel's V = 91 and L = 3 (H512x3 of issue 34)"),
    "sample": dict(kind="sample", V=91, E=0, N=1, T=1, L=2, H=256, chars=100,
                   label="default char model, batch-1 sampling (ms per character)"),
}
TINY = dict(N=2, T=4, H=8, chars=5)       # --tiny: every row at these sizes, the ceiling at 256^3
GEMM = 2048                               # the ceiling's sgemm size

# the smallest run: what the benchmarks' smoke test runs (a few seconds)
SMOKE_ARGS = ["--tiny", "--rounds", "1", "--warmup", "1", "--steps", "1", "--rows", "char_val,sample"]


def flops(cfg) -> float:
    """GEMM flops of one forward, as issue 24 counts them (D of layer 0: V for one-hot, else E)."""
    N, T, H, V, L = cfg["N"], cfg["T"], cfg["H"], cfg["V"], cfg["L"]
    D0 = cfg["E"] or V
    rec = sum(2 * N * T * ((D0 if l == 0 else H) + H) * 4 * H for l in range(L))
    return float(rec + 2 * N * T * H * V)


# ---- the workers: one (library, row) per process ----------------------------------------------------
def _minirnn_setup(cfg):
    import numpy as np
    from minirnn.model import RNNLM
    from minirnn.sampling import generate
    model = RNNLM(cfg["V"], hidden=cfg["H"], layers=cfg["L"], cell="lstm", embed=cfg["E"], seed=0,
                  dtype=np.float32)
    rng = np.random.default_rng(0)
    x = rng.integers(0, cfg["V"], (cfg["N"], cfg["T"]))      # (N, T)
    y = rng.integers(0, cfg["V"], (cfg["N"], cfg["T"]))      # (N, T)
    step, box = common.minirnn_step(model, x, y)

    def train():
        return float(step())

    def val():
        loss, box["state"] = model.eval_loss(x, y, box["state"])
        return float(loss)

    def sample():
        return sum(generate(model, [1], cfg["chars"], np.random.default_rng(1)))

    return {"train": train, "val": val, "sample": sample}[cfg["kind"]]


def _torch_setup(cfg):
    import torch
    import torch.nn.functional as F
    torch.manual_seed(0)
    V, E, H = cfg["V"], cfg["E"], cfg["H"]
    emb = torch.nn.Embedding(V, E or V)
    if not E:                                               # one-hot input: a frozen identity table
        with torch.no_grad():
            emb.weight.copy_(torch.eye(V))
        emb.weight.requires_grad_(False)
    rnn = torch.nn.LSTM(E or V, H, num_layers=cfg["L"], batch_first=True)
    lin = torch.nn.Linear(H, V)
    params = [p for m in (emb, rnn, lin) for p in m.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=2e-3)
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, V, (cfg["N"], cfg["T"]), generator=g)
    y = torch.randint(0, V, (cfg["N"], cfg["T"]), generator=g)
    box = {"state": None}

    def train():
        opt.zero_grad(set_to_none=True)
        state = None if box["state"] is None else tuple(s.detach() for s in box["state"])
        out, box["state"] = rnn(emb(x), state)
        loss = F.cross_entropy(lin(out).reshape(-1, V), y.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()
        return float(loss)

    def val():
        with torch.no_grad():
            out, box["state"] = rnn(emb(x), box["state"])
            return float(F.cross_entropy(lin(out).reshape(-1, V), y.reshape(-1)))

    def sample():
        gen = torch.Generator().manual_seed(1)
        total, state, tok = 0, None, torch.tensor([[1]])
        with torch.no_grad():
            for _ in range(cfg["chars"]):
                out, state = rnn(emb(tok), state)
                p = torch.softmax(lin(out[0, -1]).double(), dim=-1)
                nxt = int(torch.multinomial(p, 1, generator=gen))
                total += nxt
                tok = torch.tensor([[nxt]])
        return total

    return {"train": train, "val": val, "sample": sample}[cfg["kind"]]


def _gemm_setup(cfg):
    import numpy as np
    n = cfg["size"]
    rng = np.random.default_rng(0)
    A, B = (rng.standard_normal((n, n)).astype(np.float32) for _ in range(2))
    C = np.empty((n, n), dtype=np.float32)
    return lambda: np.matmul(A, B, out=C)


def worker(spec):
    if spec["lib"] == "torch":                     # import only this library, then pin its threads
        import torch  # noqa: F401
    else:
        import minirnn.fast  # noqa: F401  (imports numba)
    threads = common.set_threads(spec["threads"])
    from minirnn.fast import heap                 # glibc's malloc setting, for both libraries alike
    heap.keep_freed_heap()
    setup = {"minirnn": _minirnn_setup, "torch": _torch_setup, "gemm": _gemm_setup}[spec["lib"]]
    fn = setup(spec["cfg"])
    for _ in range(spec["warmup"]):
        fn()
    if spec.get("profile"):                        # tell the parent we are warm, wait for perf
        print("READY", flush=True)
        sys.stdin.readline()
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    times = []
    for _ in range(spec["steps"]):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    n = spec["steps"]
    out = {"median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times),
            "minor_faults_per_step": (ru1.ru_minflt - ru0.ru_minflt) / n,
            "system_ms_per_step": (ru1.ru_stime - ru0.ru_stime) * 1e3 / n,
            "threads": threads.get("threads")}
    if spec.get("profile"):                        # hand the result over, then wait while perf stops:
        print("RESULT " + json.dumps(out), flush=True)   # the interpreter's exit is not profiled
        sys.stdin.readline()
    return out


def _env(spec):
    env = dict(os.environ)
    for var in common.THREAD_VARS:
        env[var] = str(spec["threads"])
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(HERE)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


def run_worker(spec, timeout=600):
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", json.dumps(spec)],
                          capture_output=True, text=True, env=_env(spec), timeout=timeout)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"worker {spec['lib']} {spec.get('row')} failed:\n{proc.stderr[-2000:]}")
    return json.loads(lines[-1][7:])


def have_torch() -> bool:
    try:
        import importlib.util
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


# ---- the table ------------------------------------------------------------------------------------
def configs(args):
    """{row name: its sizes} for --rows (None if a name is unknown)."""
    out = {}
    for name in args.rows.split(","):
        if name not in ROWS:
            return None
        cfg = dict(ROWS[name])
        if args.tiny:
            cfg.update(TINY, label=f"{name} at N = {TINY['N']}, T = {TINY['T']}, H = {TINY['H']} (--tiny)")
        out[name] = cfg
    return out


def measure(args, cfgs, libs):
    """Every round: the GEMM ceiling, then each row's libraries, the first alternating by round."""
    runs = {(lib, name): [] for name in cfgs for lib in libs}
    ceiling = []
    base = dict(threads=args.threads, warmup=args.warmup, steps=args.steps)
    for r in range(args.rounds):
        size = 256 if args.tiny else GEMM
        g = run_worker(dict(base, lib="gemm", cfg={"size": size}, warmup=2, steps=5 if not args.tiny else 1))
        ceiling.append(2 * size ** 3 / (g["median_ms"] * 1e-3) / 1e9)
        for name, cfg in cfgs.items():
            order = libs if r % 2 == 0 else libs[::-1]
            for lib in order:
                res = run_worker(dict(base, lib=lib, row=name, cfg=cfg))
                runs[(lib, name)].append(res)
                print(f"# round {r + 1}/{args.rounds} {name:10s} {lib:7s} {res['median_ms']:9.2f} ms",
                      file=sys.stderr, flush=True)
    ceil = statistics.median(ceiling)
    rows = []
    for name, cfg in cfgs.items():
        row = {"row": name, "label": cfg["label"], "config": cfg}
        for lib in libs:
            meds = [x["median_ms"] for x in runs[(lib, name)]]
            row[lib] = {"median_ms": statistics.median(meds), "round_medians_ms": meds,
                        "minor_faults_per_step": statistics.median(x["minor_faults_per_step"] for x in runs[(lib, name)])}
        if cfg["kind"] == "sample":
            for lib in libs:
                row[lib]["chars_per_s"] = cfg["chars"] / (row[lib]["median_ms"] * 1e-3)
                row[lib]["ms_per_char"] = row[lib]["median_ms"] / cfg["chars"]
        if "torch" in libs:
            row["ratio"] = row["minirnn"]["median_ms"] / row["torch"]["median_ms"]
        if cfg["kind"] in ("train", "val"):
            f = flops(cfg) * (3 if cfg["kind"] == "train" else 1)
            row["gflop_per_step"] = f / 1e9
            for lib in libs:
                gf = f / (row[lib]["median_ms"] * 1e-3) / 1e9
                row[lib]["gflops"] = gf
                row[lib]["pct_of_ceiling"] = 100 * gf / ceil
        rows.append(row)
    size = 256 if args.tiny else GEMM
    return rows, {"gflops_median": ceil, "per_round": ceiling, "shape": [size, size, size]}


def table(rows, libs) -> str:
    torch_on = "torch" in libs
    head = "| row | minirnn | PyTorch | ratio | % of sgemm ceiling (minirnn / PyTorch) |" if torch_on else \
        "| row | minirnn | % of sgemm ceiling |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        unit = "ms/char" if r["config"]["kind"] == "sample" else "ms"
        m = r["minirnn"]["ms_per_char"] if unit == "ms/char" else r["minirnn"]["median_ms"]
        pct_m = f"{r['minirnn']['pct_of_ceiling']:.0f}%" if "pct_of_ceiling" in r["minirnn"] else "-"
        if torch_on:
            t = r["torch"]["ms_per_char"] if unit == "ms/char" else r["torch"]["median_ms"]
            pct_t = f"{r['torch']['pct_of_ceiling']:.0f}%" if "pct_of_ceiling" in r["torch"] else "-"
            lines.append(f"| {r['label']} | {m:.3g} {unit} | {t:.3g} {unit} | **{r['ratio']:.2f}** | {pct_m} / {pct_t} |")
        else:
            lines.append(f"| {r['label']} | {m:.3g} {unit} | {pct_m} |")
    return "\n".join(lines)


# ---- the profile ----------------------------------------------------------------------------------
CATEGORIES = (
    ("GEMM compute and packing (OpenBLAS kernels)", lambda dso, sym: "openblas" in dso and re.search(
        r"gemm_kernel|gemv|copy|_beta|dot|axpy|scal", sym) is not None),
    ("BLAS threads waiting / handing out work", lambda dso, sym: "openblas" in dso),
    ("Numba kernels (JIT code)", lambda dso, sym: dso.startswith("[JIT]") or dso in ("[unknown]", "")
     or dso.startswith("perf-")),
    ("NumPy elementwise and reductions", lambda dso, sym: "numpy" in dso or "_multiarray" in dso
     or "_umath" in dso),
    ("Python interpreter and call overhead", lambda dso, sym: "libpython" in dso or dso.startswith("python")),
    ("kernel: page faults, zeroing, syscalls", lambda dso, sym: "kernel" in dso),
    ("libc: malloc, free, memset, memcpy", lambda dso, sym: dso.startswith("libc")),
)


def classify(report: str) -> dict:
    """perf report --sort dso,sym lines -> {category: percent of samples}."""
    shares = {name: 0.0 for name, _ in CATEGORIES}
    shares["other"] = 0.0
    for line in report.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+(\S+(?: tid \d+)?)\s+\[[.k]\]\s+(.*)", line)
        if not m:
            continue
        pct, dso, sym = float(m.group(1)), m.group(2), m.group(3).strip()
        for name, test in CATEGORIES:
            if test(dso, sym):
                shares[name] += pct
                break
        else:
            shares["other"] += pct
    return shares


def _paranoid() -> str:
    try:
        with open("/proc/sys/kernel/perf_event_paranoid") as f:
            return f.read().strip()
    except OSError:
        return "unknown"


def profile(args, cfgs):
    perf = shutil.which("perf")
    if perf is None:
        print("bench_vs_torch: --profile needs Linux perf (not found); nothing profiled")
        return None
    os.makedirs(args.out_dir, exist_ok=True)
    out = []
    for name, cfg in cfgs.items():
        spec = dict(threads=args.threads, warmup=args.warmup, steps=args.steps, lib="minirnn", row=name,
                    cfg=cfg, profile=True)
        data = os.path.join(args.out_dir, f"perf_{name}.data")
        proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker", json.dumps(spec)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=_env(spec))
        assert proc.stdout.readline().strip() == "READY", proc.stderr.read()[-2000:]
        rec = subprocess.Popen([perf, "record", "-F", "1999", "-q", "-o", data, "-p", str(proc.pid)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)                             # perf attached
        proc.stdin.write("go\n")
        proc.stdin.flush()
        first = proc.stdout.readline()                # the timed steps are done
        rec.send_signal(signal.SIGINT)
        rec.wait(timeout=60)
        stdout, stderr = proc.communicate("stop\n", timeout=600)
        lines = [l for l in (first + stdout).splitlines() if l.startswith("RESULT ")]
        if proc.returncode != 0 or not lines:
            raise RuntimeError(f"profiled worker {name} failed:\n{stderr[-2000:]}")
        res = json.loads(lines[-1][7:])
        if not os.path.exists(data):
            print(f"bench_vs_torch: perf recorded nothing (perf_event_paranoid {_paranoid()}?); nothing profiled")
            return None
        report = subprocess.run([perf, "report", "-i", data, "--no-children", "--sort", "dso,sym", "--stdio",
                                 "-g", "none"], capture_output=True, text=True).stdout
        top = [l.strip() for l in report.splitlines() if re.match(r"\s*[\d.]+%", l)][:15]
        out.append({"row": name, "label": cfg["label"], "step_ms_under_perf": res["median_ms"],
                    "minor_faults_per_step": res["minor_faults_per_step"],
                    "system_ms_per_step": res["system_ms_per_step"], "shares_pct": classify(report),
                    "top_symbols": top})
        os.remove(data)
    return out


def profile_table(prof) -> str:
    names = [n for n, _ in CATEGORIES] + ["other"]
    head = "| share of CPU samples | " + " | ".join(p["row"] for p in prof) + " |"
    lines = [head, "|" + "---|" * (len(prof) + 1)]
    for n in names:
        lines.append(f"| {n} | " + " | ".join(f"{p['shares_pct'][n]:.0f}%" for p in prof) + " |")
    lines.append("| step under perf (ms) | " + " | ".join(f"{p['step_ms_under_perf']:.1f}" for p in prof) + " |")
    lines.append("| minor page faults per step | " + " | ".join(f"{p['minor_faults_per_step']:.0f}" for p in prof) + " |")
    return "\n".join(lines)


def write_json(obj, name, args):
    os.makedirs(args.out_dir, exist_ok=True)
    paths = [os.path.join(args.out_dir, name)]
    if args.update_results:
        paths.append(os.path.join(HERE, "results", name))
    for p in paths:
        tmp = p + ".tmp"
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=1)
        os.replace(tmp, p)
    return paths


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--rows", default=",".join(ROWS), help=f"comma list of {', '.join(ROWS)}")
    ap.add_argument("--rounds", type=int, default=3, help="rounds; each runs every (library, row) once")
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps per worker")
    ap.add_argument("--steps", type=int, default=25, help="timed steps per worker (the median is kept)")
    ap.add_argument("--threads", type=int, default=2, help="threads for BLAS, Numba and PyTorch")
    ap.add_argument("--no-torch", action="store_true", help="time minirnn alone")
    ap.add_argument("--tiny", action="store_true", help=f"every row at {TINY} (a smoke run)")
    ap.add_argument("--profile", action="store_true", help="profile minirnn's rows with perf instead")
    ap.add_argument("--out-dir", default=common.default_out_dir(), help="where the JSON goes")
    ap.add_argument("--update-results", action="store_true", help="also write to benchmarks/results/")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print("RESULT " + json.dumps(worker(json.loads(args.worker))), flush=True)
        return 0
    for flag in ("rounds", "warmup", "steps", "threads"):
        if getattr(args, flag) < (0 if flag == "warmup" else 1):
            print(f"error: --{flag} must be >= {0 if flag == 'warmup' else 1}", file=sys.stderr)
            return 2
    cfgs = configs(args)
    if cfgs is None:
        print(f"error: --rows takes a comma list of {', '.join(ROWS)}, got {args.rows!r}", file=sys.stderr)
        return 2
    meta = {"machine": common.machine(), "threads": args.threads, "rounds": args.rounds,
            "warmup": args.warmup, "steps": args.steps, "tiny": args.tiny,
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    if args.profile:
        prof = profile(args, cfgs)
        if prof is None:
            return 0
        print(profile_table(prof))
        for p in write_json(dict(meta, profile=prof), "vs_torch_profile.json", args):
            print(f"# wrote {p}")
        return 0
    libs = ["minirnn"] if args.no_torch else ["minirnn", "torch"]
    if "torch" in libs and not have_torch():
        libs.remove("torch")
        print("bench_vs_torch: PyTorch is not installed; timing minirnn alone")
    rows, ceiling = measure(args, cfgs, libs)
    print(f"# {meta['machine']['cpu']}, {args.threads} threads, float32; median of {args.steps} steps "
          f"after {args.warmup}, over {args.rounds} alternated rounds; sgemm {ceiling['shape'][0]}^3 ceiling "
          f"{ceiling['gflops_median']:.0f} GFLOP/s")
    print(table(rows, libs))
    for p in write_json(dict(meta, ceiling=ceiling, rows=rows), "vs_torch.json", args):
        print(f"# wrote {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
