#!/usr/bin/env python
"""Generate text from a character model trained by train_char.py, streaming it as it is sampled.

    python scripts/sample_char.py --checkpoint checkpoints/char/best.npz --prime "En un lugar" --length 500
    python scripts/sample_char.py --checkpoint ... --temperature 0.7 --top-p 0.9 --seed 1

The prime text is fed through the model first, then each next character is drawn from the softmax at
--temperature (0 = always the most likely), optionally restricted to the --top-k most likely characters
and to the smallest set of them whose probability adds up to --top-p. The same --seed gives the same text.

    python scripts/sample_char.py --checkpoint ... --prime "En un lugar" --length 40 --beam 5

--beam K prints instead the K most likely continuations of --length characters (beam search, with
their log-probabilities in nats), best first; --beam-end CHARS ends a continuation at any of those
characters, and --length-norm then ranks by the log-probability per character. Temperature, top-k,
top-p and seed play no part in it.
"""
from minirnn.errors import startup

startup(__name__)   # first: Ctrl-C during the imports below is one line, not a traceback
import argparse
import sys

import numpy as np

from minirnn import backend
from minirnn.chardata import CharVocab
from minirnn.cli import HelpFormatter, add_limit_flags, check_limits
from minirnn.errors import require, run_cli
from minirnn.sampling import beam_search, check_options, generate
from minirnn.trainer import load_model


def build_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("--checkpoint", default="checkpoints/char/best.npz", help="a .npz written by train_char.py")
    p.add_argument("--prime", default=None, help="text to start from; every character must be in the model's "
                   "vocabulary (default: a newline, or the first character of the vocabulary)")
    p.add_argument("--length", type=int, default=500, help="characters to generate after the prime")
    p.add_argument("--temperature", type=float, default=0.8, help="softmax temperature; 0 = greedy")
    p.add_argument("--top-k", type=int, default=0, help="sample only among the k most likely characters (0 = all)")
    p.add_argument("--top-p", type=float, default=1.0, help="sample only among the most likely characters whose probabilities add up to p")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: a fresh one each run)")
    p.add_argument("--beam", type=int, default=0, help="print the K most likely continuations (beam search) "
                   "instead of sampling one (0 = sample)")
    p.add_argument("--beam-end", default="", help="with --beam: characters that end a continuation (e.g. '.')")
    p.add_argument("--length-norm", action="store_true", help="with --beam: rank by log-probability per character")
    add_limit_flags(p)
    p.add_argument("--backend", choices=list(backend.BACKENDS), default=None, help="array backend (default: $MINIRNN_BACKEND or numpy)")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    require(args.length >= 0, f"--length must be >= 0, got {args.length}")
    require(args.prime is None or len(args.prime) > 0, "--prime must not be empty")
    require(args.seed is None or args.seed >= 0, f"--seed must be >= 0, got {args.seed}")
    check_options(args.temperature, args.top_k, args.top_p)
    require(args.beam >= 0, f"--beam must be >= 0, got {args.beam}")
    check_limits(args)
    if args.backend:
        backend.set_backend(args.backend)
    model, _, meta = load_model(args.checkpoint, "char")
    vocab = CharVocab(meta["vocab"])
    prime = vocab.default_prime() if args.prime is None else args.prime
    prime_ids = vocab.encode(prime)
    out = sys.stdout
    if args.beam:
        end_ids = vocab.encode(args.beam_end) if args.beam_end else []
        beams = beam_search(model, prime_ids, args.length, args.beam, length_norm=args.length_norm, end_ids=end_ids)
        for k, (ids, score, logp) in enumerate(beams, 1):
            n = max(1, len(ids))
            out.write(f"--- beam {k}: log p = {logp:.4f} nats ({logp / n:.4f} per character)\n")
            out.write(prime + "".join(vocab.chars[i] for i in ids) + "\n")
        return 0
    rng = np.random.default_rng(args.seed)
    out.write(prime)
    for i in generate(model, prime_ids, args.length, rng, args.temperature, args.top_k, args.top_p):
        out.write(vocab.chars[i])
        out.flush()
    out.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
