#!/usr/bin/env python
"""Quality side by side: the same char LM trained by minirnn and by PyTorch.

Both models start from identical weights (minirnn's, copied into torch), see the same windows in
the same order with the hidden state carried across windows, use the same Adam, the same gradient
clipping and no dropout. Differences can then only come from arithmetic (summation order, float32
round-off), which this script measures:

    --dtype float64 --iters 50      the training losses agree to ~1e-12 (target: 1e-6)
    --dtype float32 --iters 2000    the validation losses differ by < 0.02 nats/char

PyTorch's LSTM has two biases (b_ih + b_hh); minirnn has one. b_ih takes minirnn's bias and b_hh is
held at zero (not trained): two trained biases would each receive the full gradient and Adam would
move their sum twice as fast, which is a different optimiser trajectory, not a different model.
--two-biases trains both and gives minirnn's bias twice the learning rate, the same trajectory:

    --dtype float64 --iters 50 --hidden 64 --two-biases    the training losses agree to ~1e-12 too

Writes JSON (both loss curves, the largest differences, the machine) and a PNG if matplotlib is installed.

--recipe compares the recipes instead of the arithmetic: minirnn with train_char.py's defaults
(its initialisation, optimizer, bias learning rate and schedule) against PyTorch with its own
defaults (nn.LSTM(V, 256, 2) and nn.Linear initialised by torch, two trained biases,
Adam(lr=3e-3), clip_grad_norm_(5)), on the same windows, validation as Trainer.evaluate:

    python benchmarks/compare_torch_charlm.py --recipe [--text kjv.txt] [--seeds 0 1 2 3] [--reuse]

Each seed trains both, one after the other. The curves, their means over the seeds, the gaps and the
median seconds go to charlm_recipe_<text>.json (+ .png) in --out-dir; with --update-results they go to
benchmarks/results/ and every run is appended to recipe.json there, the study of benchmarks/recipe.py.

Without PyTorch installed, one line says so and minirnn's side alone is trained and written.
"""
import argparse
import os
import platform
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
import recipe  # noqa: E402
from recipe import train_minirnn, train_torch  # noqa: E402

from minirnn import chardata  # noqa: E402
from minirnn.errors import run_cli  # noqa: E402
from minirnn.model import RNNLM  # noqa: E402
from minirnn.optim import Adam, bias_lr_factors  # noqa: E402
from minirnn.textio import default_corpus  # noqa: E402

SMOKE_ARGS = ["--iters", "3", "--val-every", "3", "--val-windows", "2", "--hidden", "8", "--layers", "1",
              "--threads", "1"]
from minirnn.trainer import Trainer


def torch_twin(model, torch, two_biases=False):
    """An equivalent torch model holding copies of minirnn's weights (one-hot input). With
    `two_biases` minirnn's bias is split in halves b_ih = b_hh = b / 2, both trained."""
    nn = torch.nn
    dtype = torch.float64 if model.dtype == np.float64 else torch.float32
    Cell = nn.LSTM if model.cell == "lstm" else nn.RNN
    kw = {} if model.cell == "lstm" else {"nonlinearity": "tanh"}
    rnn = Cell(model.E, model.H, num_layers=model.L, batch_first=True, **kw).to(dtype)
    out = nn.Linear(model.H, model.V).to(dtype)
    p = model.params
    with torch.no_grad():
        for l in range(model.L):
            getattr(rnn, f"weight_ih_l{l}").copy_(torch.from_numpy(p[f"rnn.{l}.Wx"].T.copy()))
            getattr(rnn, f"weight_hh_l{l}").copy_(torch.from_numpy(p[f"rnn.{l}.Wh"].T.copy()))
            b = torch.from_numpy(p[f"rnn.{l}.b"].copy())
            if two_biases:
                getattr(rnn, f"bias_ih_l{l}").copy_(b / 2)
                getattr(rnn, f"bias_hh_l{l}").copy_(b / 2)
                continue
            getattr(rnn, f"bias_ih_l{l}").copy_(b)
            getattr(rnn, f"bias_hh_l{l}").zero_()
            getattr(rnn, f"bias_hh_l{l}").requires_grad_(False)
        out.weight.copy_(torch.from_numpy(p["out.W"].T.copy()))
        out.bias.copy_(torch.from_numpy(p["out.b"].copy()))
    return rnn, out


def compare_recipes(args, torch):
    """minirnn's defaults against PyTorch's (when installed), for each seed: the curves, their means
    over the seeds and the gaps, to JSON and PNG; with --update-results every run to recipe.json."""
    text = args.text or default_corpus()
    seeds = args.seeds or [args.seed]
    specs = ("torch", "default") if torch is not None else ("default",)
    runs = {spec: {} for spec in specs}
    tid = recipe.text_id(text)
    for seed in seeds:
        for spec in specs:                             # side by side: each seed runs both, one after the other
            cfg = recipe.parse_spec(spec)
            old = reusable_run(spec, seed, args.iters, tid) if args.reuse else None
            if old is not None:
                curve, seconds, where = old["curve"], old["seconds"], old.get("date") or old.get("note") or True
                runs[spec][seed] = {"val_loss": curve, "seconds": seconds, "reused": where,
                                    **({"flags": old["flags"]} if "flags" in old else {})}
            else:
                curve, seconds, extra = recipe.run_spec(cfg, text, seed, args.iters, args.val_every, args.threads,
                                                        val_windows=args.val_windows)
                runs[spec][seed] = {"val_loss": curve, "seconds": round(seconds, 1), **extra}
                if args.update_results and args.out is None and not args.val_windows:  # the study, on request
                    recipe.append(recipe.RESULTS, recipe.record(spec, cfg, seed, args.iters, text, curve, seconds,
                                                                args.threads, "compare_torch_charlm.py --recipe",
                                                                **extra))
            print(f"seed {seed} {spec:8s}: " + "  ".join(f"{p[0]}: {p[1]:.4f}" for p in curve) +
                  (f"  (from recipe.json, {where})" if old is not None else f"  ({seconds:.0f}s)"), flush=True)
    its = [c[0] for c in runs["default"][seeds[0]]["val_loss"]]
    mean = {k: [float(np.mean([r["val_loss"][i][1] for r in v.values()])) for i in range(len(its))]
            for k, v in runs.items()}
    # wall time only from the runs trained here, side by side (reused ones ran under other conditions)
    seconds = {k: float(np.median([r["seconds"] for r in v.values() if "reused" not in r] or [np.nan]))
               for k, v in runs.items()}
    gaps = None
    if torch is not None:
        gaps = [m - t for m, t in zip(mean["default"], mean["torch"])]
        print(f"mean of {len(seeds)} seed(s), minirnn - torch: " +
              "  ".join(f"{it}: {g:+.4f}" for it, g in zip(its, gaps)) +
              f"; median seconds of the runs trained here: minirnn {seconds['default']:.0f}, "
              f"torch {seconds['torch']:.0f}")
    name = os.path.splitext(os.path.basename(text))[0]
    path = args.out or common.result_path(args, f"charlm_recipe_{name}.json")
    write_with_plot(path, {"text": tid, "seeds": seeds, "iters": args.iters,
                           "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                                       "torch_threads": args.threads,
                                       "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS")},
                           "curves": "[iteration, val nats/char, seconds since the start (validation included), seconds of "
                                     "that validation pass (runs since issue 15's second round)]",
                           "minirnn_defaults": runs["default"], "torch_defaults": runs.get("torch"),
                           "iterations": its, "mean_minirnn": mean["default"], "mean_torch": mean.get("torch"),
                           "mean_minirnn_minus_torch": gaps, "median_seconds": seconds},
                    lambda ax: _draw_recipe(ax, runs, its, mean, name))


def reusable_run(spec, seed, iters, text_id):
    """The latest run of `spec` with this seed, length and text in the committed recipe.json, or
    None; a 'default' run counts only if it was trained with the flags train_char.py has now."""
    for r in reversed(recipe.load(recipe.RESULTS)):
        if (r["variant"] != spec or r["seed"] != seed or r["iters"] != iters or "stopped_at" in r
                or r["text"]["sha256"] != text_id["sha256"]):
            continue
        if spec == "default" and recipe.changed_flags(r.get("flags", {})):
            continue
        return r
    return None


def _draw_recipe(ax, runs, its, mean, name):
    for key, label, style in (("default", "minirnn defaults", "o-"), ("torch", "PyTorch defaults", "s--")):
        if key not in runs:
            continue
        line, = ax.plot(its, mean[key], style, label=f"{label} (mean of {len(runs[key])})")
        for r in runs[key].values():                   # each seed, faint
            ax.plot(its, [p[1] for p in r["val_loss"]], style[1:], color=line.get_color(), alpha=0.3, lw=0.8)
    ax.set_ylabel("validation loss (nats/char)")
    ax.set_title(name)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--text", default=None, help="UTF-8 text (default: the bundled novel)")
    p.add_argument("--model", choices=["lstm", "rnn"], default="lstm")
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--clip", type=float, default=5.0)
    p.add_argument("--iters", type=int, default=2000)
    p.add_argument("--val-every", type=int, default=250)
    p.add_argument("--val-windows", type=int, default=None,
                   help="validate on the first N windows (default: all; fewer only for quick runs)")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--threads", type=int, default=2, help="torch threads (NumPy's BLAS uses its own setting)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seeds", type=int, nargs="+", default=None,
                   help="with --recipe: run both recipes for each of these seeds (default: --seed)")
    p.add_argument("--out", default=None, help="JSON path (default: charlm_torch_<dtype>.json in --out-dir)")
    p.add_argument("--two-biases", action="store_true",
                   help="torch trains both of its biases (b_ih = b_hh = b/2 at the start); minirnn trains "
                        "its one bias at twice the learning rate (optim.bias_lr_factors): the same trajectory")
    p.add_argument("--reuse", action="store_true",
                   help="with --recipe: take a seed's curve from recipe.json where that run is there already "
                        "(for 'default', trained with today's defaults) instead of training it again")
    p.add_argument("--recipe", action="store_true",
                   help="each library's defaults from its own initialisation (see above); only --text, "
                        "--iters, --val-every, --seed(s), --threads and --out apply")
    common.add_output_args(p)
    args = p.parse_args(argv)
    torch = common.reference("torch")
    if torch is not None:
        torch.set_num_threads(args.threads)
    if args.recipe:
        return compare_recipes(args, torch)
    ids, vocab = chardata.encode_file(args.text or default_corpus())
    train, val = chardata.split(ids, 0.1, args.batch, args.seq)
    dtype = np.dtype(args.dtype)
    model = RNNLM(len(vocab), hidden=args.hidden, layers=args.layers, cell=args.model, embed=0,
                  seed=args.seed, dtype=dtype)
    rnn, out = (torch_twin(model, torch, args.two_biases) if torch is not None else (None, None))  # before training
    print(f"{args.layers}-layer {args.model} H={args.hidden}, V={len(vocab)}, {args.dtype}, "
          f"{args.iters} iterations of {args.batch}x{args.seq}; "
          + (f"torch {torch.__version__}, {args.threads} threads" if torch is not None else "no torch"))
    factors = bias_lr_factors(model.trainable(), 2.0 if args.two_biases else 1.0)
    opt = Adam(model.trainable(), lr=args.lr, lr_factors=factors)
    m_loss, m_val, m_time = train_minirnn(model, train, val, args.iters, args.lr, args.clip, args.val_every,
                                          opt=opt, val_windows=args.val_windows)
    print(f"minirnn: final train {m_loss[-1]:.4f}, val {m_val[-1][1]:.4f}, {m_time:.1f}s")
    result = {
        "config": vars(args) | {"vocab": len(vocab), "text": args.text or "bundled quijote.txt"},
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "cpu_count": os.cpu_count(), "python": platform.python_version(),
                    "numpy": np.__version__, "torch": torch.__version__ if torch is not None else None},
        "minirnn": {"train_loss": m_loss, "val_loss": m_val, "seconds": m_time},
        "torch": None,
    }
    t_loss = t_val = None
    if torch is not None:
        t_loss, t_val, t_time = train_torch(torch, rnn, out, len(vocab), train, val, args.iters, args.lr,
                                            args.clip, args.val_every,
                                            torch.float64 if dtype == np.float64 else torch.float32,
                                            val_windows=args.val_windows)
        print(f"torch:   final train {t_loss[-1]:.4f}, val {t_val[-1][1]:.4f}, {t_time:.1f}s")
        diff50 = float(np.max(np.abs(np.array(m_loss[:50]) - np.array(t_loss[:50]))))
        dval = [abs(a[1] - b[1]) for a, b in zip(m_val, t_val)]
        print(f"max |train loss difference| over the first 50 iterations: {diff50:.3e}")
        print(f"|val loss difference| at iteration {m_val[-1][0]}: {dval[-1]:.4f} nats/char")
        result.update({"torch": {"train_loss": t_loss, "val_loss": t_val, "seconds": t_time},
                       "max_abs_train_diff_first50": diff50, "final_val_abs_diff": dval[-1]})
    default_name = f"charlm_torch_{args.dtype}{'_two_biases' if args.two_biases else ''}.json"
    path = args.out or common.result_path(args, default_name)
    write_with_plot(path, result, lambda ax: _draw_parity(ax, m_loss, t_loss, m_val, t_val))


def _draw_parity(ax, m_loss, t_loss, m_val, t_val):
    ax.plot(m_loss, label="minirnn train", alpha=0.7)
    ax.plot(*zip(*m_val), "o-", label="minirnn val")
    if t_loss is not None:
        ax.plot(t_loss, label="torch train", alpha=0.7, linestyle="--")
        ax.plot(*zip(*t_val), "s--", label="torch val")
    ax.set_ylabel("cross-entropy (nats/char)")


def write_with_plot(path, payload, draw):
    """Write payload as JSON to path, and, where matplotlib is installed, draw(ax) beside it as a PNG
    (loss against iteration)."""
    common.write_json(path, payload)
    print(f"wrote {path}")
    plt = common.pyplot()
    if plt is None:
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    draw(ax)
    ax.set_xlabel("iteration")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path[:-5] + ".png", dpi=100)
    print(f"wrote {path[:-5]}.png")


if __name__ == "__main__":
    sys.exit(run_cli(main))
