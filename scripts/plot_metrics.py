#!/usr/bin/env python
"""Training and validation curves of one or more runs, side by side, from their metrics.jsonl.

    python scripts/plot_metrics.py checkpoints/char --out curves.png
    python scripts/plot_metrics.py runs/lstm runs/rnn runs/lstm_512 --out curves.png

Each RUN_DIR is a --checkpoint-dir of train_char.py or train_word.py (or a metrics.jsonl file
itself). One panel per run, on a shared loss axis: the smoothed training loss (dashed) and the
validation loss (solid, its last value written beside it), in nats per token, against the iteration.
An earlier picture under --out is replaced only with --overwrite. Needs matplotlib
(pip install -e ".[plot]").
"""
from minirnn.errors import startup

startup(__name__)   # first: Ctrl-C during the imports below is one line, not a traceback

import argparse
import os
import sys

from minirnn.checkpoint import atomic_write
from minirnn.cli import HelpFormatter
from minirnn.errors import UsageError, run_cli
from minirnn.textio import check_output_file, refuse_existing


def build_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="directories holding metrics.jsonl")
    p.add_argument("--out", default="curves.png", help="the PNG to write")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an earlier picture at --out (without it an existing --out is refused before any work)")
    p.add_argument("--labels", default=None, help="comma-separated panel titles (default: the directory names)")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    from minirnn.plots import require_matplotlib
    require_matplotlib()                                       # before any work: one line and exit 2
    from minirnn.introspect import check_run_metrics, read_metrics
    from minirnn.plots import runs_side_by_side
    labels = args.labels.split(",") if args.labels else None
    if labels is not None and len(labels) != len(args.runs):
        raise UsageError(f"--labels has {len(labels)} names for {len(args.runs)} runs")
    paths = []
    for d in args.runs:
        path = d if os.path.isfile(d) or not os.path.isdir(d) and os.path.lexists(d) else \
            os.path.join(d, "metrics.jsonl")
        if not os.path.lexists(path):
            raise UsageError(f"{path}: no such file (is {d} a --checkpoint-dir?)")
        paths.append(path)
    # the output is checked before the work: not one of the metrics files, nor a FIFO, device, directory
    check_output_file(args.out, "--out", [("metrics file", p) for p in paths], kind="png")
    refuse_existing([args.out], "--out", args.overwrite)     # nothing is overwritten unasked
    runs = []
    for j, (d, path) in enumerate(zip(args.runs, paths)):
        recs, bad = read_metrics(path)
        if bad:
            print(f"{path}: {bad} line(s) that are not JSON were skipped", file=sys.stderr)
        recs = check_run_metrics(path, recs)
        if not recs:
            raise UsageError(f"{path}: no metrics records")
        name = labels[j] if labels else os.path.basename(os.path.normpath(os.path.dirname(os.path.abspath(path))))
        runs.append((name, recs))
    png = runs_side_by_side(runs)
    atomic_write(args.out, lambda f: f.write(png))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
