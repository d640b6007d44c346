#!/usr/bin/env python
"""Train a character-level language model (char-rnn in NumPy) on a text; by default the bundled novel.

    python scripts/train_char.py                          # LSTM on Don Quijote, a few minutes on 2 CPU cores
    python scripts/train_char.py --text my.txt --hidden 512 --layers 3 --iters 20000
    python scripts/train_char.py --resume                 # continue from <checkpoint-dir>/latest.npz
    python scripts/train_char.py --overwrite              # start afresh where a run already is (replaces it)
    python scripts/train_char.py --lstm-file ex/lstm.py   # the LSTM you wrote (python -m minirnn.exercises);
                                                          # --rnn-file, --gru-file likewise

Every --eval-every iterations it measures the validation loss (nats per character over the first
--eval-windows windows of the validation split; the whole split at the end), writes latest.npz (and
best.npz when validation improved), then appends a line to <checkpoint-dir>/metrics.jsonl and prints
a sample. Ctrl-C (or SIGTERM) saves a checkpoint and exits 0. A --checkpoint-dir that holds an earlier run is
refused unless --resume or --overwrite is given, and one run at a time holds it (a lock file). With
--overwrite the new run is built beside it and replaces the old one only once it has written its first
checkpoint: a run that fails or is stopped before that leaves the old run as it was.
"""
from minirnn.errors import startup

startup(__name__)   # first: Ctrl-C during the imports below is one line, not a traceback

import argparse
import sys

import numpy as np

from minirnn import backend, chardata
from minirnn.cli import (HelpFormatter, add_model_flags, check_flags, check_fingerprints, check_model_size,
                         claim_checkpoint_dir, file_fingerprints, flags_dict, make_optimizer,
                         resume_and_run, resume_checkpoint, trainer_kwargs)
from minirnn.errors import UsageError, require, run_cli
from minirnn.exercises.cells import add_cell_file_flags, use_cell_files
from minirnn.model import RNNLM
from minirnn.sampling import check_options, generate
from minirnn.textio import check_text_file, default_corpus
from minirnn.trainer import Trainer


# --lr when not given: by --model at H <= 256, each held and decayed over the last 30% of the run.
# LSTM: the fastest of the curves in docs/recipe.md's study (3e-3 learned slower; 1e-2 stalled at the
# unigram level). RNN and GRU: measured the same way, docs/recipe_cells.md. Above H = 256 the rate
# falls as 1/H (LR_WIDTH / --hidden): Adam moves each weight by about lr per step, so a unit's input
# moves by about lr x H, and at 6e-3 an LSTM of H = 512 stalled at the unigram level where one of
# H = 256 learned (docs/recipe.md, "One rate per size").
DEFAULT_LR = {"lstm": 6e-3, "rnn": 2e-3, "gru": 6e-3}
LR_WIDTH = 256


def default_lr(model: str, hidden: int) -> float:
    """--lr when it is not given: DEFAULT_LR[model], times LR_WIDTH / hidden above hidden = LR_WIDTH."""
    return DEFAULT_LR[model] * min(1.0, LR_WIDTH / max(hidden, 1))  # (--hidden < 1 is refused later)


class Parser(argparse.ArgumentParser):
    """Fills --lr from default_lr(--model, --hidden) when it is not given (after parsing, so in any order)."""

    def parse_known_args(self, args=None, namespace=None):
        ns, rest = super().parse_known_args(args, namespace)
        if getattr(ns, "lr", 0) is None:
            ns.lr = default_lr(ns.model, ns.hidden)
        return ns, rest


def build_parser():
    p = Parser(description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("--text", default=None, help="UTF-8 text file to learn (default: the bundled Don Quijote)")
    add_model_flags(p, hidden=256, layers=2, embed=0, batch=32, seq=64, lr=None, iters=2000,
                    eval_every=250, checkpoint_dir="checkpoints/char")
    for a in p._actions:                                       # say which default --lr takes
        if a.dest == "lr":
            a.help += (" (default: by --model, " + ", ".join(f"{k} {v:g}" for k, v in DEFAULT_LR.items())
                       + f", times {LR_WIDTH}/--hidden when --hidden is above {LR_WIDTH})")
    p.add_argument("--sample-length", type=int, default=300, help="characters in each printed sample")
    p.add_argument("--sample-temperature", type=float, default=0.8, help="temperature of printed samples")
    add_cell_file_flags(p)                                     # --rnn-file, --lstm-file, --gru-file
    return p


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    arrays, meta = resume_checkpoint(build_parser, args, argv, kind="char", must_match=("text",),
                                     paths=("text",))
    check_flags(args)
    for line in use_cell_files(args):                          # the learner's own cell, once checked
        print(line)
    check_options(args.sample_temperature, 0, 1.0, temperature_flag="--sample-temperature")
    require(0 <= args.sample_length <= 100_000,
            f"--sample-length must be in 0..100000 (a printed sample), got {args.sample_length}")
    text_path = check_text_file(args.text or default_corpus())
    claim_checkpoint_dir(args, inputs={"--text": text_path}, meta=meta)
    files = {"text": text_path}
    if meta is not None:
        check_fingerprints(meta, files)
    ids, vocab = chardata.encode_file(text_path)
    check_model_size(args, len(vocab), args.embed or len(vocab))
    if meta is not None and meta["vocab"] != vocab.chars:
        raise UsageError(f"the checkpoint's vocabulary ({len(meta['vocab'])} characters) differs from "
                         f"{text_path}'s ({len(vocab)}): resume on the same text")
    train, val = chardata.split(ids, args.val_frac, args.batch, args.seq)
    dtype = np.dtype(args.dtype)
    model = RNNLM(len(vocab), hidden=args.hidden, layers=args.layers, cell=args.model, embed=args.embed,
                  dropout=args.dropout, seed=args.seed, dtype=dtype)
    opt, schedule = make_optimizer(args, model, len(train))
    n_params = sum(int(v.size) for v in model.trainable().values())
    print(f"text {text_path}: {len(ids):,} characters, vocabulary {len(vocab)}; "
          f"{len(train)} training windows of {args.batch}x{args.seq} per epoch, "
          f"{len(val)} validation windows of {val.B}x{args.seq}")
    print(f"model {args.layers}-layer {args.model.upper()}, H={args.hidden}, "
          f"input {'one-hot' if args.embed == 0 else f'embedding {args.embed}'}, {n_params:,} parameters; "
          f"backend {backend.get_backend()}, {args.dtype}")

    prime = vocab.encode(vocab.default_prime())

    def sample_fn(model, rng):
        out = generate(model, prime, args.sample_length, rng, temperature=args.sample_temperature)
        return vocab.decode(out)

    trainer = Trainer(model, opt, train, val, **trainer_kwargs(args, schedule), sample_fn=sample_fn,
                      unit="chars", meta={"kind": "char", "flags": flags_dict(args), "text": text_path,
                                          "files": file_fingerprints(files), "vocab": vocab.chars})
    status = resume_and_run(trainer, arrays, meta)
    if status == 0 and trainer.it >= args.iters:
        print(f"done: {trainer.it} iterations, best validation loss {trainer.best_val:.4f} nats/char; "
              f"checkpoints in {args.checkpoint_dir}")
        print(f"sample with: python scripts/sample_char.py --checkpoint {args.checkpoint_dir}/best.npz")
    return status


if __name__ == "__main__":
    sys.exit(run_cli(main))
