"""Pieces the training scripts share: model/training flags, resume, config checks.

The char and word scripts both train an RNNLM with the Trainer; the flags that shape the model and
the loop are declared here once, and so is the rule for --resume: a flag not given on the command
line takes the checkpoint's value; one given with a different value for something that shapes the
model or the data is an error naming the difference.
"""
from __future__ import annotations

import argparse
import math
import os

from . import backend, checkpoint
from .errors import UsageError, require
from .optim import OPTIMIZERS, StepDecay, WarmupCosine, bias_lr_factors

# flags that must match a checkpoint to resume it (they shape the weights or the batches)
MUST_MATCH = ("model", "hidden", "layers", "embed", "dropout", "batch", "seq", "val_frac", "seed",
              "dtype", "optimizer")
# what a checkpoint written before a flag existed was trained with: it resumes on that recipe
LEGACY_FLAGS = {"bias_lr": 1.0, "lr_schedule": "step", "warmup": 0, "lr_floor": 1.0, "lr_decay_frac": 1.0}


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows each flag's default, except where there is none or the help text already says it."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.default is None or action.default is argparse.SUPPRESS or "default" in text:
            return text
        return super()._get_help_string(action)


def add_model_flags(p: argparse.ArgumentParser, *, hidden, layers, batch, seq, lr, iters, eval_every,
                    checkpoint_dir, embed=None):
    m = p.add_argument_group("model")
    m.add_argument("--model", choices=["rnn", "lstm"], default="lstm", help="recurrent cell")
    m.add_argument("--hidden", type=int, default=hidden, help="hidden size H of every layer")
    m.add_argument("--layers", type=int, default=layers, help="number of stacked recurrent layers L")
    if embed is not None:
        m.add_argument("--embed", type=int, default=embed, help="embedding size; 0 means one-hot input")
    m.add_argument("--dropout", type=float, default=0.0, help="dropout probability between layers")
    t = p.add_argument_group("training")
    t.add_argument("--batch", type=int, default=batch, help="B, parallel streams per batch")
    t.add_argument("--seq", type=int, default=seq, help="T, time steps per window (truncated BPTT length)")
    t.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="adam", help="optimizer")
    t.add_argument("--lr", type=float, default=lr, help="learning rate (the peak, with --lr-schedule cosine)")
    t.add_argument("--bias-lr", type=float, default=2.0,
                   help="learning-rate factor of the recurrent biases: 2 trains them as PyTorch trains "
                        "its two (b_ih + b_hh), step for step (README, 'Training recipe'); 1: one bias")
    t.add_argument("--lr-schedule", choices=["cosine", "step"], default="cosine",
                   help="cosine: --warmup iterations of linear warm-up, --lr held, then a half cosine down "
                        "to --lr-floor x --lr over the last --lr-decay-frac of --iters; "
                        "step: --lr times --lr-decay every --lr-decay-every")
    t.add_argument("--warmup", type=int, default=0, help="warm-up iterations of the cosine schedule")
    t.add_argument("--lr-decay-frac", type=float, default=0.3,
                   help="share of --iters, at the end, over which the cosine schedule decays")
    t.add_argument("--lr-floor", type=float, default=0.1,
                   help="the cosine schedule ends at this fraction of --lr")
    t.add_argument("--lr-decay", type=float, default=1.0,
                   help="with --lr-schedule step: multiply the learning rate by this every "
                        "--lr-decay-every iterations (1 = constant)")
    t.add_argument("--lr-decay-every", type=int, default=0,
                   help="iterations between learning-rate decays (0 = once per epoch)")
    t.add_argument("--clip", type=float, default=5.0, help="clip gradients to this global norm (0 = off)")
    t.add_argument("--iters", type=int, default=iters, help="total training iterations (windows)")
    t.add_argument("--val-frac", type=float, default=0.1, help="share of the text, at its end, kept for validation")
    t.add_argument("--eval-every", type=int, default=eval_every,
                   help="iterations between validation passes, metrics.jsonl lines and checkpoints")
    t.add_argument("--print-every", type=int, default=10, help="iterations between progress lines")
    t.add_argument("--sample-every", type=int, default=None,
                   help="iterations between printed samples (default: same as --eval-every; 0 = never)")
    t.add_argument("--checkpoint-dir", default=checkpoint_dir,
                   help="where latest.npz, best.npz (+ .json) and metrics.jsonl are written")
    t.add_argument("--resume", nargs="?", const="latest", default=None, metavar="PATH",
                   help="continue from a checkpoint (PATH, or <checkpoint-dir>/latest.npz if no PATH)")
    t.add_argument("--seed", type=int, default=0, help="seed for weights, dropout and samples")
    r = p.add_argument_group("runtime")
    r.add_argument("--backend", choices=list(backend.BACKENDS), default=None,
                   help="array backend (default: $MINIRNN_BACKEND or numpy)")
    r.add_argument("--dtype", choices=["float32", "float64"], default="float32", help="floating-point type")


def check_flags(args) -> None:
    require(args.hidden >= 1, f"--hidden must be >= 1, got {args.hidden}")
    require(args.layers >= 1, f"--layers must be >= 1, got {args.layers}")
    require(getattr(args, "embed", 0) >= 0, f"--embed must be >= 0, got {getattr(args, 'embed', 0)}")
    require(0 <= args.dropout < 1, f"--dropout must be in [0, 1), got {args.dropout}")
    require(args.batch >= 1, f"--batch must be >= 1, got {args.batch}")
    require(args.seq >= 1, f"--seq must be >= 1, got {args.seq}")
    require(args.lr > 0 and math.isfinite(args.lr), f"--lr must be a finite number > 0, got {args.lr}")
    require(args.seed >= 0, f"--seed must be >= 0, got {args.seed}")
    require(args.bias_lr > 0 and math.isfinite(args.bias_lr), f"--bias-lr must be a finite number > 0, got {args.bias_lr}")
    require(args.lr_decay > 0, f"--lr-decay must be > 0, got {args.lr_decay}")
    require(args.lr_decay == 1.0 or args.lr_schedule == "step",
            f"--lr-decay {args.lr_decay} applies to --lr-schedule step (the default is cosine): add --lr-schedule step")
    require(0 <= args.lr_floor <= 1, f"--lr-floor must be in [0, 1], got {args.lr_floor}")
    require(0 < args.lr_decay_frac <= 1, f"--lr-decay-frac must be in (0, 1], got {args.lr_decay_frac}")
    require(args.lr_schedule != "cosine" or 0 <= args.warmup < args.iters,
            f"--warmup must be >= 0 and below --iters ({args.iters}), got {args.warmup}")
    require(args.lr_decay_every >= 0, f"--lr-decay-every must be >= 0, got {args.lr_decay_every}")
    require(args.clip >= 0, f"--clip must be >= 0, got {args.clip}")
    require(args.iters >= 1, f"--iters must be >= 1, got {args.iters}")
    require(args.eval_every >= 1, f"--eval-every must be >= 1, got {args.eval_every}")
    require(args.print_every >= 1, f"--print-every must be >= 1, got {args.print_every}")
    require(args.sample_every is None or args.sample_every >= 0,
            f"--sample-every must be >= 0, got {args.sample_every}")
    d = args.checkpoint_dir
    require(not os.path.exists(d) or os.path.isdir(d), f"--checkpoint-dir {d}: exists and is not a directory")
    try:
        os.makedirs(d, exist_ok=True)
    except OSError as e:
        raise UsageError(f"--checkpoint-dir {d}: cannot create it ({e.strerror})") from None
    require(os.access(d, os.W_OK), f"--checkpoint-dir {d}: not writable")
    if args.backend:
        backend.set_backend(args.backend)


def resume_checkpoint(build_parser, args, argv, kind: str, must_match=()):
    """If --resume: load the checkpoint, fill unset flags from it, refuse conflicting ones (those in
    MUST_MATCH and the script's own `must_match`). Returns (arrays, meta) or (None, None).
    ``--resume PATH`` without --checkpoint-dir goes on writing beside PATH."""
    if args.resume is None:
        return None, None
    path = os.path.join(args.checkpoint_dir, "latest.npz") if args.resume == "latest" else args.resume
    if args.resume == "latest" and not os.path.exists(path):
        raise UsageError(f"--resume: no checkpoint at {path} (give its path, or the --checkpoint-dir it is in)")
    arrays, meta = checkpoint.load(path)
    if meta.get("kind") != kind or "flags" not in meta:
        raise UsageError(f"{path}: not a checkpoint of this script (it holds {meta.get('kind', 'something else')!r})")
    given = explicit_flags(build_parser, argv)
    saved = meta["flags"]
    conflicts = [f"--{k.replace('_', '-')} {saved[k]} (you gave {getattr(args, k)})"
                 for k in (*MUST_MATCH, *must_match)
                 if k in saved and k in given and getattr(args, k) != saved[k]]
    if conflicts:
        raise UsageError(f"{path} was trained with a different config: " + ", ".join(conflicts) +
                         "; pass the same values, or start a new --checkpoint-dir")
    for k, v in {**LEGACY_FLAGS, **saved}.items():
        if k not in given and hasattr(args, k) and k not in ("resume", "backend"):
            setattr(args, k, v)
    if args.resume != "latest" and "checkpoint_dir" not in given:
        args.checkpoint_dir = os.path.dirname(os.path.abspath(path))
    return arrays, meta


def explicit_flags(build_parser, argv) -> set:
    """Names of the options given on the command line: parse again with every default suppressed."""
    probe = build_parser()
    for action in probe._actions:
        action.default = argparse.SUPPRESS
    return set(vars(probe.parse_args(argv)))


def make_optimizer(args, model, iters_per_epoch: int):
    """(optimizer, schedule) from the flags. The cosine schedule's horizon is --iters: a run resumed
    with the same --iters takes the same learning rates; a larger --iters stretches what is left."""
    params = model.trainable()
    opt = OPTIMIZERS[args.optimizer](params, lr=args.lr, lr_factors=bias_lr_factors(params, args.bias_lr))
    if args.lr_schedule == "cosine":
        decay_from = max(args.warmup, args.iters - math.ceil(args.lr_decay_frac * args.iters))
        return opt, WarmupCosine(args.lr, args.iters, args.warmup, args.lr_floor, decay_from)
    every = args.lr_decay_every or iters_per_epoch
    schedule = StepDecay(args.lr, every, args.lr_decay) if args.lr_decay != 1.0 else None
    return opt, schedule


def trainer_kwargs(args, schedule) -> dict:
    """The Trainer's loop settings, from the shared flags."""
    return {"iters": args.iters, "eval_every": args.eval_every, "checkpoint_dir": args.checkpoint_dir,
            "clip": args.clip, "schedule": schedule, "seed": args.seed, "print_every": args.print_every,
            "sample_every": args.eval_every if args.sample_every is None else args.sample_every}


def resume_and_run(trainer, arrays, meta) -> int:
    """Restore the checkpoint (if resuming), then train; returns the exit status."""
    if arrays is not None:
        if meta.get("model") != trainer.model.config():
            diff = {k: (meta.get("model", {}).get(k), v) for k, v in trainer.model.config().items()
                    if meta.get("model", {}).get(k) != v}
            raise UsageError("the checkpoint's model differs from the one these flags build: " +
                             ", ".join(f"{k} {a} (now {b})" for k, (a, b) in diff.items()) +
                             "; pass the same values, or start a new --checkpoint-dir")
        try:
            trainer.restore(arrays, meta)
        except (KeyError, ValueError) as e:
            raise UsageError(f"the checkpoint does not fit this model ({e})") from None
        print(f"resumed at iteration {trainer.it}")
        if trainer.it >= trainer.iters:
            print(f"nothing to do: the checkpoint is at iteration {trainer.it} and --iters is {trainer.iters}")
            return 0
    return trainer.run()


def flags_dict(args) -> dict:
    """The flags as saved in a checkpoint (everything but where/how to run)."""
    return {k: v for k, v in vars(args).items() if k not in ("resume", "backend", "checkpoint_dir")}


class StatusLine:
    """Progress for long stages: redrawn in place on a terminal, else one line every `every` seconds."""

    def __init__(self, stream=None, every=5.0):
        import sys
        self.stream = stream or sys.stdout
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.every, self.last = every, -float("inf")

    def __call__(self, text: str, force: bool = False) -> None:
        import time
        now = time.monotonic()
        if self.tty:
            self.stream.write("\r" + text + "\033[K")
            self.stream.flush()
        elif force or now - self.last >= self.every:
            self.stream.write(text + "\n")
            self.stream.flush()
            self.last = now

    def done(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
