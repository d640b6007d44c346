#!/usr/bin/env python
"""Generate Spanish word sequences from a model trained by train_word.py.

    python scripts/generate_words.py --checkpoint checkpoints/word/best.npz \\
        --start "el curso de la universidad" --length 50 --temperature 0.8 --seed 1

The start words are fed through the model; then each step samples the next cluster from the RNN
(at --temperature, among the --top-k most likely if given; never <unk>) and a word inside it:
  --choice frequency  (default) draw a member of the cluster with its in-cluster unigram probability.
                      This is exactly the p(w | cluster) that the word-level cross-entropy in
                      metrics.jsonl is measured with, and it gives varied text.
  --choice nearest    the member whose vector is closest (cosine) to the model's expected input
                      embedding sum_c p(c) centroid_c; deterministic given the distribution, so it
                      repeats the same few words of a cluster.
Start words outside the vocabulary are dropped with a warning naming them.

--beam K prints instead the K most likely continuations of --length words (beam search over words,
log p(w) = log p(c(w) | history) + log p(w | c(w)), never <unk>), with their log-probabilities, best
first; --length-norm ranks by the log-probability per word (it matters only with --beam-end words,
which end a continuation). Temperature, top-k, choice and seed play no part in it.
"""
from minirnn.errors import startup

startup(__name__)   # first: Ctrl-C during the imports below is one line, not a traceback
import argparse
import sys

import numpy as np

from minirnn import backend
from minirnn.cli import HelpFormatter, add_limit_flags, check_limits
from minirnn.errors import UsageError, require, run_cli
from minirnn.sampling import beam_search, check_options
from minirnn.tokenize import tokenize
from minirnn.trainer import load_model
from minirnn.wordlm import UNK, WORD_CHOICES, WordTask, generate


def build_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("--checkpoint", default="checkpoints/word/best.npz", help="a .npz written by train_word.py")
    p.add_argument("--start", default="en un lugar de la mancha", help="start words")
    p.add_argument("--length", type=int, default=50, help="words to generate")
    p.add_argument("--temperature", type=float, default=0.8, help="softmax temperature over clusters; 0 = greedy")
    p.add_argument("--top-k", type=int, default=0, help="sample among the k most likely clusters only (0 = all)")
    p.add_argument("--choice", choices=WORD_CHOICES, default="frequency", help="how a word is picked inside a cluster")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: a fresh one each run)")
    p.add_argument("--beam", type=int, default=0, help="print the K most likely continuations (beam search) "
                   "instead of sampling one (0 = sample)")
    p.add_argument("--beam-end", default="", help="with --beam: words that end a continuation")
    p.add_argument("--length-norm", action="store_true", help="with --beam: rank by log-probability per word")
    add_limit_flags(p)
    p.add_argument("--backend", choices=list(backend.BACKENDS), default=None, help="array backend")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    require(args.length >= 0, f"--length must be >= 0, got {args.length}")
    check_options(args.temperature, args.top_k, 1.0)
    require(args.seed is None or args.seed >= 0, f"--seed must be >= 0, got {args.seed}")
    require(args.beam >= 0, f"--beam must be >= 0, got {args.beam}")
    check_limits(args)
    if args.backend:
        backend.set_backend(args.backend)
    model, arrays, meta = load_model(args.checkpoint, "word")
    try:
        task = WordTask(meta["words"], arrays["extra/labels"], arrays["param/embed.W"], arrays["extra/vectors"],
                        arrays["extra/logp_in"], clustered=meta["clustered"])
    except KeyError as e:
        raise UsageError(f"{args.checkpoint}: the checkpoint lacks the word maps ({e})") from None
    start_ids, unknown = task.word_ids(tokenize(args.start))
    if unknown:
        print(f"warning: dropped start words not in the vocabulary: {' '.join(unknown)}", file=sys.stderr)
    if not start_ids:
        raise UsageError(f"none of the start words {args.start!r} is in the model's vocabulary")
    out = sys.stdout
    if args.beam:
        end_ids, unknown_end = task.word_ids(tokenize(args.beam_end))
        require(not unknown_end, f"--beam-end words not in the vocabulary: {' '.join(unknown_end)}")
        beams = beam_search(model, task.labels[np.asarray(start_ids)], args.length, args.beam,
                            length_norm=args.length_norm, end_ids=end_ids, token_class=task.labels,
                            token_logp=task.logp_in, banned=[i for i, w in enumerate(task.words) if w == UNK])
        start = " ".join(task.words[i] for i in start_ids)
        for k, (ids, score, logp) in enumerate(beams, 1):
            out.write(f"--- beam {k}: log p = {logp:.4f} nats ({logp / max(1, len(ids)):.4f} per word)\n")
            out.write(" ".join([start] + [task.words[i] for i in ids]) + "\n")
        return 0
    rng = np.random.default_rng(args.seed)
    out.write(" ".join(task.words[i] for i in start_ids))
    for w in generate(model, task, start_ids, args.length, rng, args.temperature, args.top_k, args.choice):
        out.write(" " + task.words[w])
        out.flush()
    out.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
