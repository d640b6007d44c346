#!/usr/bin/env python
"""Turn a Wikipedia dump into a plain-text corpus for the word pipeline (downloading it first if asked).

    python scripts/get_corpus.py --lang es --out runs/eswiki.txt                 # download, check, clean
    python scripts/get_corpus.py --dump eswiki-20250101-pages-articles-multistream.xml.bz2 --out eswiki.txt
    python scripts/get_corpus.py --dump dump.xml.bz2 --max-articles 2000 --out trial.txt    # a quick trial

Without --dump, the dated dump of --lang is downloaded from --mirror into --download-dir (``latest``
resolved to a date first; resumable; checked against the published sha1), with its index; with
--max-articles only the dump's first megabytes are fetched (a trial in minutes, not hours). The corpus
(--out) is UTF-8: each article's title on a line, then one paragraph a line, then a blank line, which
`train_word2vec.py --corpus` and `train_word.py --corpus` read as one sentence per article. Only
articles (namespace 0, no redirects) are kept; templates, tables, refs, files, categories and
reference sections go (docs/wikipedia.md gives every rule). Progress lines (bytes, speed and ETA while
downloading; articles, words and MB/s while cleaning) go to stderr. Bad input is one line on stderr and
exit status 2; Ctrl-C or SIGTERM stops with no corpus written (a partial download is kept to resume).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

from minirnn.checkpoint import atomic_write
from minirnn.errors import fmt_bytes, require, run_cli
from minirnn.textio import check_output_dir, check_output_file, refuse_existing
from minirnn.wiki import download as dl
from minirnn.wiki import extract, open_dump

PROGRESS_EVERY = 5.0     # seconds between progress lines on stderr (when it is not a terminal)
TRIAL_BYTES = (4 << 20, 16 << 10)   # a --max-articles trial downloads max(4 MB, 16 kB an article) of the dump


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """The docstring as written, and each flag's default (minirnn.cli's formatter, without importing the
    training code: this script starts in a tenth of a second)."""


class StatusLine:
    """A progress line on stderr: redrawn in place on a terminal, else printed every PROGRESS_EVERY seconds."""

    def __init__(self):
        self.tty, self.last = sys.stderr.isatty(), -float("inf")

    def __call__(self, text: str) -> None:
        now = time.monotonic()
        if self.tty:
            sys.stderr.write("\r" + text + "\033[K")
        elif now - self.last >= PROGRESS_EVERY:
            sys.stderr.write(text + "\n")
            self.last = now
        sys.stderr.flush()

    def done(self) -> None:
        if self.tty:
            sys.stderr.write("\n")


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    src = p.add_argument_group("the dump: one on disk, or one to download")
    src.add_argument("--dump", default=None,
                     help="a dump on disk: .xml or .xml.bz2, one bz2 stream or many (multistream), in the "
                          "encoding its BOM or XML declaration names; no download")
    src.add_argument("--index", default=None,
                     help="the multistream index (offset:page_id:title lines, .bz2 or plain; default: the "
                          "official one beside --dump when it is there, else the streams are found by a scan)")
    src.add_argument("--lang", default="es", help="language code of the Wikipedia to download (es, en, fr, ...)")
    src.add_argument("--date", default="latest", help="dump date YYYYMMDD, or latest (resolved to a date first)")
    src.add_argument("--mirror", default=os.environ.get("MINIRNN_WIKI_MIRROR") or dl.DEFAULT_MIRROR,
                     help="dump site with the official layout {mirror}/{lang}wiki/{date}/ "
                          "(default: $MINIRNN_WIKI_MIRROR if set, else the official site)")
    src.add_argument("--download-dir", default="dumps", help="where the downloaded dump and index are kept")
    p.add_argument("--out", required=True, help="the corpus to write (UTF-8 text)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out; without it, it is refused")
    p.add_argument("--max-articles", type=int, default=None,
                   help="stop after this many articles (a quick trial; without --dump, only the dump's first "
                        "megabytes are downloaded)")
    p.add_argument("--workers", type=int, default=default_workers(), help="worker processes that clean pages")
    return p.parse_args(argv)


def download_progress(status: StatusLine):
    def show(name, done, total, speed):
        if total:
            eta = (total - done) / speed if speed > 0 else float("inf")
            eta_text = time.strftime("%H:%M:%S", time.gmtime(eta)) if eta < 360000 else "?"
            status(f"  {name}: {fmt_bytes(done)} of {fmt_bytes(total)} ({100 * done / total:.1f}%), "
                   f"{fmt_bytes(speed)}/s, ETA {eta_text}")
        else:
            status(f"  {name}: {fmt_bytes(done)}, {fmt_bytes(speed)}/s")
    return show


def extract_progress(status: StatusLine):
    def show(stats, seconds):
        status(f"  {stats.articles:,} articles, {stats.words / 1e6:.2f}M words, {stats.xml_bytes / 1e6:,.0f} MB "
               f"of XML, {stats.xml_bytes / 1e6 / max(seconds, 1e-9):.1f} MB/s, {seconds:.0f} s")
    return show


def main(argv=None):
    args = parse_args(argv)
    require(args.workers >= 1, f"--workers must be at least 1, got {args.workers}")
    require(args.max_articles is None or args.max_articles >= 1,
            f"--max-articles must be at least 1, got {args.max_articles}")
    require(args.dump is not None or args.index is None, "--index goes with --dump (a download gets its own index)")
    inputs = {"--dump": args.dump, "--index": args.index}
    # every check before the work: the output, then the dump (or the download folder)
    check_output_file(args.out, "--out", inputs)
    refuse_existing([args.out], "--out", args.overwrite)
    status = StatusLine()
    trial = args.dump is None and args.max_articles is not None
    if args.dump is None:
        check_output_dir(args.download_dir, "--download-dir")
        args.mirror = dl.check_mirror(args.mirror)
        date = dl.resolve_date(args.mirror, dl.check_lang(args.lang), args.date)
        names = dl.file_names(args.lang, date)
        local = {k: os.path.join(args.download_dir, names[k]) for k in ("dump", "index")}
        check_output_file(args.out, "--out", {"the dump": local["dump"], "its index": local["index"]})
        first = max(TRIAL_BYTES[0], TRIAL_BYTES[1] * args.max_articles) if trial else None
        print(f"downloading {'the first {:.0f} MB of '.format(first / 2**20) if trial else ''}the {args.lang}wiki "
              f"{date} dump from {args.mirror} into {args.download_dir}/", flush=True)
        os.makedirs(args.download_dir, exist_ok=True)   # made only now: a refused run leaves no empty folder
        files = dl.download_dump(args.mirror, args.lang, date, args.download_dir, download_progress(status),
                                 first_bytes=first)
        status.done()
        print(f"a trial: each bz2 stream is checked by its CRC (without --max-articles the whole dump is "
              f"downloaded and checked against the published sha1)" if trial else
              f"checked {files.dump} and {files.index} against the published sha1", flush=True)
        args.dump, args.index = files.dump, files.index
    dump = open_dump(args.dump, args.index, first_bytes=trial)
    how = {"multistream": f"bz2 streams found {'by the index ' + dump.index if dump.index else 'by a scan'}",
           "xml": "uncompressed XML", "blocks": "one bz2 stream, its blocks decompressed by the workers",
           "stream": "decompressed and transcoded by one reader"}[dump.kind]
    print(f"dump {dump.path}: {how}; {dump.encoding}; language {dump.info['lang'] or '?'}, "
          f"{len(dump.info['namespaces'])} namespaces; {args.workers} worker{'s' * (args.workers > 1)}", flush=True)
    box = {}
    t0 = time.perf_counter()

    def write(f):
        box["stats"] = extract(dump, f, workers=args.workers, max_articles=args.max_articles,
                               progress=extract_progress(status))
    atomic_write(args.out, write)
    status.done()
    s, seconds = box["stats"], time.perf_counter() - t0
    if args.max_articles is not None and s.articles < args.max_articles:
        print(f"note: the {'downloaded part of the ' if trial else ''}dump holds {s.articles:,} articles, fewer than "
              f"--max-articles {args.max_articles:,}", file=sys.stderr)
    print(f"wrote {args.out}: {s.articles:,} articles, {s.words:,} words; read {s.pages:,} pages "
          f"({s.redirects:,} redirects, {s.other_ns:,} outside the articles, {s.empty:,} without prose), "
          f"{s.xml_bytes / 1e6:,.1f} MB of XML in {seconds:.1f} s ({s.xml_bytes / 1e6 / max(seconds, 1e-9):.1f} MB/s, "
          f"{s.words / max(seconds, 1e-9) / 1e3:,.0f}k words/s)")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
