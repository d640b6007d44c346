#!/usr/bin/env python
"""Train skip-gram word2vec (negative sampling) on a text corpus and save the vectors.

    python scripts/train_word2vec.py                       # the bundled novel, Don Quijote
    python scripts/train_word2vec.py --corpus wiki.txt --dim 300 --epochs 3 --out wiki.bin --binary

The token ids of the corpus go to a temporary file in $TMPDIR (4 bytes a token), read through a
memory map; memory holds the model and at most --max-types word counts, whatever the corpus's length.
Writes the vectors in the word2vec text format (or binary with --binary), readable by gensim and
word2vec.c's tools, with word counts beside them in OUT.counts.json; shows a progress bar (words/s,
loss, ETA) on stderr and prints the nearest neighbours of a few frequent words at the end.
Bad input (missing or empty corpus, no word seen --min-count times, --dim < 1, ...) is one line on
stderr and exit status 2.
"""
from __future__ import annotations

from minirnn.errors import startup

startup(__name__)   # first: Ctrl-C during the imports below is one line, not a traceback

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP threads sleep: Numba kernels share 2 cores

import argparse
import math
import sys
import time

import numba

from minirnn.errors import require, run_cli
from minirnn.textio import check_distinct, check_output_file, check_text_file, default_corpus, refuse_existing
from minirnn.word2vec import MAX_TYPES, Word2Vec


MAX_NEGATIVE = 1000     # --negative above this is taken for a typo (each pair costs K + 1 dot products)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--corpus", default=default_corpus(),
                   help="UTF-8 text file, streamed line by line; a blank line ends a sentence "
                        "(default: the bundled novel, Don Quijote)")
    p.add_argument("--dim", type=int, default=100, help="vector size")
    p.add_argument("--window", type=int, default=5,
                   help="largest context window; each position draws its window from 1..WINDOW")
    p.add_argument("--min-count", type=int, default=5, help="ignore words seen fewer times than this")
    p.add_argument("--max-vocab", type=int, default=None, help="keep at most this many of the most frequent words")
    p.add_argument("--max-types", type=int, default=MAX_TYPES,
                   help="distinct words held while counting, the vocabulary pass's memory bound (about 130 bytes "
                        "each); beyond it the rarest are forgotten, as word2vec.c and gensim do")
    p.add_argument("--negative", type=int, default=5, help="negative samples per (center, context) pair")
    p.add_argument("--sample", type=float, default=1e-3,
                   help="subsampling threshold for frequent words (0 turns subsampling off)")
    p.add_argument("--alpha", type=float, default=0.025, help="initial learning rate")
    p.add_argument("--min-alpha", type=float, default=1e-4, help="final learning rate (linear decay)")
    p.add_argument("--epochs", type=int, default=5, help="passes over the corpus")
    p.add_argument("--workers", type=int, default=numba.config.NUMBA_NUM_THREADS,
                   help="training threads (at most NUMBA_NUM_THREADS, by default the number of cores)")
    p.add_argument("--seed", type=int, default=1, help="random seed (training is reproducible with --workers 1)")
    p.add_argument("--keep-digits", action="store_true", help="count runs of digits as words")
    p.add_argument("--out", default="vectors.txt", help="where to write the vectors (word2vec format)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing --out (and its .counts.json) or --model; without it they are refused")
    p.add_argument("--binary", action="store_true", help="write the word2vec binary format instead of text")
    p.add_argument("--model", default=None,
                   help="also save the whole model (both weight matrices, vocabulary, losses) to this .npz")
    p.add_argument("--show", nargs="*", default=None, metavar="WORD",
                   help="words whose nearest neighbours to print at the end "
                        "(default: the 6 most frequent words of 5 letters or more)")
    p.add_argument("--topn", type=int, default=8, help="neighbours printed per word")
    return p.parse_args(argv)


class ProgressBar:
    """One-line progress on stderr: a redrawn bar on a terminal, one line per epoch otherwise."""

    def __init__(self, stream=sys.stderr, width=30):
        self.stream, self.width = stream, width
        self.tty = stream.isatty()
        self.last_draw, self.last_epoch = 0.0, 0

    def __call__(self, p):
        frac = p.words_done / max(p.words_total, 1)
        eta = time.strftime("%M:%S", time.gmtime(p.eta_s)) if p.eta_s < 3600 else f"{p.eta_s / 3600:.1f}h"
        filled = int(round(frac * self.width))
        line = (f"epoch {p.epoch}/{p.epochs} [{'#' * filled}{'.' * (self.width - filled)}] {100 * frac:5.1f}% "
                f"{p.words_per_s / 1000:7.1f}k words/s  loss {p.loss:.4f}  ETA {eta}")
        epoch_done = p.words_done * p.epochs >= p.epoch * p.words_total
        if self.tty:
            now = time.monotonic()
            if now - self.last_draw > 0.1 or epoch_done:
                self.stream.write("\r" + line + ("\n" if epoch_done else ""))
                self.stream.flush()
                self.last_draw = now
        elif epoch_done and p.epoch != self.last_epoch:
            self.stream.write(line + "\n")
            self.last_epoch = p.epoch


def main(argv=None):
    args = parse_args(argv)
    require(args.topn >= 1, f"--topn must be >= 1, got {args.topn}")
    require(args.seed >= 0, f"--seed must be >= 0, got {args.seed}")
    require(1 <= args.negative <= MAX_NEGATIVE,
            f"--negative must be in 1..{MAX_NEGATIVE} (a guard against typos: word2vec uses 5-20), got {args.negative}")
    require(math.isfinite(args.sample) and args.sample >= 0, f"--sample must be a finite number >= 0, got {args.sample}")
    # every check before the vocabulary pass and the epochs: the corpus, then each output, side files
    # included (--out's .counts.json, --model's .json), none of them an input or another output
    check_text_file(args.corpus)
    inputs = {"--corpus": args.corpus}
    outputs = {"--out": args.out, "--out's counts": args.out + ".counts.json"}
    if args.model:
        model_path = args.model if args.model.endswith(".npz") else args.model + ".npz"
        outputs.update({"--model": model_path, "--model's JSON": model_path[:-4] + ".json"})
    for what, path in outputs.items():
        check_output_file(path, what.split("'")[0], inputs)
    check_distinct(outputs)
    refuse_existing([args.out, args.out + ".counts.json"], "--out", args.overwrite)
    if args.model:
        refuse_existing([outputs["--model"], outputs["--model's JSON"]], "--model", args.overwrite)
    model = Word2Vec(dim=args.dim, window=args.window, min_count=args.min_count, max_vocab=args.max_vocab,
                     negative=args.negative, sample=args.sample, alpha=args.alpha, min_alpha=args.min_alpha,
                     epochs=args.epochs, workers=args.workers, seed=args.seed, keep_digits=args.keep_digits,
                     max_types=args.max_types)
    model.train(args.corpus, progress=ProgressBar())
    vocab, t = model.vocab, model.timings
    print(f"corpus {args.corpus}")
    print(f"vocabulary: {len(vocab)} words seen >= {args.min_count} times, {vocab.total} of {vocab.n_tokens} "
          f"tokens; vocabulary pass {t['vocab_s']:.1f}s, training {t['train_s']:.1f}s "
          f"({t['words_per_s'] / 1000:.0f}k words/s, {args.workers} threads)")
    print("mean loss per epoch: " + ", ".join(f"{x:.4f}" for x in model.losses))
    wv = model.wv
    wv.save_word2vec_format(args.out, binary=args.binary)
    print(f"wrote {args.out} ({'binary' if args.binary else 'text'}, {len(wv)} x {wv.vector_size})"
          + (f" and {args.out}.counts.json" if wv.counts is not None else ""))
    if args.model:
        model.save(args.model)
        print(f"wrote {args.model}")
    show = args.show if args.show is not None else [w for w in wv.index_to_key if len(w) >= 5][:6]
    for word in show:
        if word not in wv:
            print(f"{word}: not in the vocabulary")
            continue
        neighbours = ", ".join(f"{w} {c:.2f}" for w, c in wv.most_similar(word, topn=args.topn))
        print(f"{word}: {neighbours}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
