"""A dump to a corpus: the articles' prose, cleaned by worker processes, written in dump order.

    from minirnn.wiki import open_dump, extract
    with open("eswiki.txt", "wb") as f:
        stats = extract(open_dump("eswiki-latest-pages-articles-multistream.xml.bz2"), f, workers=8)

The corpus is UTF-8 text: for each article its title on a line, then one paragraph a line (a heading
that has prose under it is a line too), then a blank line. ``minirnn.tokenize.iter_sentences`` reads a
run of lines up to a blank line as one sentence, so each article is one sentence for word2vec's windows
(cut every 10,000 words), as gensim's WikiCorpus makes it, while a reader still sees paragraphs.

An article is a page of namespace 0 that is not a redirect and has prose left after the passes of
``minirnn.wiki.markup``. Each worker takes a job (``minirnn.wiki.dump.Job``), reads and decompresses
it, parses its whole pages and cleans them (``work``); this process hands out the jobs, at most two per
worker ahead (so memory stays bounded however large the dump), joins the page that straddles two jobs
and cleans it itself, and writes the pieces in order: the corpus is the same for any number of workers.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections import deque
from dataclasses import dataclass, fields

from ..errors import UsageError
from .bz2blocks import SplitError
from .dump import PAGE_OPEN, Dump, Job, iter_pages, read_job, split_pages, to_utf8
from .markup import Site, is_redirect, to_prose

JOB_BYTES = {"multistream": 1 << 19, "blocks": 1 << 19, "xml": 2 << 20, "stream": 2 << 20}   # of bz2 for bz2


@dataclass
class Stats:
    """Counts of one piece of the dump, or of all of it (``add``)."""
    pages: int = 0          # <page> elements read
    articles: int = 0       # written
    redirects: int = 0
    other_ns: int = 0       # pages outside namespace 0 (talk, templates, categories, ...)
    empty: int = 0          # articles without prose once cleaned
    words: int = 0          # whitespace-separated words written
    xml_bytes: int = 0      # decompressed XML read

    def add(self, other: "Stats") -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


def namespace_of(title: str, site_names: dict) -> int:
    """A page's namespace from its title's prefix, for dumps without <ns> ('Talk:X' -> 1)."""
    prefix, colon, _ = title.partition(":")
    if colon:
        for key, name in site_names.items():
            if key != 0 and name and name.casefold() == prefix.casefold():
                return key
    return 0


def clean_region(region: bytes, encoding: str, site: Site, namespaces: dict, stats: Stats) -> bytes:
    """The corpus text (UTF-8) of a region of whole pages; counts go to `stats`."""
    out = []
    for page in iter_pages(to_utf8(region, encoding)):
        stats.pages += 1
        ns = page.ns if page.ns is not None else namespace_of(page.title, namespaces)
        if ns != 0:
            stats.other_ns += 1
        elif page.redirect or is_redirect(page.text):
            stats.redirects += 1
        else:
            paragraphs = to_prose(page.text, site)
            if not paragraphs:
                stats.empty += 1
                continue
            article = " ".join(page.title.split()) + "\n" + "\n".join(paragraphs) + "\n\n"
            stats.articles += 1
            # its words: every line holds words separated by single spaces (markup.tidy), so one more
            # than its spaces a line (the same as len(article.split()), without making the words)
            stats.words += article.count(" ") + article.count("\n") - 1
            out.append(article)
    return "".join(out).encode("utf-8")


@dataclass
class Piece:
    """A worker's answer: the raw bytes before and after the job's whole pages, their corpus text."""
    head: bytes
    out: bytes
    tail: bytes
    whole: bool             # the job held at least one whole page (else head is all of it)
    stats: Stats


def work(job: Job, site: Site, namespaces: dict) -> Piece:
    """Read one job and clean its whole pages (runs in a worker process)."""
    data = read_job(job)
    head, region, tail = split_pages(data)
    stats = Stats(xml_bytes=len(data))
    out = clean_region(region, job.encoding, site, namespaces, stats) if region else b""
    return Piece(head, out, tail, bool(region), stats)


STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def _worker_signals(mask) -> None:
    """Ctrl-C reaches the whole process group: the parent handles it and stops the workers, which
    ignore it; SIGTERM (the parent's pool.terminate) ends a worker at once. The workers are forked
    with both signals blocked (``_start_pool``) and unblock them (`mask`: the parent's own) only here:
    a SIGTERM that arrived before would otherwise meet the parent's Python handler, inherited, and be
    lost once the handler is reset, leaving a worker that pool.terminate waits for forever."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _start_pool(workers: int):
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else None)
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        return ctx.Pool(workers, initializer=_worker_signals, initargs=(mask,))
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)             # a signal meanwhile arrives now


def run_jobs(jobs, workers: int, site: Site, namespaces: dict):
    """The Pieces of `jobs`, in order; at most 2 x workers jobs in flight."""
    if workers <= 1:
        for job in jobs:
            yield work(job, site, namespaces)
        return
    with _start_pool(workers) as pool:                                 # leaving it terminates the workers
        pending = deque()
        for job in jobs:
            pending.append(pool.apply_async(work, (job, site, namespaces)))
            if len(pending) >= 2 * workers:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()


def _cut_articles(out: bytes, k: int) -> bytes:
    """The first k articles of a piece of corpus (each ends with the only blank line it holds)."""
    end = 0
    for _ in range(k):
        end = out.index(b"\n\n", end) + 2
    return out[:end]


def extract(dump: Dump, out, workers: int | None = None, max_articles: int | None = None,
            job_bytes: int | None = None, progress=None) -> Stats:
    """Write the corpus of `dump` to the binary file `out`; returns the Stats. `progress(stats,
    seconds)` is called after each job. UsageError when no article has prose (nothing to train on).

    A single bz2 stream is split into its blocks; in the rare case that a block does not decode alone
    (bz2blocks.SplitError), `out` is emptied and the stream is read again in one piece by this process."""
    try:
        return _extract(dump, out, workers, max_articles, job_bytes, progress)
    except SplitError:
        if dump.kind != "blocks":
            raise
        out.seek(0)
        out.truncate()
        dump.kind = "stream"
        return _extract(dump, out, workers, max_articles, job_bytes, progress)


def _extract(dump: Dump, out, workers, max_articles, job_bytes, progress) -> Stats:
    workers = workers or os.cpu_count() or 1
    job_bytes = job_bytes or JOB_BYTES[dump.kind]
    if dump.kind != "stream":                    # enough jobs to keep every worker busy on a small dump
        job_bytes = max(1 << 11, min(job_bytes, dump.size // (4 * workers) + 1))
    carry_encoding = "utf-8" if dump.kind == "stream" else dump.encoding
    namespaces = dump.info["namespaces"]
    total, carry, t0 = Stats(), b"", time.perf_counter()

    def emit(text: bytes, stats: Stats) -> bool:
        """Write a piece of corpus; True once max_articles are written."""
        if max_articles is not None and total.articles + stats.articles >= max_articles:
            text = _cut_articles(text, max_articles - total.articles)
            stats = Stats(articles=max_articles - total.articles, words=len(text.split()))
        out.write(text)
        total.articles += stats.articles
        total.words += stats.words
        return max_articles is not None and total.articles >= max_articles

    done = False
    pieces = run_jobs(dump.jobs(job_bytes), workers, dump.site, namespaces)
    try:
        for piece in pieces:
            carry += piece.head
            total.xml_bytes += piece.stats.xml_bytes
            if piece.whole:
                # the previous tail and this head make whole pages (the dump's header, before the
                # first page, and its footer after the last are left out)
                _, region, _ = split_pages(carry)
                if region:
                    stats = Stats()
                    done = emit(clean_region(region, carry_encoding, dump.site, namespaces, stats), stats)
                    _add_counts(total, stats)
                if not done:
                    done = emit(piece.out, piece.stats)
                    _add_counts(total, piece.stats)
                carry = piece.tail
            if progress is not None:
                progress(total, time.perf_counter() - t0)
            if done:
                break
    finally:
        pieces.close()                  # stops the workers at once: an error, Ctrl-C, --max-articles
    if not done:                        # the last jobs may have held no whole page of their own
        head, region, tail = split_pages(carry)
        if region:
            stats = Stats()
            emit(clean_region(region, carry_encoding, dump.site, namespaces, stats), stats)
            _add_counts(total, stats)
        if PAGE_OPEN in (tail if region else head):
            raise UsageError(f"{dump.path}: the dump ends inside a page (a truncated file?)")
    if total.articles == 0:
        raise UsageError(f"{dump.path}: no article with prose in this dump ({total.pages} pages read, "
                         f"{total.redirects} redirects, {total.other_ns} outside the article namespace)")
    return total


def _add_counts(total: Stats, stats: Stats) -> None:
    """The page counts of `stats` (articles and words are counted by emit)."""
    for name in ("pages", "redirects", "other_ns", "empty"):
        setattr(total, name, getattr(total, name) + getattr(stats, name))
