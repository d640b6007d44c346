#!/usr/bin/env python
"""Measure a character model trained by train_char.py on any text: nats/char, bits/char, perplexity.

    python scripts/eval_char.py --checkpoint checkpoints/char/best.npz    # its held-out split
    python scripts/eval_char.py --checkpoint ... --text big.txt --max-chars 200000

Without --text it measures the held-out end of the text the model was trained on: the last
--val-frac of it, the validation split that training never learned from.

The model reads the text as one stream, one character after the other, with its state carried from
window to window (so every character is predicted from everything before it), and is scored on each
next character; the first character, with no context, is not scored. The file is streamed (memory:
one chunk and one window). Characters the model never saw are skipped (left out of the stream) and
reported with their counts, not an error. A progress line goes to stderr every few seconds.

    bits/char = nats/char / ln 2        perplexity = e^(nats/char)
"""
from minirnn.errors import startup

startup(__name__)   # first: Ctrl-C during the imports below is one line, not a traceback
import argparse
import os
import sys
import time
from collections import Counter

import numpy as np

from minirnn import backend
from minirnn.cli import HelpFormatter, model_bytes
from minirnn.errors import UsageError, require, require_memory, run_cli
from minirnn.introspect import evaluate_ids, stream_ids, unknown_report
from minirnn.textio import check_text_file
from minirnn.trainer import load_model


def build_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("--checkpoint", default="checkpoints/char/best.npz", help="a .npz written by train_char.py")
    p.add_argument("--text", default=None, help="UTF-8 text file to measure the model on (default: the "
                   "held-out end of the text the model was trained on, its validation split)")
    p.add_argument("--window", type=int, default=256, help="characters per forward pass (the state is "
                   "carried between them, so this changes speed and memory, not the result)")
    p.add_argument("--max-chars", type=int, default=0, help="stop after this many known characters (0 = all)")
    p.add_argument("--backend", choices=list(backend.BACKENDS), default=None,
                   help="array backend (default: $MINIRNN_BACKEND or numpy)")
    return p


def _limit(chunks, n):
    """At most n ids in all from a stream of id chunks."""
    for c in chunks:
        if n <= 0:
            return
        yield c[:n]
        n -= len(c)


def held_out_ids(meta, index, unknown):
    """The ids of the validation split of the checkpoint's training text (its last val_frac), cut as
    train_char.py cuts it (chardata.read_chunks, then chardata.split's n_val), in chunks. The text
    must be the one the checkpoint was trained on (its size and SHA-256, as --resume checks)."""
    from minirnn.chardata import read_chunks
    from minirnn.cli import fingerprint
    path = meta.get("text")
    if not isinstance(path, str) or not os.path.isfile(path):
        raise UsageError("the checkpoint does not name a text that exists here: give one with --text")
    files = meta.get("files") if isinstance(meta.get("files"), dict) else {}
    saved = files.get("text")
    if isinstance(saved, dict):
        now = fingerprint(path)
        if (now["bytes"], now["sha256"]) != (saved.get("bytes"), saved.get("sha256")):
            raise UsageError(f"{path}: not the text this checkpoint was trained on (it changed since), so "
                             f"its held-out split is not known: give a text with --text")
    text = "".join(read_chunks(path))
    flags = meta.get("flags") if isinstance(meta.get("flags"), dict) else {}
    frac = flags.get("val_frac", 0.1)
    if isinstance(frac, bool) or not isinstance(frac, (int, float)) or not 0 < frac < 1:
        raise UsageError(f"the checkpoint's flags hold val_frac {str(frac)[:40]!r}, not a share in (0, 1): its "
                         f"held-out split is not known: give a text with --text")
    held = text[len(text) - int(len(text) * frac):]
    ids = np.array([index.get(ch, -1) for ch in held], dtype=np.int64)     # (n,)
    if (ids < 0).any():
        unknown.update(ch for ch, i in zip(held, ids) if i < 0)
    kept = ids[ids >= 0]                                                    # (n',)
    step = 1 << 16                                                          # chunks, for progress lines
    return (f"{path} (held out, its last {len(held):,} characters)",
            [kept[i:i + step] for i in range(0, len(kept), step)] or [kept])


PROGRESS_EVERY = 5.0    # seconds between progress lines on stderr


def _progress(chunks, total_bytes, stream=None):
    """Pass the chunks through, printing every PROGRESS_EVERY seconds how many characters have been
    read (of about `total_bytes`: a UTF-8 character takes one byte or more) and how fast."""
    stream = stream or sys.stderr
    t0 = last = time.perf_counter()
    done = 0
    for c in chunks:
        yield c
        done += len(c)
        now = time.perf_counter()
        if now - last >= PROGRESS_EVERY:
            rate = done / max(now - t0, 1e-9)
            print(f"  {done:,} characters of about {total_bytes:,} scored ({rate:,.0f} chars/s, "
                  f"{now - t0:.0f} s)", file=stream, flush=True)
            last = now


def main(argv=None):
    args = build_parser().parse_args(argv)
    require(args.window >= 1, f"--window must be >= 1, got {args.window}")
    require(args.max_chars >= 0, f"--max-chars must be >= 0, got {args.max_chars}")
    if args.text is not None:
        check_text_file(args.text)                     # before the model is loaded
    if args.backend:
        backend.set_backend(args.backend)
    model, _, meta = load_model(args.checkpoint, "char")
    m = meta["model"]
    require_memory(model_bytes(m["vocab_size"], model.params["rnn.0.Wx"].shape[0], m["hidden"], m["layers"],
                               m["cell"], 1, args.window, np.dtype(m["dtype"]).itemsize),
                   f"--window {args.window:,} of this model", "use a smaller --window (it changes speed and memory, "
                   "not the result)")
    index = {ch: i for i, ch in enumerate(meta["vocab"])}
    unknown = Counter()
    if args.text is None:
        name, chunks = held_out_ids(meta, index, unknown)
    else:
        name, chunks = args.text, stream_ids(args.text, index, unknown=unknown)
    if args.max_chars:
        chunks = _limit(chunks, args.max_chars)
    total = args.max_chars or (os.path.getsize(args.text) if args.text is not None else sum(map(len, chunks)))
    chunks = _progress(chunks, total)
    t0 = time.perf_counter()
    r = evaluate_ids(model, chunks, window=args.window)
    dt = time.perf_counter() - t0
    if unknown:
        print(unknown_report(unknown), file=sys.stderr)
    print(f"{name}: {r['chars']:,} characters scored in {dt:.1f} s")
    print(f"nats/char  {r['nats_per_char']:.4f}")
    print(f"bits/char  {r['bits_per_char']:.4f}")
    print(f"perplexity {r['perplexity']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
