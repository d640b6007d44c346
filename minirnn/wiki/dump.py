"""Reading a MediaWiki XML dump without holding it: its encoding, its siteinfo, and the pieces of it
that worker processes take one at a time.

    dump = open_dump("eswiki-20250101-pages-articles-multistream.xml.bz2")    # the index is found beside it
    dump.kind, dump.encoding, dump.site            # 'multistream', 'utf-8', Site(...)
    for job in dump.jobs(job_bytes=1 << 20): ...   # what a worker reads: read_job(job) -> raw XML bytes

The dump is cut into jobs that workers read on their own, so that decompression runs in parallel too:

* ``multistream`` (the official ``-multistream.xml.bz2``): independent bz2 streams of 100 pages each.
  Their offsets come from the index (``offset:page_id:title`` lines, bz2 or plain) or, without one, from
  a scan of the file for stream headers (``BZh`` + level + the block magic); a job is a run of whole
  streams, which a worker decompresses itself. A file that another tool compressed in parallel
  (pbzip2: streams cut anywhere, not at pages) is read the same way.
* ``blocks`` (a single bz2 stream, ``pages-articles.xml.bz2``): a job is a run of the stream's blocks,
  found by their bit patterns (``minirnn.wiki.bz2blocks``), which a worker decodes itself.
* ``xml`` (an uncompressed dump in UTF-8 or another ASCII-compatible encoding): a job is a byte range.
* ``stream`` (a dump in UTF-16 or UTF-32, which no byte search can cut; and a single stream whose
  blocks do not decode alone): one reader, this process, decompresses and transcodes to UTF-8, and
  hands out pieces cut after a ``</page>``; the workers parse and clean.

A job's bytes may begin and end inside a page: ``split_pages`` returns the head before its first
``<page>``, the region of whole pages and the tail after its last ``</page>``; the caller joins one
job's tail to the next one's head (``minirnn.wiki.extract``). No ``<`` in a page's text is written raw
(XML escapes it), so ``<page>`` and ``</page>`` in the bytes are always tags.

The encoding is the one the byte order mark says, else the XML declaration's, else UTF-8.
Memory: per worker one job (``job_bytes`` of bz2, a few times that of XML, and the XML's parse tree),
and here the pages that straddle two jobs; never the dump (``test_memory_is_bounded_by_a_job_not_the_dump``).
Measured on the 61 MB benchmark (jobs of 512 kB of bz2): 52-57 MB resident for the largest process.
"""
from __future__ import annotations

import bz2
import codecs
import io
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from ..errors import UsageError
from . import bz2blocks
from .markup import Site

# ---- encoding -------------------------------------------------------------------------------------------
BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))   # UTF-32 LE before UTF-16 LE
# without a BOM, the first character '<' tells UTF-16 and UTF-32 apart from ASCII-compatible encodings
NO_BOM = ((b"<\x00\x00\x00", "utf-32-le"), (b"\x00\x00\x00<", "utf-32-be"), (b"<\x00", "utf-16-le"),
          (b"\x00<", "utf-16-be"))
DECLARATION = re.compile(rb"\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z][A-Za-z0-9._-]*)[\"']")


def sniff_encoding(head: bytes) -> tuple:
    """(codec name, length of the byte order mark) for a dump that starts with `head`."""
    for bom, name in BOMS:
        if head.startswith(bom):
            return name, len(bom)
    for start, name in NO_BOM:
        if head.startswith(start):
            return name, 0
    m = DECLARATION.match(head)
    if m is None:
        return "utf-8", 0
    declared = m.group(1).decode("ascii")
    try:
        name = codecs.lookup(declared).name
    except LookupError:
        raise UsageError(f"the XML declaration names the encoding {declared!r}, which Python does not know") from None
    return ("utf-8" if name == "utf-8-sig" else name), 0


def ascii_compatible(encoding: str) -> bool:
    """True when '<page>' is the same bytes as in ASCII, so a byte search can cut the dump."""
    return "<page></page>".encode(encoding, "replace") == b"<page></page>" and not encoding.startswith("utf-7")


def to_utf8(data: bytes, encoding: str) -> bytes:
    return data if encoding == "utf-8" else data.decode(encoding).encode("utf-8")


# ---- pages ------------------------------------------------------------------------------------------------
PAGE_OPEN, PAGE_CLOSE = b"<page>", b"</page>"


def split_pages(data: bytes) -> tuple:
    """(head, region, tail): the region runs from the first <page> to the last </page> after it, so it
    holds whole pages only; head and tail are the bytes around it. No whole page: (data, b"", b"")."""
    first = data.find(PAGE_OPEN)
    last = data.rfind(PAGE_CLOSE)
    if first < 0 or last < first:
        return data, b"", b""
    end = last + len(PAGE_CLOSE)
    return data[:first], data[first:end], data[end:]


@dataclass
class Page:
    title: str
    ns: int | None            # None in a dump too old to have <ns>
    redirect: bool            # the page holds a <redirect> element
    text: str


def iter_pages(region: bytes):
    """The Pages of a region of whole <page> elements (UTF-8 bytes), parsed by expat; the text of the
    last <revision> (a history dump holds several)."""
    parser = ET.XMLParser(encoding="utf-8")
    try:
        parser.feed(b"<pages>")
        parser.feed(region)
        parser.feed(b"</pages>")
        root = parser.close()
    except ET.ParseError as e:
        raise UsageError(f"the dump is not well-formed XML ({e})") from None
    for page in root.iterfind("page"):
        ns = page.findtext("ns")
        revisions = page.findall("revision")
        text = revisions[-1].findtext("text") if revisions else None
        yield Page(page.findtext("title") or "", int(ns) if ns and ns.strip().lstrip("-").isdigit() else None,
                   page.find("redirect") is not None, text or "")


# ---- siteinfo ---------------------------------------------------------------------------------------------
SITEINFO = re.compile(r"<siteinfo\b.*?</siteinfo\s*>", re.S)
ROOT_LANG = re.compile(r"<mediawiki\b[^>]*?\bxml:lang\s*=\s*[\"']([^\"']+)[\"']")


def read_siteinfo(header: str) -> dict:
    """{'lang', 'dbname', 'namespaces': {key: name}} from the text before the first <page> (empty
    values where the dump has no siteinfo)."""
    info = {"lang": None, "dbname": None, "namespaces": {}}
    m = ROOT_LANG.search(header)
    if m:
        info["lang"] = m.group(1)
    m = SITEINFO.search(header)
    if m is None:
        return info
    try:
        el = ET.fromstring(m.group().encode("utf-8"))
    except ET.ParseError as e:
        raise UsageError(f"the dump's <siteinfo> is not well-formed XML ({e})") from None
    strip = lambda tag: tag.rsplit("}", 1)[-1]                          # noqa: E731
    for child in el.iter():
        if strip(child.tag) == "dbname":
            info["dbname"] = (child.text or "").strip()
        elif strip(child.tag) == "namespace" and child.get("key", "").lstrip("-").isdigit():
            info["namespaces"][int(child.get("key"))] = (child.text or "").strip()
    return info


# ---- the dump and its jobs ---------------------------------------------------------------------------------
# a bz2 stream starts with 'BZh', the block size '1'..'9', then the first block's magic (the digits of
# pi, 0x314159265359 = b"1AY&SY"); each stream begins on a byte boundary
STREAM_START = re.compile(rb"BZh[1-9]1AY&SY")
SCAN_BYTES = 16 << 20          # read this much at a time when scanning for streams
SECOND_STREAM_WITHIN = 32 << 20  # a .bz2 with no second stream this early is read as one stream


@dataclass
class Job:
    """What one worker reads: bytes [start, end) of `path` (bz2 streams when `compressed`), or the bz2
    blocks of `run` (marks of minirnn.wiki.bz2blocks), or `data` already read (UTF-8). `encoding` is
    the raw bytes' encoding."""
    path: str = ""
    start: int = 0
    end: int = 0
    compressed: bool = False
    encoding: str = "utf-8"
    data: bytes | None = None
    run: tuple | None = None
    level: bytes = b"9"


def read_job(job: Job) -> bytes:
    """The raw XML bytes of a job (in job.encoding)."""
    if job.data is not None:
        return job.data
    if job.run is not None:
        first, last = job.run[0][0] // 8, (job.run[-1][0] + 7) // 8
        with open(job.path, "rb") as f:
            f.seek(first)
            raw = f.read(last - first)
        return bz2blocks.decompress_run(raw, 8 * first, list(job.run), job.level)
    with open(job.path, "rb") as f:
        f.seek(job.start)
        raw = f.read(job.end - job.start)
    if not job.compressed:
        return raw
    try:
        return decompress_streams(raw)
    except (OSError, EOFError, ValueError) as e:
        raise UsageError(f"{job.path}: corrupt bz2 data in bytes {job.start}-{job.end} ({e})") from None


def decompress_streams(raw: bytes) -> bytes:
    """Whole bz2 streams, one after another, every byte of `raw` used. (bz2.decompress would stop without a
    word at a damaged stream after the first: here it is an error.)"""
    out, pos, view = [], 0, memoryview(raw)
    while pos < len(raw):
        d = bz2.BZ2Decompressor()
        out.append(d.decompress(view[pos:]))
        if not d.eof:
            raise EOFError("a stream ends before its end-of-stream marker")
        pos = len(raw) - len(d.unused_data)
    return b"".join(out)


class Dump:
    """A dump on disk: its kind ('xml', 'multistream' or 'stream'), encoding, siteinfo and Site."""

    def __init__(self, path: str, index: str | None = None, first_bytes: bool = False):
        self.path, self.index, self.first_bytes = path, index, first_bytes
        self.size = os.path.getsize(path)
        self.compressed = _is_bz2(path)
        self.offsets = None
        if self.compressed:
            self.offsets = _first_offsets(path)
        head = self._head_bytes()
        self.encoding, self.bom = sniff_encoding(head)
        if self.compressed:
            multi = index is not None or len(self.offsets) > 1
            self.kind = ("multistream" if multi else "blocks") if ascii_compatible(self.encoding) else "stream"
        else:
            self.kind = "xml" if ascii_compatible(self.encoding) else "stream"
        header = head[self.bom:].decode(self.encoding, "replace")
        cut = header.find("<page>")
        self.info = read_siteinfo(header if cut < 0 else header[:cut])
        self.site = Site.from_namespaces(self.info["namespaces"])

    def _head_bytes(self, limit: int = 4 << 20) -> bytes:
        """The dump's first bytes (decompressed), up to its first page or `limit` (the siteinfo is a few KB)."""
        if not self.compressed:
            with open(self.path, "rb") as f:
                return f.read(limit)
        out, d = [], bz2.BZ2Decompressor()
        with open(self.path, "rb") as f:
            try:
                while sum(map(len, out)) < limit and not d.eof:
                    chunk = f.read(1 << 16)
                    if not chunk:
                        break
                    out.append(d.decompress(chunk))
                    if b"<\x00p\x00a\x00g\x00e\x00>" in out[-1] or b"<page>" in out[-1]:
                        break
            except (OSError, EOFError) as e:
                raise UsageError(f"{self.path}: not a valid bz2 file ({e})") from None
        return b"".join(out)

    def jobs(self, job_bytes: int):
        """The jobs, in dump order: about `job_bytes` of the file each (compressed for bz2)."""
        if self.kind == "xml":
            for start in range(0, self.size, job_bytes):
                yield Job(self.path, start, min(start + job_bytes, self.size), False, self.encoding)
        elif self.kind == "multistream":
            start = last = 0
            for offset in self._stream_offsets():
                if offset - start >= job_bytes:
                    yield Job(self.path, start, offset, True, self.encoding)
                    start = offset
                last = offset
            end = last if self.first_bytes else self.size           # the first bytes end inside a stream
            if start < end:
                yield Job(self.path, start, end, True, self.encoding)
        elif self.kind == "blocks":
            yield from self._block_runs(job_bytes)
        else:
            yield from self._read_serially(job_bytes)

    def _block_runs(self, job_bytes: int):
        """Runs of whole bz2 blocks of about `job_bytes`, each ending at the mark that ends its last block."""
        with open(self.path, "rb") as f:
            level = f.read(4)[3:]
            f.seek(0)
            run = []
            for mark in bz2blocks.marks(f):
                run.append(mark)
                if len(run) > 1 and mark[0] - run[0][0] >= 8 * job_bytes:
                    yield Job(self.path, encoding=self.encoding, run=tuple(run), level=level)
                    run = [mark]
        if not run or run[-1][1] != bz2blocks.END:
            raise UsageError(f"{self.path}: the bz2 stream has no end (a truncated file?)")
        if len(run) > 1:
            yield Job(self.path, encoding=self.encoding, run=tuple(run), level=level)

    def _stream_offsets(self):
        """Each stream's offset after the first, in order: from the index, or by scanning."""
        if self.index is not None:
            yield from _index_offsets(self.index, self.path, self.size)
            return
        with open(self.path, "rb") as f:
            pos, keep = 0, b""
            while True:
                block = f.read(SCAN_BYTES)
                if not block:
                    return
                data = keep + block        # a 10-byte header cut between two reads is found whole,
                base = pos - len(keep)     # and one found in the 9 kept bytes alone cannot be
                for m in STREAM_START.finditer(data):
                    if base + m.start() > 0:
                        yield base + m.start()
                keep = data[-9:]
                pos += len(block)

    def _read_serially(self, piece_bytes: int):
        """Decompress (and transcode to UTF-8) in this process, in pieces cut after a </page>."""
        opener = bz2.open if self.compressed else open
        decoder = codecs.getincrementaldecoder(self.encoding)("strict")
        keep = b""
        try:
            with opener(self.path, "rb") as f:
                f.read(self.bom)
                while True:
                    raw = f.read(piece_bytes)
                    data = keep + to_utf8_incremental(decoder, raw, self.encoding, final=not raw)
                    cut = data.rfind(PAGE_CLOSE)
                    if not raw:
                        if data:
                            yield Job(data=data)
                        return
                    if cut < 0:
                        keep = data
                        continue
                    cut += len(PAGE_CLOSE)
                    yield Job(data=data[:cut])
                    keep = data[cut:]
        except (OSError, EOFError) as e:
            raise UsageError(f"{self.path}: corrupt or truncated bz2 data ({e})") from None
        except UnicodeDecodeError as e:
            raise UsageError(f"{self.path}: not valid {self.encoding} ({e.reason})") from None


def to_utf8_incremental(decoder, raw: bytes, encoding: str, final: bool) -> bytes:
    if encoding == "utf-8":
        return raw
    return decoder.decode(raw, final=final).encode("utf-8")


def _is_bz2(path: str) -> bool:
    with open(path, "rb") as f:
        return f.read(3) == b"BZh"


def _first_offsets(path: str) -> list:
    """The offsets of the streams that start in the file's first SECOND_STREAM_WITHIN bytes."""
    with open(path, "rb") as f:
        data = f.read(SECOND_STREAM_WITHIN)
    return [m.start() for m in STREAM_START.finditer(data)]


def _index_offsets(index: str, path: str, size: int):
    """The distinct stream offsets of a multistream index (``offset:page_id:title`` per line), each
    checked to be the start of a stream in the dump."""
    opener = bz2.open if _is_bz2(index) else open
    last = 0
    with open(path, "rb") as dump, opener(index, "rb") as f:
        for n, line in enumerate(io.BufferedReader(f) if opener is bz2.open else f, 1):
            head = line.split(b":", 1)[0]
            if not head.strip():
                continue
            if not head.isdigit():
                raise UsageError(f"{index}: not a multistream index (line {n} is not 'offset:page_id:title')")
            offset = int(head)
            if offset == last:
                continue
            if offset < last or offset >= size:
                raise UsageError(f"{index}: offset {offset} on line {n} does not fit the dump {path} "
                                 f"({size} bytes): is it the index of another dump?")
            dump.seek(offset)
            if not STREAM_START.match(dump.read(10)):
                raise UsageError(f"{index}: offset {offset} on line {n} is not the start of a bz2 stream in "
                                 f"{path}: is it the index of another dump?")
            last = offset
            yield offset


def index_beside(path: str) -> str | None:
    """The official index's path beside a multistream dump, if that file exists:
    X-pages-articles-multistream.xml.bz2 -> X-pages-articles-multistream-index.txt.bz2."""
    name = os.path.basename(path)
    if "-multistream.xml" not in name:
        return None
    candidate = os.path.join(os.path.dirname(path), name.split("-multistream.xml")[0] + "-multistream-index.txt.bz2")
    return candidate if os.path.isfile(candidate) else None


def open_dump(path, index=None, first_bytes=False) -> Dump:
    """A Dump for the file `path` (.xml or .xml.bz2); `index`: its multistream index, by default the
    official one beside it when it exists. `first_bytes`: the file is the start of a multistream dump
    (a trial download), whose last stream is cut: it is left out."""
    from ..textio import check_input_file
    path = check_input_file(path, "dump (.xml or .xml.bz2)")
    if os.path.getsize(path) == 0:
        raise UsageError(f"{path}: the file is empty")
    with open(path, "rb") as f:
        magic = f.read(6)
    for start, kind in ((b"\x1f\x8b", "gzip"), (b"7z\xbc\xaf\x27\x1c", "7z"), (b"\xfd7zXZ", "xz"), (b"PK\x03\x04", "zip")):
        if magic.startswith(start):
            raise UsageError(f"{path}: a {kind} file; give the dump as .xml or .xml.bz2 (the official dumps are bz2)")
    if index is not None:
        index = check_input_file(index, "multistream index")
        if not _is_bz2(path):
            raise UsageError(f"--index {index}: the dump {path} is not bz2, so it has no streams to index")
    else:
        index = index_beside(path)
    dump = Dump(path, index, first_bytes)
    if first_bytes and dump.kind != "multistream":
        raise UsageError(f"{path}: the first bytes of a dump must hold several bz2 streams (a multistream dump)")
    return dump
