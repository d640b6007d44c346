#!/usr/bin/env python
"""See inside a character model trained by train_char.py: one self-contained HTML page.

    python scripts/inspect_char.py --checkpoint checkpoints/char/best.npz --out report.html
    python scripts/inspect_char.py --checkpoint lstm/best.npz --compare rnn/best.npz --out report.html
    python scripts/inspect_char.py --checkpoint ... --text chapter.txt --chars 5000 --show 1000

Everything on the page comes from the model's own forward and backward passes (minirnn/introspect.py)
over a text (by default the held-out end of the text the model was trained on):
  - the training and validation loss of the run (metrics.jsonl next to the checkpoint);
  - cells whose activation (tanh(c) for an LSTM, h for an RNN) best tracks simple features of the
    text (inside dialogue or quotes, position in the line, after a space, ...), text coloured by
    them, with the correlation; and a picker that recolours the text by any cell;
  - gate saturation per LSTM layer (Karpathy, Johnson & Fei-Fei 2015): for every input, forget and
    output gate unit the fraction of steps below 0.1 and above 0.9;
  - gradient flow through time, mean ||dL_t/dh_{t-k}|| against k per layer (and per model, with
    --compare: an RNN and an LSTM on one plot);
  - a sample and the text, each character shaded by its probability under the model.
The page works offline: the plots are inline PNGs, the picker a few lines of inline JavaScript. It
is built by minirnn/report.py; this script checks the flags and the outputs (an earlier page or
picture is replaced only with --overwrite) and writes them. Needs matplotlib (pip install -e ".[plot]").
"""
from minirnn.errors import startup

startup(__name__)   # first: Ctrl-C during the imports below is one line, not a traceback

import argparse
import os
import sys

from minirnn import backend
from minirnn.checkpoint import atomic_write
from minirnn.cli import HelpFormatter, add_limit_flags, check_limits
from minirnn.errors import UsageError, require, run_cli
from minirnn.report import PNG_NAMES
from minirnn.textio import check_output_dir, check_output_file, refuse_existing


def build_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("--checkpoint", default="checkpoints/char/best.npz", help="a .npz written by train_char.py")
    p.add_argument("--compare", default=None, metavar="CK2",
                   help="a second checkpoint (e.g. an RNN beside an LSTM): its gradient flow and loss "
                        "curves go on the same plots")
    p.add_argument("--text", default=None, help="UTF-8 text to run the model on (default: the held-out "
                   "end of the text the model was trained on)")
    p.add_argument("--chars", type=int, default=20000, help="characters of the text to analyse (correlations, "
                   "saturation and gradient flow are measured over all of them)")
    p.add_argument("--show", type=int, default=600, help="characters shown in each coloured text")
    p.add_argument("--max-k", type=int, default=100, help="gradient flow: largest k (steps back)")
    p.add_argument("--positions", type=int, default=128, help="gradient flow: steps t averaged over")
    p.add_argument("--sample-length", type=int, default=400, help="characters in the shaded sample")
    p.add_argument("--temperature", type=float, default=0.8, help="temperature of the sample")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample")
    add_limit_flags(p, beam=False)
    p.add_argument("--out", default="report.html", help="the HTML page to write")
    p.add_argument("--png-dir", default=None, help="also write the plots there as PNG files "
                   "(loss_curves.png, gate_saturation.png, gradient_flow.png)")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier page or pictures of these names "
                   "(without it an existing --out or PNG is refused before any work)")
    p.add_argument("--backend", choices=list(backend.BACKENDS), default=None,
                   help="array backend (default: $MINIRNN_BACKEND or numpy)")
    return p


def load(path):
    from minirnn.chardata import CharVocab
    from minirnn.trainer import load_model
    model, _, meta = load_model(path, "char")
    return model, CharVocab(meta["vocab"]), meta


def default_text(meta, n_chars):
    """n_chars from the start of a paragraph in the held-out (validation) end of the training text."""
    from minirnn.textio import read_text
    path = meta.get("text")
    if not path or not os.path.exists(path):
        raise UsageError("the checkpoint does not name a text that exists here: give one with --text")
    text = read_text(path)
    flags = meta.get("flags") or {}
    if isinstance(flags, str):
        flags = {}
    start = int(len(text) * (1 - float(flags.get("val_frac", 0.1))))
    para = text.find("\n\n", start)
    start = para + 2 if 0 <= para < start + 5000 else start
    return text[start:start + n_chars], f"{path}, characters {start:,} to {start + n_chars:,} (held out)"


def read_head(path, n_chars):
    """The first n_chars characters of a UTF-8 text file (BOM stripped, universal newlines), without
    reading the rest: a chunk at a time (``TextIOWrapper.read(n)`` allocates for n characters first, so
    a huge --chars was an out-of-memory error on a small file)."""
    from minirnn.chardata import read_chunks
    from minirnn.textio import check_text_file
    path = check_text_file(path)
    parts, got = [], 0
    for s in read_chunks(path, min(n_chars, 1 << 22)):
        parts.append(s[:n_chars - got])
        got += len(parts[-1])
        if got >= n_chars:
            break
    return "".join(parts)


def main(argv=None):
    args = build_parser().parse_args(argv)
    from minirnn.plots import require_matplotlib
    require_matplotlib()                                       # before any work: one line and exit 2
    from minirnn import report
    if args.backend:
        backend.set_backend(args.backend)
    for flag, value, least in (("--chars", args.chars, 2), ("--show", args.show, 1), ("--max-k", args.max_k, 1),
                               ("--positions", args.positions, 1), ("--sample-length", args.sample_length, 0)):
        require(value >= least, f"{flag} must be >= {least}, got {value}")
    check_limits(args, "--sample-length")
    require(args.temperature > 0, f"--temperature must be > 0, got {args.temperature}")

    model, vocab, meta = load(args.checkpoint)
    other = (args.compare, *load(args.compare)[:2]) if args.compare else None
    # every path written is checked before the work: none of them is an input (the checkpoints, the
    # metrics.jsonl beside them, the text), a FIFO, a device or a directory, nor an earlier page or
    # picture unless --overwrite
    inputs = [("--checkpoint", args.checkpoint), ("--compare", args.compare),
              ("--text", args.text if args.text else meta.get("text") if isinstance(meta.get("text"), str) else None)]
    inputs += [("metrics file", os.path.join(os.path.dirname(os.path.abspath(ck)), "metrics.jsonl"))
               for ck in (args.checkpoint, args.compare) if ck]
    check_output_file(args.out, "--out", inputs, kind="html")
    refuse_existing([args.out], "--out", args.overwrite)
    if args.png_dir is not None:
        check_output_dir(args.png_dir, "--png-dir", names=PNG_NAMES, inputs=inputs, kind="png")
        refuse_existing([os.path.join(args.png_dir, n) for n in PNG_NAMES], "--png-dir", args.overwrite)
    if args.text:
        raw = read_head(args.text, args.chars)
        source = f"{args.text}, first {len(raw):,} characters"
    else:
        raw, source = default_text(meta, args.chars)
    page, pictures = report.build(model, vocab, meta, raw, source, args.checkpoint, other, show=args.show,
                                  max_k=args.max_k, positions=args.positions, sample_length=args.sample_length,
                                  temperature=args.temperature, seed=args.seed)
    for name, png in pictures.items() if args.png_dir is not None else ():
        atomic_write(os.path.join(args.png_dir, name), lambda f: f.write(png))
    atomic_write(args.out, lambda f: f.write(page.encode("utf-8")))
    print(f"wrote {args.out} ({len(page.encode()) / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
