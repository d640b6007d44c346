#!/usr/bin/env python
"""The training-recipe study: validation curves of the char model for named variants, and PyTorch's.

Every run trains on minirnn's data protocol (chardata.split: the last 10% of the text is
validation; 32 streams, windows of 64, state carried and reset at each epoch) and measures the
validation loss as Trainer.evaluate does, every --eval-every iterations. Each run appends one
record (text, variant, seed, curve of [iteration, val nats/char, seconds since the start, seconds of
that validation pass]) to
recipe.json in --out-dir (benchmarks/results/recipe.json, the study, with --update-results);
--plot draws that file to recipe.png beside it.

A variant is a spec string:
    default                  what `python scripts/train_char.py` does now (its parser's defaults)
    default --lr 8e-3 ...    the same with train_char.py flags changed (one quoted argument);
                             a word @beta2=0.99 sets that attribute of the optimizer it builds
    torch                    PyTorch's defaults: one-hot -> nn.LSTM(V, 256, 2) -> nn.Linear, default
                             initialisation, Adam(lr), clip_grad_norm_(5); `torch,lr=2e-3` changes lr
                             (and `hidden=H` the width, as for the keys below; `layers=L`,
                             `dropout=P` (nn.LSTM's, between layers), `model=gru|rnn` the rest of the
                             size); skipped with one line when PyTorch is not installed
    key=value,...            minirnn's loop with the old recipe (forget bias 1, one bias, Adam 3e-3,
                             no schedule) changed by the keys given:
        init=fb1|u1|u2       LSTM bias b: U(-k,k) with the forget quarter set to 1 (the old init);
                             U(-k,k) (forget bias drawn like the others);
                             U(-k,k) + U(-k,k) (PyTorch's b_ih + b_hh at initialisation)
        blr=F                learning-rate factor of the recurrent biases (2: PyTorch's two biases)
        lr=X                 Adam's learning rate
        sched=cos:W:F[:S]    warm-up of W iterations, hold lr until iteration S (default W), then a
                             half cosine to F * lr at the last iteration
        clip=C               gradient-norm clipping
        hidden=H             the width of both layers (default 256)

    python benchmarks/recipe.py --variants torch default --seeds 0 1
    python benchmarks/recipe.py --variants "init=u2,blr=2" "init=u2,blr=2,sched=cos:100:0.1"
    python benchmarks/recipe.py --text /tmp/kjv.txt --variants torch default
    python benchmarks/recipe.py --plot

Run each under `flock /tmp/minirnn-bench.lock` on a shared machine (a 2000-iteration run on the
novel: ~1.5 minutes on an idle 2-core machine, 5 with one BLAS thread on a busy one). Curves do not
depend on timing or on the thread count (the train_char.py run at 2 threads gave the 1-thread curve
to 4 decimals); the seconds recorded do (the machine and the threads are in the JSON).
The study in docs/recipe.md ran with OPENBLAS_NUM_THREADS=1 and --threads 1, some runs
two at a time (the `note` says "pair"): their seconds are comparable only within a pair.
"""
import argparse
import datetime
import hashlib
import json
import os
import platform
import shlex
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "scripts"))

import common  # noqa: E402

from minirnn import chardata  # noqa: E402
from minirnn.errors import UsageError, run_cli  # noqa: E402
from minirnn.cli import make_optimizer  # noqa: E402
from minirnn.layers import lstm  # noqa: E402
from minirnn.model import RNNLM  # noqa: E402
from minirnn.optim import Adam, WarmupCosine, bias_lr_factors  # noqa: E402
from minirnn.textio import default_corpus  # noqa: E402

RESULTS = os.path.join(HERE, "results", "recipe.json")
# train_char.py flags that do not change a run's curve (where it runs, what it prints and saves)
NOT_RECIPE = {"text", "seed", "iters", "eval_every", "eval_windows", "print_every", "sample_every", "sample_length",
              "sample_temperature", "checkpoint_dir", "resume", "overwrite", "backend"}
OLD = {"init": "fb1", "blr": 1.0, "lr": 3e-3, "sched": "none", "clip": 5.0, "hidden": 256}
# issue 34's sizes: name -> (train_char.py flags, the same size for the torch variant, iterations),
# each trained with minirnn's defaults for its size and with PyTorch at every lr of TORCH_LRS
SIZES = {"H128x2": ("--hidden 128", "hidden=128", 2000), "H256x2": ("", "", 2000),
         "H512x2": ("--hidden 512", "hidden=512", 500),
         "H512x3": ("--hidden 512 --layers 3 --dropout 0.2", "hidden=512,layers=3,dropout=0.2", 500),
         "GRU": ("--model gru", "model=gru", 1000), "RNN": ("--model rnn", "model=rnn", 1000)}
TORCH_LRS = (1e-3, 2e-3, 3e-3, 6e-3)
SMOKE_ARGS = ["--variants", "default --hidden 8 --layers 1", "torch,hidden=8", "hidden=8",
              "--iters", "2", "--eval-every", "2", "--val-windows", "2", "--threads", "1"]


# ---- the training loops (this study's, and compare_torch_charlm.py's) ----------------------------
def curve_of(vals, times) -> list:
    """[[iteration, validation loss, seconds since the start, seconds of that validation pass]]
    from a loop's (iteration, loss) pairs and its `times`."""
    return [[it, v, t, tv] for (it, v), (t, tv) in zip(vals, times)]


def train_minirnn(model, train, val, iters, lr, clip, val_every, opt=None, schedule=None, times=None,
                  val_windows=None):
    """minirnn's own loop (Trainer.step: window order, carried state, clipping, the optimizer and
    its schedule; plain Adam(lr) unless `opt` is given), nothing saved. `times`, a list, receives
    at each validation point (seconds since the start, validation included; seconds of that
    validation pass). Validation covers the first `val_windows` windows (None: all). Returns
    (train losses, [(iteration, val loss)], seconds)."""
    from minirnn.trainer import Trainer
    opt = Adam(model.trainable(), lr=lr) if opt is None else opt
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(model, opt, train, val, iters=iters, eval_every=iters, checkpoint_dir=tmp,
                          meta={}, clip=clip, schedule=schedule)
        losses, vals = [], []
        t0 = time.perf_counter()
        for it in range(iters):
            trainer.step()
            losses.append(float(trainer.last_loss))
            if (it + 1) % val_every == 0 or it + 1 == iters:
                t_val = time.perf_counter()
                vals.append((it + 1, trainer.evaluate(val_windows)))
                if times is not None:
                    now_ = time.perf_counter()
                    times.append((now_ - t0, now_ - t_val))
        return losses, vals, time.perf_counter() - t0


def train_torch(torch, rnn, out, V, train, val, iters, lr, clip, val_every, dtype, times=None, val_windows=None):
    """The same loop in PyTorch: torch.optim.Adam(lr), clip_grad_norm_(clip), validation as
    Trainer.evaluate. `times`, `val_windows` and the return value as in train_minirnn."""
    F = torch.nn.functional
    params = [p for p in list(rnn.parameters()) + list(out.parameters()) if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    eye = torch.eye(V, dtype=dtype)
    losses, vals, state = [], [], None

    def run(x, state):
        h, state = rnn(eye[torch.from_numpy(x)], state)
        return out(h), state

    t0 = time.perf_counter()
    for it in range(iters):
        w = it % len(train)
        if w == 0:
            state = None
        x, y = train.window(w)
        logits, state = run(x, state)
        loss = F.cross_entropy(logits.reshape(-1, V), torch.from_numpy(y).reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, clip)
        opt.step()
        state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
        losses.append(loss.item())
        if (it + 1) % val_every == 0 or it + 1 == iters:
            t_val = time.perf_counter()
            rnn.eval()                                     # no dropout while validating
            with torch.no_grad():
                total, s = 0.0, None
                n = len(val) if not val_windows else min(val_windows, len(val))
                for k in range(n):
                    vx, vy = val.window(k)
                    lg, s = run(vx, s)
                    total += F.cross_entropy(lg.reshape(-1, V), torch.from_numpy(vy).reshape(-1)).item()
            vals.append((it + 1, total / n))
            rnn.train()
            if times is not None:
                now_ = time.perf_counter()
                times.append((now_ - t0, now_ - t_val))
    return losses, vals, time.perf_counter() - t0


def parse_spec(spec: str) -> dict:
    """'torch,lr=2e-3' -> {'kind': 'torch', 'lr': 0.002}; 'init=u2,blr=2' -> the old recipe changed."""
    if spec.split(" ", 1)[0] == "default":
        words = shlex.split(spec)[1:]
        return {"kind": "default", "argv": [w for w in words if not w.startswith("@")],
                "opt": {k[1:]: float(v) for k, v in (w.split("=", 1) for w in words if w.startswith("@"))}}
    words = [w for w in spec.split(",") if w]
    kind = words[0] if words and "=" not in words[0] else "minirnn"
    cfg = {"kind": kind}
    if kind == "minirnn":
        cfg.update(OLD)
    elif kind == "torch":
        cfg.update(lr=3e-3, clip=5.0, hidden=256, layers=2, dropout=0.0, model="lstm")
    elif kind != "default":
        raise UsageError(f"unknown variant {spec!r}")
    for w in words[1 if kind != "minirnn" else 0:]:
        k, v = w.split("=", 1)
        if k not in ("init", "blr", "lr", "sched", "clip", "hidden") + (("layers", "dropout", "model") * (kind == "torch")):
            raise UsageError(f"unknown key {k!r} in {spec!r}")
        cfg[k] = v if k in ("init", "sched", "model") else int(v) if k in ("hidden", "layers") else float(v)
    if cfg.get("model", "lstm") not in ("lstm", "gru", "rnn"):
        raise UsageError(f"unknown model {cfg['model']!r} in {spec!r}")
    return cfg


def redraw_biases(model, init: str, seed: int):
    """Replace every LSTM bias by a fresh draw of kind `init` (the weights stay as drawn)."""
    rng = np.random.default_rng([seed, 15])
    H = model.H
    k = 1.0 / H ** 0.5
    for l in range(model.L):
        b = rng.uniform(-k, k, 4 * H)                                         # (4H,)
        if init == "fb1":
            b[lstm.gate_slices(H)[1]] = 1.0
        elif init == "u2":
            b = b + rng.uniform(-k, k, 4 * H)                                 # b_ih + b_hh
        elif init != "u1":
            raise UsageError(f"unknown init {init!r}")
        model.params[f"rnn.{l}.b"][...] = b.astype(model.dtype)


def make_schedule(sched: str, lr: float, iters: int):
    if sched == "none":
        return None
    name, warmup, floor, *start = sched.split(":")
    if name != "cos":
        raise UsageError(f"unknown schedule {sched!r}")
    return WarmupCosine(lr, iters, int(warmup), float(floor), int(start[0]) if start else None)


def run_default(text, seed, iters, eval_every, argv=(), stop=None, opt_attrs=None, val_windows=None):
    """train_char.py with its defaults (plus `argv`), in process: the same model, optimizer and
    schedule the script builds, for `iters` iterations (or only the first `stop` of them, the
    schedule still planned for `iters`). Returns (curve, seconds, flags)."""
    import train_char
    args = train_char.build_parser().parse_args(["--seed", str(seed), "--iters", str(iters),
                                                 "--eval-every", str(eval_every), *argv])
    ids, vocab = chardata.encode_file(text)
    train, val = chardata.split(ids, args.val_frac, args.batch, args.seq)
    model = RNNLM(len(vocab), hidden=args.hidden, layers=args.layers, cell=args.model, embed=args.embed,
                  dropout=args.dropout, seed=args.seed, dtype=np.dtype(args.dtype))
    opt, schedule = make_optimizer(args, model, len(train))
    for k, v in (opt_attrs or {}).items():
        if not hasattr(opt, k):
            raise UsageError(f"the optimizer has no attribute {k!r}")
        setattr(opt, k, v)
    times = []
    _, vals, seconds = train_minirnn(model, train, val, stop or iters, args.lr, args.clip, eval_every,
                                     opt=opt, schedule=schedule, times=times, val_windows=val_windows)
    flags = {k: v for k, v in vars(args).items() if k not in ("checkpoint_dir", "resume", "backend")}
    return curve_of(vals, times), seconds, flags


def run_minirnn(cfg, text, seed, iters, eval_every, val_windows=None):
    ids, vocab = chardata.encode_file(text)
    train, val = chardata.split(ids, 0.1, 32, 64)
    model = RNNLM(len(vocab), hidden=cfg.get("hidden", 256), layers=2, cell="lstm", embed=0, seed=seed,
                  dtype=np.float32)
    redraw_biases(model, cfg["init"], seed)
    params = model.trainable()
    opt = Adam(params, lr=cfg["lr"], lr_factors=bias_lr_factors(params, cfg["blr"]))
    times = []
    _, vals, seconds = train_minirnn(model, train, val, iters, cfg["lr"], cfg["clip"], eval_every, opt=opt,
                                     schedule=make_schedule(cfg["sched"], cfg["lr"], iters), times=times,
                                     val_windows=val_windows)
    return curve_of(vals, times), seconds


def run_torch(cfg, text, seed, iters, eval_every, threads=2, val_windows=None):
    """PyTorch with its own defaults on minirnn's windows. Returns (curve, seconds)."""
    import torch
    torch.set_num_threads(threads)
    ids, vocab = chardata.encode_file(text)
    train, val = chardata.split(ids, 0.1, 32, 64)
    torch.manual_seed(seed)
    H, cell = cfg.get("hidden", 256), {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[cfg.get("model", "lstm")]
    rnn = cell(len(vocab), H, num_layers=cfg.get("layers", 2), dropout=cfg.get("dropout", 0.0), batch_first=True)
    out = torch.nn.Linear(H, len(vocab))
    times = []
    _, vals, seconds = train_torch(torch, rnn, out, len(vocab), train, val, iters, cfg["lr"], cfg["clip"],
                                   eval_every, torch.float32, times=times, val_windows=val_windows)
    return curve_of(vals, times), seconds


def run_spec(cfg, text, seed, iters, eval_every, threads=2, stop=None, val_windows=None):
    """Train one parsed variant: (curve, seconds, extra fields of its record). Validation covers
    the first `val_windows` windows (None: all of them, as the study does)."""
    if cfg["kind"] == "torch":
        return (*run_torch(cfg, text, seed, iters, eval_every, threads, val_windows), {})
    if cfg["kind"] == "default":
        curve, seconds, flags = run_default(text, seed, iters, eval_every, cfg.get("argv", ()), stop, cfg.get("opt"),
                                            val_windows)
        return curve, seconds, {"flags": flags}
    return (*run_minirnn(cfg, text, seed, iters, eval_every, val_windows), {})


def record(spec, cfg, seed, iters, text, curve, seconds, threads, note, **extra):
    """One run as recipe.json stores it: what ran, on which text and machine, and its curve."""
    return {"variant": spec, "config": cfg, "seed": seed, "iters": iters, "text": text_id(text), "curve": curve,
            "seconds": round(seconds, 1), **process_figures(),
            "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                        "load_1min": round(os.getloadavg()[0], 2), "torch_threads": threads,
                        "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS")},
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "note": note,
            **extra}


_RUNS_IN_PROCESS = []


def process_figures() -> dict:
    """The process's peak resident memory (MB) and CPU seconds, for the first run of a process
    only (later runs share them): a run's memory and, with one thread, its time on a shared
    machine (other processes change CPU seconds little, wall seconds a lot)."""
    import resource
    _RUNS_IN_PROCESS.append(1)
    if len(_RUNS_IN_PROCESS) > 1:
        return {}
    return {"peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "process_cpu_seconds": round(time.process_time(), 1)}


def size_runs(paths, text, name, seeds):
    """{'minirnn': {seed: run}, 'torch': {lr: {seed: run}}}: the runs of size `name` on `text` in
    the run lists `paths` (the latest per seed): minirnn's with train_char.py's defaults for that
    size (no other flag changed), PyTorch's of that size at each lr."""
    import train_char
    flags, keys, iters = SIZES[name]
    want = vars(train_char.build_parser().parse_args(shlex.split(flags)))
    sha = text_id(text)["sha256"]
    out = {"minirnn": {}, "torch": {}}
    for path in paths:
        for r in load(path):
            if (r["iters"] != iters or r["text"]["sha256"] != sha or "stopped_at" in r or r.get("val_windows")
                    or r["seed"] not in seeds):
                continue
            cfg = r["config"]
            if cfg["kind"] == "default" and "flags" in r and not [
                    k for k, v in changed_flags(r["flags"], want)]:
                out["minirnn"][r["seed"]] = r
            size = {"hidden": 256, "layers": 2, "dropout": 0.0, "model": "lstm"}
            size.update(parse_spec(f"torch,{keys}".rstrip(",")) if keys else {})
            if cfg["kind"] == "torch" and all(cfg.get(k, d) == size[k] for k, d in
                                              (("hidden", 256), ("layers", 2), ("dropout", 0.0), ("model", "lstm"))):
                out["torch"].setdefault(cfg["lr"], {})[r["seed"]] = r
    return out


def sizes_table(paths, text, seeds) -> str:
    """Markdown: per size, minirnn's mean final validation loss over its seeds against PyTorch's at
    each lr and its best, with CPU seconds per iteration and peak memory (first runs of processes)."""
    def mean(runs, key=lambda r: r["curve"][-1][1]):
        vals = [key(r) for r in runs if key(r) is not None]
        return float(np.mean(vals)) if vals else np.nan
    rows = ["| size | iterations | minirnn lr | minirnn (seeds) | PyTorch by lr (seeds) | PyTorch best | "
            "minirnn - best | CPU s/iteration minirnn / PyTorch best | peak MB minirnn / PyTorch best |",
            "|" + "---|" * 9]
    for name, (_, _, iters) in SIZES.items():
        runs = size_runs(paths, text, name, seeds)
        ours = list(runs["minirnn"].values())
        if not ours or not runs["torch"]:
            continue
        by_lr = {lr: list(v.values()) for lr, v in sorted(runs["torch"].items())}
        best = min(by_lr, key=lambda lr: mean(by_lr[lr]))
        cpu = lambda r: r.get("process_cpu_seconds") and r["process_cpu_seconds"] / r["iters"]  # noqa: E731
        mem = lambda r: r.get("peak_rss_mb")  # noqa: E731
        rows.append(f"| {name} | {iters} | {ours[0]['flags']['lr']:g} | {mean(ours):.3f} ({len(ours)}) | "
                    + ", ".join(f"{lr:g}: {mean(v):.3f} ({len(v)})" for lr, v in by_lr.items())
                    + f" | {mean(by_lr[best]):.3f} at {best:g} | **{mean(ours) - mean(by_lr[best]):+.3f}** | "
                    f"{mean(ours, cpu):.3f} / {mean(by_lr[best], cpu):.3f} | {mean(ours, mem):.0f} / "
                    f"{mean(by_lr[best], mem):.0f} |".replace("nan", "-"))
    return "\n".join(rows)




def text_id(path):
    with open(path, "rb") as f:
        data = f.read()
    return {"path": path, "name": os.path.basename(path), "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest()[:16]}


def load(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return json.load(f)


def append(path, record):
    """Add one run to the JSON list at `path` (atomic; runs finishing at once take turns)."""
    import fcntl
    with open(path + ".lock", "w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        runs = load(path)
        runs.append(record)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump(runs, f, indent=1)
        os.replace(tmp, path)


def plot(path, png, only=None):
    """One panel per text with the full runs (mean over seeds, each seed faint), and a last panel
    with the screening runs (--stop-at) beside the default's first iterations."""
    plt = common.pyplot()
    if plt is None:
        raise UsageError("--plot needs matplotlib: pip install matplotlib")
    runs = [r for r in load(path) if only is None or r["variant"] in only]
    full = [r for r in runs if r["iters"] >= 2000 and "stopped_at" not in r]
    screens = [r for r in runs if "stopped_at" in r]
    texts = sorted({r["text"]["name"] for r in full})
    panels = [(name, [r for r in full if r["text"]["name"] == name], None) for name in texts]
    if screens:
        stop = max(r["stopped_at"] for r in screens)
        name = screens[0]["text"]["name"]
        same = [r for r in full if r["text"]["name"] == name and r["variant"] == "default"]
        panels.append((f"{name}: screening, first {stop} of 2,000 iterations", screens + same, stop))
    if not panels:
        raise UsageError(f"nothing to plot in {path}: it draws runs of 2,000 iterations or more and "
                         "--stop-at screens")
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.5), squeeze=False)
    for ax, (title, rs_all, stop) in zip(axes[0], panels):
        groups = {}
        for r in rs_all:                                 # one run per (variant, seed): the latest
            groups.setdefault(r["variant"], {})[r["seed"]] = r
        for variant, by_seed in sorted(groups.items()):
            rs = list(by_seed.values())
            curves = [[p for p in r["curve"] if stop is None or p[0] <= stop] for r in rs]
            its = [p[0] for p in curves[0]]
            vals = np.mean([[p[1] for p in c] for c in curves if len(c) == len(its)], axis=0)
            style = "s--" if variant.startswith("torch") else "o-"
            line, = ax.plot(its, vals, style, ms=3, label=f"{variant} (mean of {len(rs)} seed{'s' * (len(rs) > 1)})")
            if len(rs) > 1:                                  # each seed, faint
                for c in curves:
                    ax.plot([p[0] for p in c], [p[1] for p in c], style[1:], color=line.get_color(), alpha=0.3,
                            lw=0.8)
        ax.set_title(title)
        ax.set_xlabel("iteration")
        ax.set_ylabel("validation loss (nats/char)")
        ax.set_ylim(top=2.1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    print(f"wrote {png}")


def changed_flags(flags: dict, defaults: dict | None = None) -> list:
    """(name, value) of the train_char.py flags in `flags` that differ from its defaults (or from
    `defaults`) and shape the curve (not NOT_RECIPE); a flag missing from `flags` counts as changed
    (value None)."""
    import train_char
    defaults = defaults or vars(train_char.build_parser().parse_args([]))
    return [(k, flags.get(k)) for k in sorted(defaults) if k not in NOT_RECIPE and flags.get(k) != defaults[k]]


def record_script_run(args, text):
    with open(os.path.join(args.from_metrics, "metrics.jsonl")) as f:
        rows = [json.loads(line) for line in f]
    with open(os.path.join(args.from_metrics, "latest.json")) as f:
        meta = json.load(f)
    flags = meta["flags"]
    curve = [[r["iter"], r["val_loss"], r["elapsed_s"]] for r in rows]
    changed = [f"--{k.replace('_', '-')} {v}" for k, v in changed_flags(flags)]
    append(args.out, {"variant": " ".join(["default", *changed]), "config": {"kind": "default"}, "seed": flags["seed"],
                      "iters": flags["iters"], "text": text_id(text), "curve": curve,
                      "seconds": rows[-1]["elapsed_s"], "flags": flags,
                      "note": f"scripts/train_char.py run, from {args.from_metrics}/metrics.jsonl "
                              f"(seconds: training time, evaluations excluded) {args.note}"})
    print(" ".join(f"{p[0]}:{p[1]:.3f}" for p in curve))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--text", default=None, help="UTF-8 text (default: the bundled novel)")
    p.add_argument("--variants", nargs="+", default=["torch", "default"])
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--iters", type=int, default=2000)
    p.add_argument("--eval-every", type=int, default=250)
    p.add_argument("--val-windows", type=int, default=None,
                   help="validate on the first N windows (default: all; fewer only for quick runs)")
    p.add_argument("--stop-at", type=int, default=None, metavar="N",
                   help="variants 'default ...' only: stop after N of the --iters iterations (the schedule "
                        "is still planned for --iters), to screen the early curve")
    p.add_argument("--out", default=None, help="the JSON list of runs (default: recipe.json in --out-dir)")
    p.add_argument("--threads", type=int, default=2,
                   help="PyTorch's threads; NumPy's BLAS takes OPENBLAS_NUM_THREADS from the environment")
    p.add_argument("--note", default="", help="free text stored with the run (e.g. the commit)")
    p.add_argument("--from-metrics", default=None, metavar="DIR",
                   help="record the curve of a `scripts/train_char.py` run from DIR/metrics.jsonl (and "
                        "DIR/latest.json's flags) as variant 'default ...' (with the flags that differ from "
                        "train_char.py's defaults) instead of training")
    p.add_argument("--sizes", choices=sorted(SIZES), default=None,
                   help="train issue 34's grid for one size: minirnn's defaults and PyTorch at each lr of "
                        f"{TORCH_LRS}, its iterations and --eval-every from SIZES (replaces --variants)")
    p.add_argument("--table", nargs="+", default=None, metavar="JSON",
                   help="only print the size table (Markdown) from these run lists, for --text")
    p.add_argument("--plot", action="store_true", help="only draw --out to a PNG beside it")
    p.add_argument("--plot-only", nargs="*", default=None, help="with --plot: the variants to draw")
    common.add_output_args(p)
    args = p.parse_args(argv)
    args.out = args.out or common.result_path(args, "recipe.json")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    if args.plot:
        return plot(args.out, args.out[:-5] + ".png", args.plot_only)
    text = args.text or default_corpus()
    if args.from_metrics:
        return record_script_run(args, text)
    if args.table:
        return print(sizes_table(args.table, text, args.seeds))
    if args.sizes:                                                       # the grid of each size
        name = args.sizes
        flags, keys, args.iters = SIZES[name]
        args.eval_every = args.iters // 2 if args.iters <= 1000 else 500
        args.variants = [f"default {flags}".strip()] + [f"torch,{keys},lr={lr:g}".replace(",,", ",")
                                                        for lr in TORCH_LRS]
    cfgs = {spec: parse_spec(spec) for spec in args.variants}          # every spec checked before training
    if any(cfg["kind"] == "torch" for cfg in cfgs.values()) and common.reference("torch") is None:
        cfgs = {spec: cfg for spec, cfg in cfgs.items() if cfg["kind"] != "torch"}
    for spec, cfg in cfgs.items():
        for seed in args.seeds:
            curve, seconds, extra = run_spec(cfg, text, seed, args.iters, args.eval_every, args.threads, args.stop_at,
                                             args.val_windows)
            extra.update({"stopped_at": args.stop_at} if args.stop_at else {})
            extra.update({"val_windows": args.val_windows} if args.val_windows else {})
            append(args.out, record(spec, cfg, seed, args.iters, text, curve, seconds, args.threads, args.note,
                                    **extra))
            marks = " ".join(f"{p[0]}:{p[1]:.3f}" for p in curve)
            print(f"{os.path.basename(text)} {spec} seed {seed}: {marks} ({seconds:.0f}s)", flush=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    sys.exit(run_cli(main))
