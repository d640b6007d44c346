"""Pieces the training scripts share: model/training flags, resume, config checks.

The char and word scripts both train an RNNLM with the Trainer; the flags that shape the model and
the loop are declared here once, and so is the rule for --resume: a flag not given on the command
line takes the checkpoint's value; one given with a different value for something that shapes the
model or the data is an error naming the difference.

The checks done here run before any long work (reading a corpus, word2vec, k-means, training):

* ``check_flags``: every flag's range, and sizes against the machine's memory (``model_bytes``);
* ``claim_checkpoint_dir``: an exclusive lock (``fcntl.flock`` on ``<dir>/.lock``) for the whole
  run, so two runs cannot write one directory; a fresh run (no --resume), or one resumed from
  another directory's checkpoint, into a directory that already holds a run (latest.npz, best.npz,
  metrics.jsonl, or the stage outputs it would write) is refused, and so is a resume that would
  discard history (a checkpoint older than latest.npz, or another run's); --overwrite runs it as a
  transaction: built beside the old run, swapped in at its first checkpoint (``commit``); every file
  the run writes there passes ``textio.check_output_file`` against the run's inputs first;
  temporary files of a killed save are removed;
* ``resume_checkpoint``: input paths (--text, --corpus, ...) are stored absolute and their files'
  size and SHA-256 beside them, so resuming from another directory, or with the file changed,
  is an error naming the file instead of silent training on something else.
"""
from __future__ import annotations

import argparse
import fcntl
import hashlib
import math
import os
import shutil
import signal
import uuid

import numpy as np

from . import backend, checkpoint, textio
from .errors import UsageError, at_end, require, require_memory
from .layers import stack
from .optim import OPTIMIZERS, StepDecay, WarmupCosine, bias_lr_factors
from .textio import check_output_dir, make_dirs
from .trainer import check_meta

RUN_FILES = ("latest.npz", "latest.json", "best.npz", "best.json", "metrics.jsonl")
LOCK_NAME = ".lock"

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
    m.add_argument("--model", choices=list(stack.CELLS), default="lstm", help="recurrent cell")
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
                        "its two (b_ih + b_hh), step for step (docs/recipe.md); 1: one bias")
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
    t.add_argument("--overwrite", action="store_true",
                   help="start afresh in a --checkpoint-dir that holds an earlier run (without it, such a "
                        "directory is refused): the new run is built beside it and replaces it only once it "
                        "has written its first checkpoint; until then the old run is untouched")
    t.add_argument("--eval-windows", type=int, default=256,
                   help="validation windows evaluated every --eval-every iterations (0 = all); the whole "
                        "validation split is evaluated at the end as well")
    t.add_argument("--seed", type=int, default=0, help="seed for weights, dropout and samples")
    r = p.add_argument_group("runtime")
    r.add_argument("--backend", choices=list(backend.BACKENDS), default=None,
                   help="array backend (default: $MINIRNN_BACKEND or numpy)")
    r.add_argument("--dtype", choices=["float32", "float64"], default="float32", help="floating-point type")


# bounds on what one command prints, against a typo (--length 10000000): raised with the flag named
MAX_LENGTH = 100_000            # characters or words sampled (--length, --sample-length): --max-length
MAX_BEAM = 256                  # continuations kept by beam search (--beam): --max-beam


def add_limit_flags(p: argparse.ArgumentParser, beam: bool = True) -> None:
    """--max-length (and --max-beam): the limits of check_limits, which a user can raise."""
    p.add_argument("--max-length", type=int, default=MAX_LENGTH,
                   help="the largest length accepted (a guard against typos); raise it to sample more")
    if beam:
        p.add_argument("--max-beam", type=int, default=MAX_BEAM,
                       help="the largest --beam accepted (a guard against typos); raise it for wider beams")


def check_limits(args, length_flag: str = "--length") -> None:
    """UsageError when the length (or --beam) is above its limit, naming the flag that raises it."""
    length = getattr(args, length_flag.lstrip("-").replace("-", "_"))
    require(length <= args.max_length,
            f"{length_flag} {length:,} is above the limit of {args.max_length:,} (a guard against typos): "
            f"raise it with --max-length {length} if you mean it")
    beam = getattr(args, "beam", 0)
    require(beam <= getattr(args, "max_beam", MAX_BEAM),
            f"--beam {beam:,} is above the limit of {getattr(args, 'max_beam', MAX_BEAM):,} continuations (a "
            f"guard against typos; the search's time and memory grow with it): raise it with --max-beam "
            f"{beam} if you mean it")


MAX_LAYERS = 1000      # --layers above this is taken for a typo (every step loops over the layers)


def check_flags(args) -> None:
    require(args.hidden >= 1, f"--hidden must be >= 1, got {args.hidden}")
    require(1 <= args.layers <= MAX_LAYERS,
            f"--layers must be in 1..{MAX_LAYERS:,} (a guard against typos), got {args.layers}")
    require(0 < args.val_frac < 1, f"--val-frac must be in (0, 1), got {args.val_frac}")
    require(getattr(args, "embed", 0) >= 0, f"--embed must be >= 0, got {getattr(args, 'embed', 0)}")
    require(0 <= args.dropout < 1, f"--dropout must be in [0, 1), got {args.dropout}")
    require(args.batch >= 1, f"--batch must be >= 1, got {args.batch}")
    require(args.seq >= 1, f"--seq must be >= 1, got {args.seq}")
    require(args.lr > 0 and math.isfinite(args.lr), f"--lr must be a finite number > 0, got {args.lr}")
    require(args.seed >= 0, f"--seed must be >= 0, got {args.seed}")
    require(args.bias_lr > 0 and math.isfinite(args.bias_lr), f"--bias-lr must be a finite number > 0, got {args.bias_lr}")
    require(args.lr_decay > 0 and math.isfinite(args.lr_decay), f"--lr-decay must be a finite number > 0, got {args.lr_decay}")
    require(args.lr_decay == 1.0 or args.lr_schedule == "step",
            f"--lr-decay {args.lr_decay} applies to --lr-schedule step (the default is cosine): add --lr-schedule step")
    require(0 <= args.lr_floor <= 1, f"--lr-floor must be in [0, 1], got {args.lr_floor}")
    require(0 < args.lr_decay_frac <= 1, f"--lr-decay-frac must be in (0, 1], got {args.lr_decay_frac}")
    require(args.iters >= 1, f"--iters must be >= 1, got {args.iters}")
    require(args.lr_schedule != "cosine" or 0 <= args.warmup < args.iters,
            f"--warmup must be >= 0 and below --iters ({args.iters}), got {args.warmup}")
    require(args.lr_decay_every >= 0, f"--lr-decay-every must be >= 0, got {args.lr_decay_every}")
    require(args.lr_decay_every == 0 or args.lr_schedule == "step",
            f"--lr-decay-every {args.lr_decay_every} applies to --lr-schedule step (the default is cosine): "
            f"add --lr-schedule step")
    require(args.warmup == 0 or args.lr_schedule == "cosine",
            f"--warmup {args.warmup} applies to --lr-schedule cosine, not step")
    require(args.clip >= 0, f"--clip must be >= 0, got {args.clip}")
    require(args.eval_every >= 1, f"--eval-every must be >= 1, got {args.eval_every}")
    require(args.print_every >= 1, f"--print-every must be >= 1, got {args.print_every}")
    require(args.sample_every is None or args.sample_every >= 0,
            f"--sample-every must be >= 0, got {args.sample_every}")
    require(args.eval_windows >= 0, f"--eval-windows must be >= 0, got {args.eval_windows}")
    # a lower bound of the model's memory (vocabulary of 1): an impossible --hidden fails here, at once
    check_model_size(args, vocab_size=1, embed=max(getattr(args, "embed", 0), getattr(args, "dim", 0), 1))
    check_output_dir(args.checkpoint_dir, "--checkpoint-dir")
    if args.backend:
        backend.set_backend(args.backend)


def model_bytes(vocab_size, embed, hidden, layers, cell, batch, seq, itemsize, trained_embedding=False) -> int:
    """Estimated bytes to train an RNNLM: parameters x 4 (weights, gradients, two Adam moments),
    the input table, and one window's activations (N T per layer: gates, cell, h; logits x 3)."""
    V, E, H, L, N, T = (int(x) for x in (vocab_size, embed, hidden, layers, batch, seq))
    G = {"lstm": 4, "gru": 3}.get(cell, 1)                  # gate blocks per layer
    # layer 0 reads E inputs, the others H: input weights, recurrent weights and bias of each layer
    recurrent = E * G * H + (L - 1) * H * G * H + L * (H * G * H + G * H)
    params = recurrent + H * V + V
    table = V * E * (4 if trained_embedding else 1)
    activations = N * T * (L * H * (3 * G + 4) + 3 * V)
    return (4 * params + table + activations) * int(itemsize)


def check_model_size(args, vocab_size, embed) -> None:
    """UsageError, before allocating, when the model these flags build cannot fit in memory."""
    need = model_bytes(vocab_size, embed, args.hidden, args.layers, args.model, args.batch, args.seq,
                       np.dtype(args.dtype).itemsize, trained_embedding=getattr(args, "embed", 0) > 0)
    require_memory(need, f"a {args.layers}-layer {args.model.upper()} with H={args.hidden}, input size "
                         f"{embed}, {vocab_size} classes, batch {args.batch}x{args.seq}",
                   "use a smaller --hidden, --layers, --embed/--dim, --batch or --seq")


def resume_path(args):
    """The checkpoint --resume continues from (None without --resume)."""
    if args.resume is None:
        return None
    return os.path.join(args.checkpoint_dir, "latest.npz") if args.resume == "latest" else args.resume


class _Claim:
    """What one run holds in its --checkpoint-dir: the lock, the directories it made, and with
    --overwrite the sibling directory where the new run is built until its first checkpoint."""

    def __init__(self, final: str):
        self.final = os.path.abspath(final)       # the run's directory, as the user named it
        self.real = os.path.realpath(final)       # ... and where it is (through symlinks)
        self.locks = []                           # open lock files, held until the run ends
        self.made = []                            # directories this run created, outermost first
        self.work = None                          # the sibling being built (an open --overwrite)
        self.keep = ()                            # names of the run's own files there


_CLAIMS: dict = {}                        # realpath of a claimed directory -> _Claim
STAGING_MARK = ".minirnn-new-run"         # in the sibling where --overwrite builds the new run
REPLACED_MARK = ".minirnn-old-run"        # in the old run's directory, set just before the swap
DIR_OUTPUTS = ("quantizer",)              # outputs that are directories (train_word's stage 2)


def _sibling(real: str, what: str) -> str:
    return os.path.join(os.path.dirname(real), f".{os.path.basename(real)}.minirnn-{what}")


def _lock(d: str):
    """Open and flock <d>/.lock (exclusive, not waiting); the open file. UsageError if another run
    holds it, or if .lock is not a regular file."""
    path = os.path.join(d, LOCK_NAME)
    for _ in range(8):
        if os.path.lexists(path) and (os.path.islink(path) or not os.path.isfile(path)):
            raise UsageError(f"--checkpoint-dir {d}: {path} is not a regular file (minirnn keeps its run "
                             f"lock there): remove or rename it, or choose another --checkpoint-dir")
        try:
            f = open(path, "a+")
        except OSError as e:
            raise UsageError(f"--checkpoint-dir {d}: cannot create its lock file {path} ({e.strerror})") from None
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            raise UsageError(f"--checkpoint-dir {d}: another run is writing there now (it holds "
                             f"{path}); wait for it, or use another --checkpoint-dir") from None
        try:                                                  # still the file at that path?
            if os.path.samestat(os.fstat(f.fileno()), os.stat(path)):
                return f
        except OSError:
            pass
        f.close()                                             # replaced meanwhile (a finished --overwrite)
    raise UsageError(f"--checkpoint-dir {d}: its lock file keeps changing; is another run replacing it?")


def _repair(claim: _Claim) -> None:
    """Finish or undo what a killed --overwrite left (called holding the directory's lock). Before
    the swap the old run is whole and the sibling is discarded; after it, the new run is whole and
    the old one's own files (not the run's) are moved back, then it is removed."""
    real = claim.real
    for what in ("new", "old"):
        sib = _sibling(real, what)
        if not os.path.lexists(sib):
            continue
        if os.path.islink(sib) or not os.path.isdir(sib) or not (
                os.path.exists(os.path.join(sib, STAGING_MARK)) or os.path.exists(os.path.join(sib, REPLACED_MARK))):
            raise UsageError(f"--checkpoint-dir {claim.final}: {sib} is in the way (minirnn builds an "
                             f"--overwrite there, and this one is not its own): rename or remove it")
        if os.path.exists(os.path.join(sib, REPLACED_MARK)):
            _move_back(sib, real, claim.keep)                 # the old run, replaced: keep the user's files
        shutil.rmtree(sib)
    for mark in (STAGING_MARK, REPLACED_MARK):
        if os.path.lexists(os.path.join(real, mark)):
            os.remove(os.path.join(real, mark))


def _move_back(old: str, new: str, keep) -> None:
    """Move what is not a run file from the replaced run's directory into the new one."""
    own = set(keep) | {LOCK_NAME, STAGING_MARK, REPLACED_MARK}
    for name in os.listdir(old):
        if name in own or (name.endswith(checkpoint.TMP_SUFFIX) and any(name.startswith(k + ".") for k in keep)):
            continue
        if not os.path.lexists(os.path.join(new, name)):
            os.rename(os.path.join(old, name), os.path.join(new, name))


def claim_checkpoint_dir(args, outputs=(), inputs=None, meta=None) -> None:
    """Lock args.checkpoint_dir for this run; refuse a run that would replace or roll back another.

    `outputs`: names of other files or directories the run will write there (train_word's stages).
    `inputs`: {flag: path} of the files the run reads; every path the run writes passes
    ``textio.check_output_file`` against them first. `meta`: the metadata of the --resume checkpoint.

    * A fresh run (no --resume), or one resumed from another directory's checkpoint, into a
      directory that holds a run (a run file or a stage output) is refused.
    * ``--resume`` of a checkpoint in the directory that is not its latest.npz must not discard
      history: a checkpoint of another run (a copy: its ``run_id`` differs) or one older than
      latest.npz is refused.
    * With --overwrite, such a run is built in a sibling directory (``.<name>.minirnn-new``), the
      lock held throughout; the old run stays whole until the new one writes its first checkpoint,
      when ``commit`` swaps the two directories (one atomic rename), moves any file of the user's
      from the old directory into the new one, and removes the old run. A run that stops before
      (bad input, Ctrl-C, a crash) leaves the old run as it was.

    The lock is held until ``run_cli`` finishes (``_end_claims``), which also removes an unfinished
    sibling and a directory this run made and left empty (a refused run leaves nothing behind)."""
    d = args.checkpoint_dir
    inputs = dict(inputs or {})
    source = resume_path(args)
    here = source is not None and _same_dir(os.path.dirname(os.path.abspath(source)), d)
    if source is not None and not here:
        inputs["--resume"] = source
    names = []
    for n in (*RUN_FILES, *outputs):
        p = os.path.join(d, n)
        if n in DIR_OUTPUTS and os.path.isdir(p) and not os.path.islink(p):   # train_word's quantizer/
            inside = [f"{k} {v}" for k, v in inputs.items() if v is not None and
                      os.path.realpath(v).startswith(os.path.realpath(p) + os.sep)]
            if inside:
                raise UsageError(f"--checkpoint-dir {d}: the run writes {p}, which holds the input "
                                 f"{inside[0]}: give another --checkpoint-dir")
        else:
            names.append(n)
    check_output_dir(d, "--checkpoint-dir", names=names, inputs=inputs)
    key = os.path.realpath(d)
    claim = _CLAIMS.get(key)
    if claim is None:
        claim = _Claim(d)
        claim.keep = (*RUN_FILES, *outputs)
        old = _sibling(claim.real, "old")
        if not os.path.lexists(claim.real) and os.path.exists(os.path.join(old, REPLACED_MARK)):
            os.rename(old, claim.real)                        # a killed two-rename swap: undo it
        try:
            claim.made = make_dirs(d)
        except OSError as e:
            raise UsageError(f"--checkpoint-dir {d}: cannot create it ({e.strerror})") from None
        _CLAIMS[key] = claim
        claim.locks.append(_lock(d))
        _repair(claim)
    used = [n for n in (*RUN_FILES, *outputs) if os.path.lexists(os.path.join(d, n))]
    overwrite = getattr(args, "overwrite", False)
    why, carry = None, False
    if not here and used:
        why = (f"--checkpoint-dir {d} already holds a run ({', '.join(used)}), and --resume {source} is a "
               f"checkpoint of another directory's run: continue it in a new --checkpoint-dir, or replace "
               f"{d}'s run with --overwrite" if source is not None else
               f"--checkpoint-dir {d} already holds a run ({', '.join(used)}): continue it with --resume, "
               f"start afresh there with --overwrite, or choose another --checkpoint-dir")
    elif here and meta is not None:
        why, carry = _rollback(d, source, meta)
    args._run_id = meta.get("run_id") if here and isinstance(meta, dict) else None   # a run resumed in place
    if why is not None:
        if not overwrite:
            raise UsageError(why + " (--overwrite keeps the old run until the new one's first checkpoint)")
        _open_overwrite(claim)
        if carry and os.path.isfile(os.path.join(d, "metrics.jsonl")):   # the history up to the checkpoint
            shutil.copyfile(os.path.join(d, "metrics.jsonl"), os.path.join(claim.work, "metrics.jsonl"))
        args._run_id = None
    if not isinstance(args._run_id, str):
        args._run_id = uuid.uuid4().hex                       # a new run, or one resumed from an old minirnn
    checkpoint.clean_stale_tmp(d)


def _rollback(d, source, meta):
    """(why resuming `source`, a checkpoint in `d`, would discard `d`'s history, or None; whether it
    is an earlier checkpoint of the same run, whose metrics lines up to it a replacing run keeps)."""
    latest = os.path.join(d, "latest.npz")
    if not os.path.isfile(latest) or _same_file(latest, source):
        return None, False
    try:
        now = checkpoint.load_meta(latest)
    except UsageError:                                        # a damaged latest.npz: nothing to protect
        return None, False
    mine, theirs = meta.get("run_id"), now.get("run_id")
    if isinstance(mine, str) and isinstance(theirs, str) and mine != theirs:
        return (f"--resume {source} is a checkpoint of another run than the one in {d} (a copy?): resuming "
                f"it there would mix two runs in one directory; resume it with a new --checkpoint-dir, or "
                f"replace {d}'s run with --overwrite"), False
    it, last = meta.get("iteration"), now.get("iteration")
    if isinstance(it, int) and isinstance(last, int) and it < last:
        return (f"--resume {source} is at iteration {it} and {latest} at {last}: resuming there would "
                f"discard iterations {it + 1}-{last} and their metrics lines; to branch from it, resume it "
                f"with a new --checkpoint-dir, or replace the run with --overwrite"), True
    return None, False


def _same_file(a, b) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def _open_overwrite(claim: _Claim) -> None:
    """Start building the new run in the sibling directory (the old run is not touched)."""
    if claim.work is not None:
        return
    work = _sibling(claim.real, "new")
    parent = os.path.dirname(claim.real)
    if os.path.ismount(claim.real):
        raise UsageError(f"--overwrite replaces the run in {claim.final} by swapping that directory with a new one, "
                         f"and it is a mount point, which cannot be renamed: use a directory inside it")
    try:
        os.mkdir(work)
        open(os.path.join(work, STAGING_MARK), "w").close()
    except OSError as e:
        raise UsageError(f"--overwrite builds the new run beside {claim.final}, in {parent}, and cannot "
                         f"write there ({e.strerror}): choose another --checkpoint-dir") from None
    claim.work = work
    claim.locks.append(_lock(work))                           # becomes the run directory's lock at the swap


def staged(path):
    """Where a file of a run directory is written now: in the sibling while an --overwrite is
    building the new run there (before its first checkpoint), else `path` itself."""
    if path is None:
        return None
    full = os.path.abspath(path)
    for claim in _CLAIMS.values():
        if claim.work is None:
            continue
        if os.path.realpath(full) == claim.real:
            return claim.work
        head, name = os.path.split(full)
        if os.path.realpath(head) == claim.real:
            return os.path.join(claim.work, name)
    return path


def commit(d) -> str:
    """The new run has its first checkpoint: make it the run in `d` (see ``claim_checkpoint_dir``).
    Returns `d` as an absolute path, where the run's files are from now on."""
    claim = _CLAIMS.get(os.path.realpath(d))
    if claim is None or claim.work is None:
        return os.path.abspath(d)
    signals = {signal.SIGINT, signal.SIGTERM}
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, signals)   # the swap and its cleanup, whole
    try:
        cwd = os.getcwd()
        inside = cwd == claim.real or cwd.startswith(claim.real + os.sep)
        open(os.path.join(claim.real, REPLACED_MARK), "w").close()
        try:
            if not checkpoint.exchange(claim.real, claim.work):   # not Linux: two renames (_repair undoes one)
                old = _sibling(claim.real, "old")
                os.rename(claim.real, old)
                os.rename(claim.work, claim.real)
                os.rename(old, claim.work)
        except OSError:
            os.remove(os.path.join(claim.real, REPLACED_MARK))   # nothing swapped: the old run as it was
            raise
        _move_back(claim.work, claim.real, claim.keep)
        os.remove(os.path.join(claim.real, STAGING_MARK))
        for name in claim.keep:                               # what is there now is this run's own
            textio.note_checked(os.path.join(claim.real, name))
        shutil.rmtree(claim.work)
        claim.work = None
        old_lock = claim.locks.pop(0)                         # the old run's, removed with it
        old_lock.close()
        if inside:
            try:
                os.chdir(cwd)                                 # the same path: the new directory
            except OSError:
                os.chdir(claim.real)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    return claim.final


@at_end
def _end_claims() -> None:
    """The run is over: an --overwrite that never reached its first checkpoint is removed (the old
    run was never touched), a directory the run made and left empty is removed, locks released."""
    for claim in list(_CLAIMS.values()):
        try:
            if claim.work is not None and os.path.exists(os.path.join(claim.work, STAGING_MARK)):
                shutil.rmtree(claim.work, ignore_errors=True)
            for d in reversed(claim.made):                    # innermost first
                left = os.listdir(d) if os.path.isdir(d) and not os.path.islink(d) else None
                if left == [] or (left == [LOCK_NAME] and os.path.realpath(d) == claim.real):
                    if left:
                        os.remove(os.path.join(d, LOCK_NAME))
                    os.rmdir(d)
        finally:
            for f in claim.locks:
                f.close()
    _CLAIMS.clear()


def _same_dir(a, b) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def fingerprint(path) -> dict:
    """{'path': absolute path, 'bytes': size, 'sha256': hex digest} of an input file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return {"path": os.path.abspath(path), "bytes": os.path.getsize(path), "sha256": h.hexdigest()}


def file_fingerprints(files: dict) -> dict:
    """Fingerprints of the input files a run uses ({flag: path}), to store in its checkpoints (a stage
    output of an --overwrite not yet swapped in is read where it is now, ``staged``)."""
    out = {}
    for k, p in files.items():
        if p is not None and os.path.isfile(staged(p)):
            out[k] = dict(fingerprint(staged(p)), path=os.path.abspath(p))
    return out


def check_fingerprints(meta: dict, files: dict) -> None:
    """On resume: each input file must be the one the checkpoint was trained on (size, SHA-256)."""
    saved = meta.get("files")
    if not isinstance(saved, dict):
        return                                           # a checkpoint from before fingerprints
    for k, p in files.items():
        old = saved.get(k)
        if not isinstance(old, dict) or p is None or not os.path.isfile(p):
            continue
        now = fingerprint(p)
        if (now["bytes"], now["sha256"]) != (old.get("bytes"), old.get("sha256")):
            flag = "--" + k.replace("_", "-")
            raise UsageError(f"{flag} {p}: not the file this checkpoint was trained on ({old.get('path')}, "
                             f"{old.get('bytes')} bytes; this one has {now['bytes']}, or other contents): "
                             f"resume with the same file, or start a new --checkpoint-dir")


def resume_checkpoint(build_parser, args, argv, kind: str, must_match=(), paths=()):
    """If --resume: load the checkpoint, fill unset flags from it, refuse conflicting ones (those in
    MUST_MATCH and the script's own `must_match`). Returns (arrays, meta) or (None, None).
    ``--resume PATH`` without --checkpoint-dir goes on writing beside PATH.

    `paths`: flags that name input files. They are made absolute (given ones and, from a checkpoint
    of an older minirnn that stored them as given, saved ones: resolved from the current directory,
    and an error naming them when no such file is there)."""
    for k in paths:
        if getattr(args, k, None) is not None:
            setattr(args, k, os.path.abspath(getattr(args, k)))
    if args.resume is None:
        return None, None
    path = resume_path(args)
    if args.resume == "latest" and not os.path.exists(path):
        raise UsageError(f"--resume: no checkpoint at {path} (give its path, or the --checkpoint-dir it is in)")
    arrays, meta = checkpoint.load(path)
    if meta.get("kind") != kind:
        held = str(meta.get("kind", "something else"))[:40]
        raise UsageError(f"{path}: not a checkpoint of this script (it holds {held!r}, this script "
                         f"trains {kind!r})")
    if "flags" not in meta:
        raise UsageError(f"{path}: a {kind} checkpoint without the flags it was trained with; it cannot "
                         f"be resumed")
    check_meta(meta, arrays, path, kind)
    given = explicit_flags(build_parser, argv)
    saved = dict(meta["flags"])
    check_saved_flags(build_parser(), saved, path)
    for k in paths:
        v = saved.get(k)
        if isinstance(v, str) and not os.path.isabs(v):      # stored as given by an older minirnn
            resolved = os.path.abspath(v)
            if k not in given and not os.path.exists(resolved):
                raise UsageError(f"{path} was trained on --{k.replace('_', '-')} {v!r}, a relative path, and "
                                 f"there is no {resolved}: resume from the directory it was trained in, or "
                                 f"give --{k.replace('_', '-')} with the file's path")
            saved[k] = resolved
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


def check_saved_flags(parser, saved: dict, path) -> None:
    """The flags stored in a checkpoint must have the types and choices the parser gives them
    (a hand-edited or hostile checkpoint is a UsageError here, not a TypeError later)."""
    for action in parser._actions:
        k = action.dest
        if k not in saved or action.default is argparse.SUPPRESS:
            continue
        v = saved[k]
        if v is None:
            ok = action.default is None                       # only a flag that defaults to None
        elif isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
            ok = isinstance(v, bool)
        elif action.type is int:
            ok = isinstance(v, int) and not isinstance(v, bool)
        elif action.type is float:
            ok = isinstance(v, (int, float)) and not isinstance(v, bool)
        else:
            ok = isinstance(v, str)
        if ok and action.choices is not None:
            ok = v in action.choices
        if not ok:
            raise UsageError(f"{path}: checkpoint metadata is malformed: flag --{k.replace('_', '-')} is "
                             f"{str(v)[:40]!r}")


def explicit_flags(build_parser, argv) -> set:
    """Names of the options given on the command line: parse again with every default suppressed."""
    probe = build_parser()
    for action in probe._actions:
        action.default = argparse.SUPPRESS
    return set(vars(probe.parse_args(argv)))


def make_optimizer(args, model, iters_per_epoch: int):
    """(optimizer, schedule) from the flags; the schedule sets the rate of every iteration, so a
    resumed run takes the rates its flags say. The cosine schedule's horizon is --iters: a run
    resumed with the same --iters takes the same learning rates; one resumed with a larger --iters
    gets the schedule of that longer run (held at --lr until its last --lr-decay-frac)."""
    params = model.trainable()
    opt = OPTIMIZERS[args.optimizer](params, lr=args.lr, lr_factors=bias_lr_factors(params, args.bias_lr))
    if args.lr_schedule == "cosine":
        # 0.3 * 10 is 3, not 3.0000000000000004; at least one iteration decays (--lr-decay-frac 1e-300)
        decay_iters = max(1, math.ceil(round(args.lr_decay_frac * args.iters, 9)))
        decay_from = max(args.warmup, args.iters - decay_iters)
        return opt, WarmupCosine(args.lr, args.iters, args.warmup, args.lr_floor, decay_from)
    every = args.lr_decay_every or iters_per_epoch
    return opt, StepDecay(args.lr, every, args.lr_decay)      # factor 1: --lr at every step


def trainer_kwargs(args, schedule) -> dict:
    """The Trainer's loop settings, from the shared flags; the directory it writes in (the sibling
    of an --overwrite until its first checkpoint, ``staged``), and the run's identity."""
    return {"iters": args.iters, "eval_every": args.eval_every, "checkpoint_dir": staged(args.checkpoint_dir),
            "on_checkpoint": lambda: commit(args.checkpoint_dir), "run_id": getattr(args, "_run_id", None),
            "eval_windows": args.eval_windows,
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
        except (KeyError, ValueError, TypeError, IndexError) as e:
            raise UsageError(f"the checkpoint does not fit this model ({e})") from None
        print(f"resumed at iteration {trainer.it}")
        planned = meta.get("flags", {}).get("iters")
        if (isinstance(trainer.schedule, WarmupCosine) and planned not in (None, trainer.iters)
                and trainer.it < trainer.iters):
            print(f"note: the checkpoint's run planned {planned} iterations; the cosine schedule is planned "
                  f"again over --iters {trainer.iters}, so the learning rate goes from "
                  f"{meta.get('optimizer', {}).get('lr', float('nan')):.3g} to {trainer.schedule(trainer.it):.3g} "
                  f"at iteration {trainer.it + 1}")
        if trainer.it >= trainer.iters:
            print(f"nothing to do: the checkpoint is at iteration {trainer.it} and --iters is {trainer.iters}")
            return 0
    return trainer.run()


def flags_dict(args) -> dict:
    """The flags as saved in a checkpoint (everything but where/how to run, and private fields)."""
    return {k: v for k, v in vars(args).items()
            if k not in ("resume", "backend", "checkpoint_dir", "overwrite") and not k.startswith("_")}


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
