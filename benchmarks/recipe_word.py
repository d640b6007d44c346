#!/usr/bin/env python
"""The training-recipe study for the word model: validation curves of train_word.py's RNN stage.

Does the char model's recipe (docs/recipe.md) carry over to the quantized word model?
Each run trains the RNN of `scripts/train_word.py` on the cluster-id sequence of one corpus, with
word vectors and a quantizer made once by train_word.py and passed in, and measures the validation
cross-entropy (nats per cluster; the word-level CE adds a constant, the within-cluster term, stored
as `within`) every --eval-every iterations. Each run appends one record to recipe_word.json in
--out-dir (benchmarks/results/recipe_word.json, the study, with --update-results). Without
--vectors it trains vectors itself (--w2v-dim, --w2v-epochs) and runs the plain word model.

A variant is a spec string:
    default                  train_word.py's defaults (its parser), the RNN stage only
    default --lr 4e-3 ...    the same with train_word.py flags changed (one quoted argument)
    old [--flag v ...]       the recipe before issue 15: forget-gate bias 1, one bias (--bias-lr 1),
                             a constant rate (--lr-schedule step) of 2e-3, plus any flags given

    python scripts/train_word.py --iters 1 --checkpoint-dir /tmp/w      # the vectors and quantizer, once
    python benchmarks/recipe_word.py --vectors /tmp/w/vectors.txt --quantizer /tmp/w/quantizer \\
        --variants old default --seeds 0 1
    python benchmarks/recipe_word.py --vectors /tmp/w/vectors.txt --variants default   # the plain word model
"""
import argparse
import os
import shlex
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "scripts"))

import common  # noqa: E402
import recipe  # noqa: E402
from common import curve_of, train_minirnn  # noqa: E402

from minirnn.cli import make_optimizer  # noqa: E402
from minirnn.errors import UsageError, run_cli  # noqa: E402
from minirnn.keyedvectors import KeyedVectors  # noqa: E402
from minirnn.model import RNNLM  # noqa: E402
from minirnn.textio import default_corpus  # noqa: E402
from minirnn.wordlm import WordTask, encode_corpus, targets  # noqa: E402

OLD_FLAGS = ["--lr", "2e-3", "--bias-lr", "1", "--lr-schedule", "step"]
SMOKE_ARGS = ["--variants", "default --hidden 8", "--iters", "3", "--eval-every", "2",
              "--w2v-dim", "8", "--w2v-epochs", "1"]


def load_task(corpus, vectors, quantizer):
    """(task, word_ids): the word model's classes from the vectors (a file, or KeyedVectors) and
    the quantizer, and the corpus as word ids; loaded once, shared by every run."""
    import train_word
    kv = KeyedVectors.load(vectors) if isinstance(vectors, str) else vectors
    table = np.asarray(kv.vectors, dtype=np.float32)
    if quantizer is None:                                 # the plain word model (train_word.py --clusters 0)
        task = WordTask.plain(kv.index_to_key, table)
    else:
        q = train_word.load_quantizer(quantizer)
        task = WordTask.clusters(kv.index_to_key, table, q.labels, q.centroids)
    return task, encode_corpus(corpus, kv.key_to_index)[0]


def run(spec, task, word_ids, seed, iters, eval_every):
    """One variant: (curve [[iteration, val CE per cluster (per word without a quantizer), seconds,
    seconds of that validation pass]], seconds, within, flags)."""
    import train_word
    words = shlex.split(spec)
    if words[0] not in ("default", "old"):
        raise UsageError(f"unknown variant {spec!r} (default ... or old ...)")
    argv = (OLD_FLAGS if words[0] == "old" else []) + words[1:]
    args = train_word.build_parser().parse_args(["--seed", str(seed), "--iters", str(iters),
                                                 "--eval-every", str(eval_every), *argv])
    train, val, val_words = task.split(word_ids, args.val_frac, args.batch, args.seq)
    task.fit_within(word_ids[:len(word_ids) - int(len(word_ids) * args.val_frac)])
    within = task.within_ce(targets(val_words))
    model = RNNLM(task.C, hidden=args.hidden, layers=args.layers, cell=args.model, dropout=args.dropout,
                  embedding=task.embedding, freeze_embedding=True, seed=args.seed, dtype=np.dtype(args.dtype))
    if words[0] == "old":
        recipe.redraw_biases(model, "fb1", seed)          # forget-gate bias 1, the old init
    opt, schedule = make_optimizer(args, model, len(train))
    times = []
    _, vals, seconds = train_minirnn(model, train, val, iters, args.lr, args.clip, eval_every,
                                     opt=opt, schedule=schedule, times=times)
    flags = {k: v for k, v in vars(args).items() if k not in ("checkpoint_dir", "resume", "backend")}
    return curve_of(vals, times), seconds, within, flags


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", default=None, help="UTF-8 text (default: the bundled novel)")
    p.add_argument("--vectors", default=None,
                   help="vectors.txt written by train_word.py for this corpus (default: train them here)")
    p.add_argument("--w2v-dim", type=int, default=100, help="without --vectors: the vectors' size")
    p.add_argument("--w2v-epochs", type=int, default=5, help="without --vectors: word2vec's epochs")
    p.add_argument("--quantizer", default=None,
                   help="quantizer/ directory written by train_word.py (none: the plain word model, --clusters 0)")
    p.add_argument("--variants", nargs="+", default=["old", "default"])
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--iters", type=int, default=1000)
    p.add_argument("--eval-every", type=int, default=200)
    p.add_argument("--out", default=None, help="the JSON list of runs (default: recipe_word.json in --out-dir)")
    p.add_argument("--note", default="", help="free text stored with the run")
    common.add_output_args(p)
    args = p.parse_args(argv)
    if args.quantizer and not args.vectors:
        raise UsageError("--quantizer needs the --vectors it was fitted on")
    args.out = args.out or common.result_path(args, "recipe_word.json")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    corpus = args.corpus or default_corpus()
    vectors = args.vectors or common.word_vectors(corpus, args.w2v_dim, args.w2v_epochs)
    task, word_ids = load_task(corpus, vectors, args.quantizer)
    for spec in args.variants:
        for seed in args.seeds:
            curve, seconds, within, flags = run(spec, task, word_ids, seed, args.iters, args.eval_every)
            model = "plain" if args.quantizer is None else "clusters"
            recipe.append(args.out, recipe.record(spec, {"kind": "word", "model": model}, seed, args.iters, corpus,
                                                  curve, seconds, None, args.note, model=model, within=within,
                                                  flags=flags))
            marks = " ".join(f"{p[0]}:{p[1]:.3f}" for p in curve)
            plus = f"; word CE = this + {within:.3f}" if args.quantizer else ""
            print(f"{os.path.basename(corpus)} {spec} seed {seed}: {marks} ({seconds:.0f}s{plus})", flush=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    sys.exit(run_cli(main))
