"""Downloading a dated dump from a mirror: resumable, checked against the published sha1.

    paths = download_dump("https://dumps.wikimedia.org", "es", "latest", "dumps/", progress=print)
    paths.dump, paths.index, paths.date     # dumps/eswiki-20250101-pages-articles-multistream.xml.bz2, ...

The layout every mirror shares (``{mirror}/{lang}wiki/{date}/``):

    {lang}wiki-{date}-pages-articles-multistream.xml.bz2          the dump: bz2 streams of 100 pages
    {lang}wiki-{date}-pages-articles-multistream-index.txt.bz2    offset:page_id:title, a line a page
    {lang}wiki-{date}-sha1sums.txt                                 "<sha1>  <file name>" for each file

1. ``latest`` is resolved to a date first (``resolve_date``), so that a download resumed tomorrow
   cannot mix two dumps: the newest date in the listing of ``{mirror}/{lang}wiki/`` whose sha1sums
   name both files (a dump still being written lacks them), or else the date that
   ``latest/{lang}wiki-latest-pages-articles-multistream.xml.bz2-rss.xml`` links to.
2. Each file goes to ``NAME.part``; an interrupted transfer resumes from the bytes already there with
   an HTTP Range request (retried a few times within a run; a new run resumes too). A server that
   ignores Range answers 200 with the whole file: the part is then started again from byte 0.
   The part's length and sha1 are counted block by block as each is written, so a transfer that
   fails midway resumes from exactly those bytes; a failed write (disk full) stops at once. The part
   is locked (``flock``) for the whole download: a second run fetching it into the same folder is refused.
3. The sha1 of every byte is computed as it arrives (the part's earlier bytes first) and compared with
   the published one before the file is renamed to its name: a mismatch removes the part and is an
   error that names both checksums. A complete file already there is checked and kept.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from ..errors import UsageError

DEFAULT_MIRROR = "https://dumps.wikimedia.org"
USER_AGENT = "minirnn-get_corpus/0.1 (+https://github.com/; educational corpus builder)"
RETRIES = 5                  # reconnections within one run after a dropped transfer
TIMEOUT = 60                 # seconds without a byte before a connection counts as dropped
BLOCK = 1 << 20


@dataclass
class DumpFiles:
    date: str
    dump: str                # local paths
    index: str | None


def file_names(lang: str, date: str) -> dict:
    base = f"{lang}wiki-{date}-pages-articles-multistream"
    return {"dump": base + ".xml.bz2", "index": base + "-index.txt.bz2", "sha1": f"{lang}wiki-{date}-sha1sums.txt"}


def _url(mirror: str, *parts: str) -> str:
    return "/".join([mirror.rstrip("/"), *parts])


def _open(url: str, headers=None, timeout: float = TIMEOUT):
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **(headers or {})})
    return urllib.request.urlopen(request, timeout=timeout)


def fetch_text(url: str) -> str | None:
    """The body of a small file (a listing, sha1sums, RSS) as text; None if the server has no such file."""
    try:
        with _open(url) as r:
            return r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        if e.code in (403, 404, 410):
            return None
        raise OSError(f"{url}: HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        raise OSError(f"{url}: {e.reason}") from None


SHA1_LINE = re.compile(r"^([0-9a-fA-F]{40})\s+\*?(\S+)\s*$", re.M)


def published_sha1(mirror: str, lang: str, date: str) -> dict | None:
    """{file name: sha1} from the dated sha1sums file; None if there is none."""
    text = fetch_text(_url(mirror, f"{lang}wiki", date, file_names(lang, date)["sha1"]))
    return None if text is None else {name: digest.lower() for digest, name in SHA1_LINE.findall(text)}


def _complete(sums: dict | None, lang: str, date: str) -> bool:
    names = file_names(lang, date)
    return sums is not None and names["dump"] in sums and names["index"] in sums


DATE_LINK = re.compile(r"href=\"(?:\./)?(\d{8})/?\"")


def resolve_date(mirror: str, lang: str, date: str) -> str:
    """`date` itself when it is YYYYMMDD; for 'latest', the newest complete dump's date."""
    if date != "latest":
        if not re.fullmatch(r"\d{8}", date):
            raise UsageError(f"--date {date!r}: give 'latest' or a date as YYYYMMDD")
        return date
    listing = fetch_text(_url(mirror, f"{lang}wiki", "")) or ""
    for candidate in sorted(set(DATE_LINK.findall(listing)), reverse=True)[:6]:
        if _complete(published_sha1(mirror, lang, candidate), lang, candidate):
            return candidate
    rss = fetch_text(_url(mirror, f"{lang}wiki", "latest", f"{lang}wiki-latest-pages-articles-multistream.xml.bz2-rss.xml"))
    m = re.search(rf"{re.escape(lang)}wiki/(\d{{8}})", rss or "")
    if m and _complete(published_sha1(mirror, lang, m.group(1)), lang, m.group(1)):
        return m.group(1)
    raise UsageError(f"no complete {lang}wiki dump found at {_url(mirror, lang + 'wiki')}/ (neither its listing "
                     f"nor latest/'s RSS names a date whose sha1sums list the multistream dump and its index)")


def sha1_of(path: str, digest=None):
    """The sha1 object of a file's bytes (updating `digest` if given)."""
    digest = digest or hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(BLOCK), b""):
            digest.update(block)
    return digest


def fetch_file(url: str, path: str, sha1: str, progress=None, retries: int = RETRIES, wait: float = 1.0) -> str:
    """Download `url` to `path` through `path`.part, resuming what is there; check its sha1; return path.

    `progress(name, done, total, bytes_per_s)` is called about once a second."""
    if os.path.exists(path):
        got = sha1_of(path).hexdigest()
        if got != sha1:
            raise UsageError(f"{path}: exists, but its sha1 {got} is not the published sha1 {sha1}: remove it "
                             f"to download it again")
        return path
    part = path + ".part"
    lock = _claim(part)
    try:
        return _fetch_part(url, path, part, sha1, progress, retries, wait)
    finally:
        os.close(lock)                        # the lock goes with it
        if os.path.isfile(part) and os.path.getsize(part) == 0:
            os.remove(part)                   # nothing came: no empty part left behind


def _claim(part: str) -> int:
    """Open `part` (made if absent) and hold an exclusive lock on it for the whole download: a second
    get_corpus downloading the same file into the same folder is refused, instead of writing the same
    part (which mixed two transfers' bytes)."""
    import fcntl
    fd = os.open(part, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise UsageError(f"{part}: another process is downloading this file now (another get_corpus with the "
                         f"same --download-dir?); let it finish, or stop it and run again") from None
    return fd


def _fetch_part(url: str, path: str, part: str, sha1: str, progress, retries: int, wait: float) -> str:
    got = _Part()
    if os.path.getsize(part):
        sha1_of(part, got.digest)
        got.done = os.path.getsize(part)
    attempt = 0
    while True:
        try:
            total = _transfer(url, part, got, progress)
            if total is None or got.done >= total:
                break
            raise http.client.IncompleteRead(b"", total - got.done)
        except (OSError, http.client.HTTPException) as e:
            if isinstance(e, _WriteError):
                raise e.error from None       # the disk, not the network: retrying cannot help
            if isinstance(e, urllib.error.HTTPError) and e.code in (403, 404, 410):
                raise UsageError(f"{url}: HTTP {e.code} {e.reason} (the mirror has no such file)") from None
            attempt += 1
            if attempt > retries:
                raise OSError(f"{url}: the transfer failed {attempt} times ({_reason(e)}); {got.done} bytes are kept "
                              f"in {part}: run the same command again to resume") from None
            time.sleep(wait * attempt)
    got = got.digest.hexdigest()
    if got != sha1:
        os.remove(part)
        raise UsageError(f"{os.path.basename(path)}: sha1 {got} does not match the published sha1 {sha1}: the "
                         f"download is corrupt and was removed; run again to download it afresh")
    os.replace(part, path)
    return path


def _reason(e: BaseException) -> str:
    return " ".join(str(getattr(e, "reason", None) or e or type(e).__name__).split()) or type(e).__name__


class _Part:
    """What `NAME.part` holds: its length and the sha1 of its bytes, kept up to date block by block, so
    that a transfer that fails midway (a reset, a stalled server) leaves them true for the next try."""

    def __init__(self):
        self.done, self.digest = 0, hashlib.sha1()


class _WriteError(OSError):
    """Writing the part failed (disk full, a file size limit): the local disk's fault, not the network's."""

    def __init__(self, error: OSError):
        super().__init__(error.errno, error.strerror, error.filename)
        self.error = error


def _transfer(url: str, part: str, got: _Part, progress):
    """One request from byte `got.done` on; appends to `part`, updating `got` after each block written.
    Returns the file's total size, or None when the server does not say."""
    headers = {"Range": f"bytes={got.done}-"} if got.done else {}
    try:
        r = _open(url, headers)
    except urllib.error.HTTPError as e:
        if e.code == 416 and got.done:        # nothing after `done`: the part is the whole file
            return got.done
        raise
    with r:
        if got.done and r.status == 206:
            m = re.match(r"bytes (\d+)-\d+/(\d+|\*)", r.headers.get("Content-Range", ""))
            if not m or int(m.group(1)) != got.done:
                raise OSError(f"{url}: the server answered a range that does not start at byte {got.done}")
            total = int(m.group(2)) if m.group(2) != "*" else None
        else:                                 # 200: the whole file (a server that ignores Range)
            got.done, got.digest = 0, hashlib.sha1()
            length = r.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        name, t0, t_last, start = os.path.basename(url), time.monotonic(), 0.0, got.done
        try:
            fd = os.open(part, os.O_WRONLY | os.O_CREAT, 0o666)
        except OSError as e:
            raise _WriteError(e) from None
        try:
            try:                              # from the last byte counted: a failed write's tail is cut
                os.ftruncate(fd, got.done)
                os.lseek(fd, got.done, os.SEEK_SET)
            except OSError as e:
                raise _WriteError(e) from None
            while True:
                block = r.read(BLOCK)
                if not block:
                    break
                view = memoryview(block)
                while view:                   # os.write may write part of a block
                    try:
                        view = view[os.write(fd, view):]
                    except OSError as e:
                        raise _WriteError(e) from None
                got.digest.update(block)
                got.done += len(block)
                now = time.monotonic()
                if progress is not None and now - t_last >= 1.0:
                    progress(name, got.done, total, (got.done - start) / max(now - t0, 1e-9))
                    t_last = now
        finally:
            os.close(fd)
        if progress is not None:
            progress(name, got.done, total, (got.done - start) / max(time.monotonic() - t0, 1e-9))
    return total


def check_mirror(mirror: str) -> str:
    """The mirror's URL, checked: http:// or https:// and a host (a typo was an internal error)."""
    parts = urllib.parse.urlsplit(mirror.strip()) if isinstance(mirror, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in mirror.strip()):
        raise UsageError(f"--mirror {str(mirror)[:80]!r}: give the dump site's address, such as {DEFAULT_MIRROR} "
                         f"(http:// or https://)")
    return mirror.strip()


def check_lang(lang: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9_-]{1,20}", lang):
        raise UsageError(f"--lang {lang!r}: give a Wikipedia language code such as es, en, fr or zh_yue")
    return lang


def fetch_first_bytes(url: str, path: str, nbytes: int, progress=None) -> str:
    """The first `nbytes` of `url` in `path` (a Range request; of a server that ignores Range, only those
    bytes are read). For a trial: whole bz2 streams in them are checked by their own CRCs, the file is
    not checked against a sha1, and get_corpus ignores the stream cut at the end."""
    try:
        r = _open(url, {"Range": f"bytes=0-{nbytes - 1}"})
    except urllib.error.HTTPError as e:
        if e.code in (403, 404, 410):
            raise UsageError(f"{url}: HTTP {e.code} {e.reason} (the mirror has no such file)") from None
        raise OSError(f"{url}: HTTP {e.code} {e.reason}") from None
    with r, open(path + ".part", "wb") as f:
        m = re.match(r"bytes \d+-\d+/(\d+)", r.headers.get("Content-Range", ""))
        length = r.headers.get("Content-Length")
        whole = int(m.group(1)) if m and r.status == 206 else int(length) if length and length.isdigit() else None
        expected = nbytes if whole is None else min(nbytes, whole)
        done, t0 = 0, time.monotonic()
        while done < nbytes:
            block = r.read(min(BLOCK, nbytes - done))
            if not block:
                break
            f.write(block)
            done += len(block)
            if progress is not None:
                progress(os.path.basename(path), done, nbytes, done / max(time.monotonic() - t0, 1e-9))
    if done < expected:                       # the server hung up: not a short dump, a cut transfer
        os.remove(path + ".part")
        raise OSError(f"{url}: the transfer was cut after {done:,} of {expected:,} bytes; run the same command "
                      f"again")
    os.replace(path + ".part", path)
    return path


def download_dump(mirror: str, lang: str, date: str, directory: str, progress=None, retries: int = RETRIES,
                  wait: float = 1.0, first_bytes: int | None = None) -> DumpFiles:
    """Resolve the date, then fetch the multistream dump and its index into `directory`, each checked.
    With `first_bytes`, only the dump's first bytes, for a trial (``fetch_first_bytes``; index None)."""
    check_lang(lang)
    check_mirror(mirror)
    date = resolve_date(mirror, lang, date)
    sums = published_sha1(mirror, lang, date)
    names = file_names(lang, date)
    if sums is None:
        raise UsageError(f"no dump {lang}wiki {date} at {_url(mirror, lang + 'wiki', date)}/ ({names['sha1']} "
                         f"not found)")
    if not _complete(sums, lang, date):
        raise UsageError(f"the {lang}wiki {date} dump is not complete: {names['sha1']} does not list "
                         f"{names['dump']} and {names['index']}")
    if first_bytes is not None:
        path = os.path.join(directory, f"{names['dump']}.first-{first_bytes >> 20}MB")
        url = _url(mirror, f"{lang}wiki", date, names["dump"])
        return DumpFiles(date, fetch_first_bytes(url, path, first_bytes, progress), None)
    paths = {}
    for key in ("index", "dump"):             # the small file first: a bad mirror shows at once
        url = _url(mirror, f"{lang}wiki", date, names[key])
        paths[key] = fetch_file(url, os.path.join(directory, names[key]), sums[names[key]], progress, retries, wait)
    return DumpFiles(date, paths["dump"], paths["index"])

