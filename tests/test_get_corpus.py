"""scripts/get_corpus.py and minirnn.wiki: every form of a dump gives the same corpus, with any number of
workers; the corpus feeds the word pipeline; damaged dumps and bad outputs are one-line errors found
before the work; Ctrl-C and SIGTERM leave no corpus; the download (against a local HTTP server on
127.0.0.1 that the test starts) resolves `latest`, resumes with Range, restarts when the server ignores
Range, survives a dropped transfer and refuses a corrupt file; and gensim's real dumps (when gensim is
installed) give clean English and Bulgarian text."""
import bz2
import codecs
import hashlib
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from minirnn.errors import run_cli
from minirnn.tokenize import iter_sentences
from minirnn.wiki import bz2blocks
from minirnn.wiki import download as dl
from minirnn.wiki import extract, open_dump
from minirnn.wiki.dump import sniff_encoding
from minirnn.wiki.markup import residue

from wikidump import (ES_PAGES, DumpServer, corpus_sentences, cut_streams, dump_text, many_pages, publish,
                      write_multistream)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import get_corpus  # noqa: E402

ENV = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
PAGES = many_pages(250)                    # 250 pages: 3 streams of 100 in the multistream form
ARTICLES = [p for p in PAGES if p[2]]


def corpus_of(path, index=None, workers=1, job_bytes=None, max_articles=None) -> bytes:
    out = io.BytesIO()
    extract(open_dump(str(path), index), out, workers=workers, job_bytes=job_bytes, max_articles=max_articles)
    return out.getvalue()


@pytest.fixture(scope="module")
def forms(tmp_path_factory):
    """The same pages as every kind of dump: {name: (path, index)}."""
    d = tmp_path_factory.mktemp("forms")
    xml = dump_text(PAGES)
    raw = xml.encode()
    f = {}
    (d / "plain.xml").write_bytes(raw)
    f["xml"] = (d / "plain.xml", None)
    (d / "bom.xml").write_bytes(codecs.BOM_UTF8 + raw)
    f["xml, UTF-8 BOM"] = (d / "bom.xml", None)
    (d / "latin1.xml").write_bytes(('<?xml version="1.0" encoding="ISO-8859-1"?>\n' + xml).encode("latin-1"))
    f["xml, ISO-8859-1 declared"] = (d / "latin1.xml", None)
    (d / "utf16.xml").write_bytes(codecs.BOM_UTF16_LE + xml.encode("utf-16-le"))
    f["xml, UTF-16 BOM"] = (d / "utf16.xml", None)
    (d / "utf16be.xml").write_bytes(('<?xml version="1.0" encoding="UTF-16"?>\n' + xml).encode("utf-16-be"))
    f["xml, UTF-16BE without BOM"] = (d / "utf16be.xml", None)
    (d / "one.xml.bz2").write_bytes(bz2.compress(raw))
    f["one bz2 stream"] = (d / "one.xml.bz2", None)
    (d / "utf16.xml.bz2").write_bytes(bz2.compress(codecs.BOM_UTF16_LE + xml.encode("utf-16-le")))
    f["one bz2 stream, UTF-16"] = (d / "utf16.xml.bz2", None)
    index = write_multistream(d / "eswiki-x-pages-articles-multistream.xml.bz2", PAGES)
    f["multistream, index beside"] = (d / "eswiki-x-pages-articles-multistream.xml.bz2", None)
    shutil.copy(d / "eswiki-x-pages-articles-multistream.xml.bz2", d / "noindex.xml.bz2")
    f["multistream, scanned"] = (d / "noindex.xml.bz2", None)
    f["multistream, --index"] = (d / "noindex.xml.bz2", str(index))
    (d / "pbzip2.xml.bz2").write_bytes(cut_streams(raw, 5000))
    f["streams cut anywhere (pbzip2)"] = (d / "pbzip2.xml.bz2", None)
    return f


def test_the_corpus_holds_each_article_title_then_paragraphs(forms):
    out = io.BytesIO()
    stats = extract(open_dump(str(forms["xml"][0])), out, workers=1)
    assert (stats.articles, stats.words) == (len(ARTICLES), len(out.getvalue().split()))   # words counted right
    got = corpus_sentences(corpus_of(forms["xml"][0]).decode())
    assert got == [[t, *s] for t, _, s in ARTICLES]
    assert len(got) == len(ARTICLES) < len(PAGES)               # redirects, templates, talk pages left out


KINDS = {"xml": "xml", "xml, UTF-8 BOM": "xml", "xml, ISO-8859-1 declared": "xml", "xml, UTF-16 BOM": "stream",
         "xml, UTF-16BE without BOM": "stream", "one bz2 stream": "blocks", "one bz2 stream, UTF-16": "stream",
         "multistream, index beside": "multistream", "multistream, scanned": "multistream",
         "multistream, --index": "multistream", "streams cut anywhere (pbzip2)": "multistream"}


@pytest.mark.parametrize("form", list(KINDS))
def test_every_form_of_a_dump_gives_the_same_corpus_with_any_workers(forms, form):
    reference = corpus_of(forms["xml"][0])
    path, index = forms[form]
    dump = open_dump(str(path), index)
    assert dump.kind == KINDS[form]
    assert (dump.index is not None) == (form in ("multistream, index beside", "multistream, --index"))
    assert dump.info["lang"] == "es" and dump.info["namespaces"][6] == "Archivo"
    assert corpus_of(path, index) == reference
    # two workers, and jobs so small that pages straddle them: the same bytes, in the same order
    assert corpus_of(path, index, workers=2, job_bytes=3000) == reference


def test_bz2_blocks_decode_alone_and_a_chance_magic_is_passed_over(tmp_path, monkeypatch):
    text = dump_text(many_pages(3000)).encode()
    path = tmp_path / "one.bz2"
    path.write_bytes(bz2.compress(text, 1))                      # blocks of 100 kB of input
    monkeypatch.setattr(bz2blocks, "SCAN_BYTES", 4097)          # many reads: magics cut between two
    with open(path, "rb") as f:
        marks = list(bz2blocks.marks(f))
    raw = path.read_bytes()
    assert [k for _, k in marks] == [bz2blocks.BLOCK] * (len(text) // 100_000 + 1) + [bz2blocks.END]
    assert marks[0][0] == 32                                    # right after "BZh1"
    assert bz2blocks.decompress_run(raw, 0, marks, b"1") == text
    # a run from the middle; and a magic that is not one, inside a block: skipped
    mid = marks[2:5]
    first = mid[0][0] // 8
    assert bz2blocks.decompress_run(raw[first:], 8 * first, mid, b"1") == bz2.decompress(
        bz2blocks.one_block_stream(raw, 0, mid[0][0], mid[1][0], b"1")) + bz2.decompress(
        bz2blocks.one_block_stream(raw, 0, mid[1][0], mid[2][0], b"1"))
    fake = [marks[0], (marks[0][0] + 12345, bz2blocks.BLOCK), *marks[1:]]
    assert bz2blocks.decompress_run(raw, 0, fake, b"1") == text
    broken = bytearray(raw)
    broken[(marks[1][0] + marks[2][0]) // 16] ^= 0x55            # a byte inside block 1
    with pytest.raises(bz2blocks.SplitError):
        bz2blocks.decompress_run(bytes(broken), 0, marks, b"1")


def test_a_stream_whose_blocks_do_not_split_is_read_in_one_piece(forms, monkeypatch):
    def fail(*a):
        raise bz2blocks.SplitError("as if a magic had been found by chance at a run's edge")
    monkeypatch.setattr(bz2blocks, "decompress_run", fail)
    dump = open_dump(str(forms["one bz2 stream"][0]))
    out = io.BytesIO(b"whatever was written before")
    extract(dump, out, workers=1, job_bytes=3000)
    assert dump.kind == "stream" and out.getvalue() == corpus_of(forms["xml"][0])


def test_encodings_are_read_from_the_bom_or_the_declaration():
    assert sniff_encoding(codecs.BOM_UTF16_LE + b"<\x00") == ("utf-16-le", 2)
    assert sniff_encoding(codecs.BOM_UTF32_LE + b"<\x00\x00\x00") == ("utf-32-le", 4)
    assert sniff_encoding(b"\x00<\x00?") == ("utf-16-be", 0)
    assert sniff_encoding(codecs.BOM_UTF8 + b"<mediawiki>") == ("utf-8", 3)
    assert sniff_encoding(b"<?xml version='1.0' encoding='latin1'?>") == ("iso8859-1", 0)
    assert sniff_encoding(b"<mediawiki>") == ("utf-8", 0)


def test_the_corpus_feeds_the_word_pipeline_one_sentence_per_article(forms, tmp_path):
    p = tmp_path / "c.txt"
    p.write_bytes(corpus_of(forms["one bz2 stream"][0], workers=2))
    sentences = list(iter_sentences(str(p)))
    assert len(sentences) == len(ARTICLES)
    assert sentences[0][:6] == ["madrid", "madrid", "es", "la", "capital", "de"]


def test_memory_is_bounded_by_a_job_not_the_dump(tmp_path):
    """The peak of Python's allocations while a dump is cleaned (in this process: one worker) is about
    the same for a dump 4 times larger: it holds a job and a page, never the dump or the corpus."""
    import tracemalloc
    peaks = {}
    for n in (300, 1200):
        xml = dump_text(many_pages(n)).encode()
        forms = {"xml": tmp_path / f"{n}.xml", "blocks": tmp_path / f"{n}.xml.bz2",
                 "multistream": tmp_path / f"{n}-multistream.xml.bz2", "stream": tmp_path / f"{n}.utf16.xml"}
        forms["xml"].write_bytes(xml)
        forms["blocks"].write_bytes(bz2.compress(xml, 1))
        forms["stream"].write_bytes(codecs.BOM_UTF16_LE + xml.decode().encode("utf-16-le"))
        write_multistream(forms["multistream"], many_pages(n), per_stream=50)
        for kind, path in forms.items():
            dump = open_dump(str(path))
            assert dump.kind == kind
            with open(os.devnull, "wb") as sink:
                tracemalloc.start()                     # jobs of 2 KB (of bz2 or XML), in both sizes
                extract(dump, sink, workers=1, job_bytes=1 << 11)
                peaks[kind, n] = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
        assert len(xml) > (500_000 if n > 300 else 120_000)           # 0.13 and 0.5 MB of XML
    for kind in forms:
        assert peaks[kind, 1200] < 1.3 * peaks[kind, 300] + (32 << 10), peaks


def test_max_articles_writes_the_first_articles(forms):
    full = corpus_sentences(corpus_of(forms["xml"][0]).decode())
    for form in ("multistream, index beside", "one bz2 stream", "xml"):
        got = corpus_of(forms[form][0], workers=2, job_bytes=3000, max_articles=7)
        assert corpus_sentences(got.decode()) == full[:7]


# ---- the script: outputs, damaged dumps, signals, progress ------------------------------------------------
def one_line(capsys) -> str:
    """The one error line on stderr (a download's progress lines may come before it)."""
    err = capsys.readouterr().err.strip().splitlines()
    errors = [l for l in err if l.startswith("error: ")]
    assert len(errors) == 1 and err[-1] == errors[0] and "Traceback" not in "".join(err), err
    return errors[0]


def test_outputs_and_flags_are_checked_before_the_work(forms, tmp_path, capsys):
    dump = str(forms["one bz2 stream"][0])
    out = tmp_path / "c.txt"
    for argv, says in ([["--dump", dump, "--out", dump], "is the input --dump"],
                       [["--dump", dump, "--out", str(tmp_path / "no" / "c.txt")], "does not exist"],
                       [["--dump", dump, "--out", str(tmp_path)], "is a directory"],
                       [["--dump", dump, "--out", str(out), "--workers", "0"], "--workers"],
                       [["--dump", dump, "--out", str(out), "--max-articles", "0"], "--max-articles"],
                       [["--index", dump, "--out", str(out)], "--index goes with --dump"],
                       [["--dump", str(tmp_path / "missing.xml"), "--out", str(out)], "no such file"],
                       [["--dump", dump, "--index", str(forms["xml"][0]), "--out", str(out)], "index"]):
        assert run_cli(get_corpus.main, argv) == 2, argv
        assert says in one_line(capsys), argv
    assert not out.exists()
    out.write_text("an earlier corpus\n")
    assert run_cli(get_corpus.main, ["--dump", dump, "--out", str(out)]) == 2
    assert "--overwrite" in one_line(capsys) and out.read_text() == "an earlier corpus\n"
    assert run_cli(get_corpus.main, ["--dump", dump, "--out", str(out), "--overwrite"]) == 0
    assert out.read_bytes() == corpus_of(dump)


def test_damaged_dumps_are_one_line_errors_and_write_nothing(forms, tmp_path, capsys):
    good = forms["multistream, index beside"][0].read_bytes()
    one = forms["one bz2 stream"][0].read_bytes()
    bad = {"truncated.xml.bz2": one[:len(one) // 2],
           "flipped.xml.bz2": good[:len(good) // 2] + bytes([good[len(good) // 2] ^ 0xFF]) + good[len(good) // 2 + 1:],
           "flipped-one.xml.bz2": one[:len(one) // 2] + bytes([one[len(one) // 2] ^ 0xFF]) + one[len(one) // 2 + 1:],
           "cut.xml": dump_text(PAGES).encode()[:-3000],
           "notxml.xml": b"hello, this is not a dump\n" * 10,
           "empty.xml": b"",
           "broken.xml": dump_text(PAGES).encode().replace(b"<title>Toledo</title>", b"<title>Toledo</titl>"),
           "unknown.xml": b'<?xml version="1.0" encoding="klingon"?>\n<mediawiki/>',
           "dump.xml.gz": __import__("gzip").compress(dump_text(PAGES[:5]).encode())}
    says = {"truncated.xml.bz2": "bz2", "flipped.xml.bz2": "bz2", "flipped-one.xml.bz2": "bz2", "cut.xml": "ends inside a page",
            "notxml.xml": "no article", "empty.xml": "empty", "broken.xml": "not well-formed",
            "unknown.xml": "klingon", "dump.xml.gz": "a gzip file"}
    for name, data in bad.items():
        (tmp_path / name).write_bytes(data)
        out = tmp_path / f"{name}.txt"
        assert run_cli(get_corpus.main, ["--dump", str(tmp_path / name), "--out", str(out), "--workers", "2"]) == 2, name
        assert says[name] in one_line(capsys), name
        assert not out.exists() and not list(tmp_path.glob(f"{name}.txt.*")), name
    # an index that belongs to another dump
    other = write_multistream(tmp_path / "other-multistream.xml.bz2", many_pages(40), per_stream=7)
    assert run_cli(get_corpus.main, ["--dump", str(forms["multistream, scanned"][0]), "--index", str(other),
                                     "--out", str(tmp_path / "o.txt")]) == 2
    assert "another dump" in one_line(capsys)


def test_an_error_as_the_workers_start_never_hangs(forms, tmp_path):
    """A dump found truncated at once stops a pool whose workers are still starting. A worker is forked
    with SIGTERM blocked until its handler is reset, so pool.terminate's SIGTERM cannot be lost: once,
    before, it arrived between the fork and the reset, the worker slept forever and the run with it.
    That window is too narrow to hit on purpose; this runs 30 such starts and stops, each in time."""
    one = forms["one bz2 stream"][0].read_bytes()
    (tmp_path / "t.xml.bz2").write_bytes(one[:len(one) // 2])
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {os.path.join(ROOT, 'scripts')!r})
        from minirnn.errors import run_cli
        import get_corpus
        codes = [run_cli(get_corpus.main, ["--dump", {str(tmp_path / "t.xml.bz2")!r}, "--out", {str(tmp_path / "o")!r},
                                           "--workers", "2"]) for _ in range(30)]
        sys.exit(0 if codes == [2] * 30 else 1)
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=ENV)
    assert r.returncode == 0, r.stderr[-2000:]


def test_progress_lines_and_summary(forms, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(get_corpus, "PROGRESS_EVERY", 0.0)
    out = tmp_path / "c.txt"
    path = forms["multistream, index beside"][0]
    assert run_cli(get_corpus.main, ["--dump", str(path), "--out", str(out), "--workers", "2"]) == 0
    cap = capsys.readouterr()
    lines = [l for l in cap.err.splitlines() if re.match(r"\s+[\d,]+ articles, [\d.]+M words, [\d,]+ MB of XML, "
                                                         r"[\d.]+ MB/s", l)]
    assert len(lines) >= 2, cap.err
    assert "bz2 streams found by the index" in cap.out
    assert f"wrote {out}: {len(ARTICLES)} articles" in cap.out


@pytest.mark.parametrize("signum, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_ctrl_c_and_sigterm_stop_the_workers_and_write_no_corpus(forms, tmp_path, signum, status):
    out = tmp_path / "c.txt"
    code = textwrap.dedent(f"""
        import os, signal, sys, time
        signal.signal(signal.SIGINT, signal.default_int_handler)
        sys.path.insert(0, {os.path.join(ROOT, 'scripts')!r})
        from minirnn.errors import run_cli
        import get_corpus as s
        def progress(status):
            def show(stats, seconds):
                print("PIDS", *[p.pid for p in __import__("multiprocessing").active_children()], flush=True)
                os.kill(os.getpid(), {int(signum)})
                time.sleep(5)
            return show
        s.extract_progress = progress
        sys.exit(run_cli(s.main, ["--dump", {str(forms["one bz2 stream"][0])!r}, "--out", {str(out)!r},
                                  "--workers", "2"]))
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=ENV)
    assert r.returncode == status, r.stderr
    assert "Traceback" not in r.stderr and r.stderr.strip().splitlines()[-1] in ("interrupted", "terminated (SIGTERM)")
    assert not out.exists() and os.listdir(tmp_path) == []             # no corpus, no temporary file
    pids = [int(p) for p in re.search(r"PIDS(.*)", r.stdout).group(1).split()]
    assert len(pids) == 2
    for pid in pids:                                                    # the workers are gone too
        assert not os.path.exists(f"/proc/{pid}") or "zombie" in open(f"/proc/{pid}/status").read().lower()


def test_help_describes_the_flags():
    r = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "get_corpus.py"), "--help"],
                       capture_output=True, text=True, env=ENV, timeout=60)
    assert r.returncode == 0
    for flag in ("--dump", "--index", "--lang", "--date", "--mirror", "--out", "--max-articles", "--workers"):
        assert flag in r.stdout


# ---- the download, against a local HTTP server ------------------------------------------------------------
DATE = "20250101"
NAME = f"eswiki-{DATE}-pages-articles-multistream.xml.bz2"
INDEX = f"eswiki-{DATE}-pages-articles-multistream-index.txt.bz2"


@pytest.fixture
def site(tmp_path):
    root = tmp_path / "site"
    files = publish(root, "es", DATE, PAGES[:40])
    return root, files


def test_latest_is_resolved_to_the_newest_complete_dump(site):
    root, _ = site
    newer = root / "eswiki" / "20250201"                     # a dump still being written: no files listed
    newer.mkdir()
    (newer / "eswiki-20250201-sha1sums.txt").write_text("")
    with DumpServer(root) as s:
        assert dl.resolve_date(s.url, "es", "latest") == DATE
        assert dl.resolve_date(s.url + "/", "es", "20240101") == "20240101"
    with DumpServer(root, listing=False) as s:               # no listing: the RSS of latest/ names the date
        assert dl.resolve_date(s.url, "es", "latest") == DATE
    (root / "eswiki" / "latest").rename(root / "eswiki" / "old")
    with DumpServer(root, listing=False) as s:
        with pytest.raises(dl.UsageError, match="no complete eswiki dump"):
            dl.resolve_date(s.url, "es", "latest")
    with pytest.raises(dl.UsageError, match="YYYYMMDD"):
        dl.resolve_date("http://127.0.0.1:9", "es", "2025-01-01")


def test_download_resumes_with_range_and_checks_the_sha1(site, tmp_path):
    root, files = site
    d = tmp_path / "dl"
    d.mkdir()
    (d / (NAME + ".part")).write_bytes(files[NAME][:1000])       # an earlier run stopped after 1000 bytes
    lines = []
    with DumpServer(root) as s:
        got = dl.download_dump(s.url, "es", "latest", str(d), progress=lambda *a: lines.append(a))
    assert (got.date, got.dump, got.index) == (DATE, str(d / NAME), str(d / INDEX))
    assert (d / NAME).read_bytes() == files[NAME] and (d / INDEX).read_bytes() == files[INDEX]
    assert sorted(os.listdir(d)) == sorted([NAME, INDEX])
    assert (f"/eswiki/{DATE}/{NAME}", "bytes=1000-") in s.requests
    assert lines and lines[-1][1] == lines[-1][2] == len(files[NAME])     # bytes done, total, speed


def test_a_server_that_ignores_range_restarts_the_file_cleanly(site, tmp_path):
    root, files = site
    d = tmp_path / "dl"
    d.mkdir()
    (d / (NAME + ".part")).write_bytes(b"junk that is not the start of the dump" * 10)
    with DumpServer(root, ignore_range=True) as s:
        dl.download_dump(s.url, "es", DATE, str(d))
    assert (d / NAME).read_bytes() == files[NAME]
    assert (f"/eswiki/{DATE}/{NAME}", f"bytes={38 * 10}-") in s.requests       # asked, answered with 200


def test_an_interrupted_transfer_is_resumed_in_the_run_and_by_the_next_run(site, tmp_path):
    root, files = site
    d = tmp_path / "dl"
    d.mkdir()
    with DumpServer(root, drop={NAME: 700}) as s:                # hangs up after 700 bytes, once
        dl.download_dump(s.url, "es", DATE, str(d), wait=0.01)
    assert (d / NAME).read_bytes() == files[NAME]
    assert (f"/eswiki/{DATE}/{NAME}", "bytes=700-") in s.requests
    os.remove(d / NAME)
    url = f"/eswiki/{DATE}/{NAME}"
    with DumpServer(root, drop={NAME: 500}) as s:                # no retry left: the part is kept
        with pytest.raises(OSError, match="run the same command again to resume"):
            dl.fetch_file(s.url + url, str(d / NAME), hashlib.sha1(files[NAME]).hexdigest(), retries=0)
    assert (d / (NAME + ".part")).read_bytes() == files[NAME][:500]
    with DumpServer(root) as s:
        dl.fetch_file(s.url + url, str(d / NAME), hashlib.sha1(files[NAME]).hexdigest())
    assert s.requests == [(url, "bytes=500-")] and (d / NAME).read_bytes() == files[NAME]


def test_a_corrupt_download_names_the_checksum_and_writes_no_corpus(tmp_path, capsys):
    root = tmp_path / "site"
    files = publish(root, "es", DATE, PAGES[:40], corrupt=True)
    d, out = tmp_path / "dl", tmp_path / "c.txt"
    with DumpServer(root) as s:
        assert run_cli(get_corpus.main, ["--mirror", s.url, "--download-dir", str(d), "--out", str(out)]) == 2
    err = one_line(capsys)
    assert f"sha1 {hashlib.sha1(files[NAME]).hexdigest()} does not match the published sha1" in err
    assert not out.exists() and sorted(os.listdir(d)) == [INDEX]        # the corrupt dump was removed
    with DumpServer(root) as s:                                          # a date the mirror does not have
        assert run_cli(get_corpus.main, ["--mirror", s.url, "--date", "20200101", "--download-dir", str(d),
                                         "--out", str(out)]) == 2
    assert "no dump eswiki 20200101" in one_line(capsys)


def test_download_then_extract_through_the_script(site, tmp_path, capsys, monkeypatch):
    root, files = site
    d, out = tmp_path / "dl", tmp_path / "c.txt"
    monkeypatch.setenv("MINIRNN_WIKI_MIRROR", "http://127.0.0.1:9")     # --mirror wins over the variable
    with DumpServer(root) as s:
        assert run_cli(get_corpus.main, ["--mirror", s.url, "--download-dir", str(d), "--out", str(out),
                                         "--workers", "2"]) == 0
    assert "checked" in capsys.readouterr().out
    assert out.read_bytes() == corpus_of(d / NAME)
    with DumpServer(root) as s:                                          # again: the checked files are reused
        assert run_cli(get_corpus.main, ["--mirror", s.url, "--download-dir", str(d), "--out", str(out),
                                         "--overwrite"]) == 0
    assert not [p for p, _ in s.requests if p.endswith((".xml.bz2", ".txt.bz2"))]


def test_a_max_articles_trial_downloads_only_the_first_bytes(tmp_path, capsys, monkeypatch):
    root = tmp_path / "site"
    files = publish(root, "es", DATE, PAGES, per_stream=10)
    monkeypatch.setattr(get_corpus, "TRIAL_BYTES", (len(files[NAME]) // 3, 1))    # a third of the dump
    d, out = tmp_path / "dl", tmp_path / "c.txt"
    full = corpus_sentences(corpus_of(root / "eswiki" / DATE / NAME).decode())
    for ignore_range in (False, True):
        with DumpServer(root, ignore_range=ignore_range) as s:
            assert run_cli(get_corpus.main, ["--mirror", s.url, "--download-dir", str(d), "--out", str(out),
                                             "--max-articles", "12", "--overwrite"]) == 0
        assert corpus_sentences(out.read_text()) == full[:12]
        assert [r for r in s.requests if NAME in r[0]] == [(f"/eswiki/{DATE}/{NAME}", f"bytes=0-{len(files[NAME]) // 3 - 1}")]
        assert not any(INDEX in p for p, _ in s.requests)               # no index, no whole dump
        assert sorted(os.listdir(d)) == [f"{NAME}.first-0MB"]
        assert os.path.getsize(d / f"{NAME}.first-0MB") == len(files[NAME]) // 3
    capsys.readouterr()
    with DumpServer(root) as s:                                          # more than the first bytes hold
        assert run_cli(get_corpus.main, ["--mirror", s.url, "--download-dir", str(d), "--out", str(out),
                                         "--max-articles", "1000", "--overwrite"]) == 0
    assert "fewer than --max-articles 1,000" in capsys.readouterr().err
    assert 12 < len(corpus_sentences(out.read_text())) < len(full)


# ---- gensim's real dumps, where gensim is installed -------------------------------------------------------
def gensim_dump(name):
    gensim = pytest.importorskip("gensim", reason="gensim's test dumps come with gensim")
    path = Path(gensim.__file__).parent / "test" / "test_data" / name
    if not path.exists():
        pytest.skip(f"{name} is not in this gensim's test data")
    return path


EN = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"


@pytest.fixture(scope="module")
def en_corpus():
    return corpus_of(gensim_dump(EN), workers=2).decode()


def test_gensim_enwiki_dump_is_clean_prose(en_corpus):
    text = en_corpus
    articles = corpus_sentences(text)
    words = len(text.split())
    assert len(articles) >= 100 and words > 300_000
    assert sum(residue(text).values()) <= 50 * words / 1e6
    assert articles[0][0] == "Anarchism" and articles[0][1].startswith("Anarchism is a political philosophy")


def test_gensim_bgwiki_utf16_dump_yields_its_cyrillic_text():
    path = gensim_dump("bgwiki-latest-pages-articles-shortened.xml.bz2")
    assert open_dump(str(path)).encoding == "utf-16-le"
    text = corpus_of(path).decode()
    letters = re.findall(r"[^\W\d_]", text)
    assert len(letters) > 3000
    assert sum("\u0400" <= c <= "\u04ff" for c in letters) / len(letters) > 0.9
    assert residue(text) == {}


def test_gensim_table_markup_dump_keeps_every_article_without_tables():
    text = corpus_of(gensim_dump("enwiki-table-markup.xml.bz2")).decode()
    articles = corpus_sentences(text)
    assert len(articles) == 5 and all(len(" ".join(a).split()) > 100 for a in articles)
    assert residue(text) == {} and "wikitable" not in text and "colspan" not in text


def test_recall_and_precision_against_wikiextractor(tmp_path, en_corpus):
    pytest.importorskip("wikiextractor", reason="the reference extractor is optional")
    path = gensim_dump(EN)
    r = subprocess.run([sys.executable, "-m", "wikiextractor.WikiExtractor", str(path), "--processes", "2",
                        "-o", str(tmp_path / "we"), "-q"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    try:
        import bench_wiki
    finally:
        sys.path.pop(0)
    q = bench_wiki.quality(en_corpus, bench_wiki.wikiextractor_text(str(tmp_path / "we")))
    assert q["recall"] >= 0.97 and q["precision"] >= 0.95, q
