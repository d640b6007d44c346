"""Hostile use, round four (issue 33's closing sweep): one test per case the fresh pass found, each
failing before its fix and backing a line of docs/guarantees.md."""
import hashlib
import http.server
import os
import re
import sys
import threading
import time

import pytest

from minirnn import chardata
from minirnn.errors import UsageError
from minirnn.wiki import download as dl

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
ENV = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}


class FlakyServer:
    """One file on 127.0.0.1 with Range; `stall` {request number: n}: that request sends its headers
    and n bytes of the body, then goes silent (the client's read times out)."""

    def __init__(self, data: bytes, stall=None):
        self.data, self.stall, self.requests = data, dict(stall or {}), []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                rng = self.headers.get("Range")
                server.requests.append(rng)
                m = re.match(r"bytes=(\d+)-$", rng or "")
                start = int(m.group(1)) if m else 0
                body = server.data[start:]
                self.send_response(206 if m else 200)
                if m:
                    self.send_header("Content-Range", f"bytes {start}-{len(server.data) - 1}/{len(server.data)}")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                n = server.stall.pop(len(server.requests), None)
                if n is not None:
                    self.wfile.write(body[:n])
                    self.wfile.flush()
                    time.sleep(1.0)
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/f.xml.bz2"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def short_timeout(monkeypatch):
    opener = dl._open
    monkeypatch.setattr(dl, "_open", lambda url, headers=None, timeout=0.3: opener(url, headers, timeout=0.3))


def test_a_transfer_that_stalls_midway_resumes_from_the_bytes_written(tmp_path, short_timeout):
    """A read that times out after some blocks were written (a stalled server, a reset): the retry asks
    for the bytes after those, never appends the same bytes twice (which made the sha1 fail and the
    whole part, gigabytes of a dump, be removed as corrupt)."""
    data = os.urandom(3 << 20)
    path = tmp_path / "f.xml.bz2"
    (tmp_path / "f.xml.bz2.part").write_bytes(data[:100_000])           # a part from an earlier run
    with FlakyServer(data, stall={1: (1 << 20) + 5000}) as s:          # the resume stalls after 1 MB and a bit
        dl.fetch_file(s.url, str(path), hashlib.sha1(data).hexdigest(), wait=0.01)
    assert path.read_bytes() == data
    assert s.requests[0] == "bytes=100000-" and s.requests[1] not in (None, "bytes=100000-")
    path.unlink()
    with FlakyServer(data, stall={1: (2 << 20) + 7}) as s:             # the first transfer stalls: resumed too
        dl.fetch_file(s.url, str(path), hashlib.sha1(data).hexdigest(), wait=0.01)
    assert path.read_bytes() == data and s.requests[0] is None and s.requests[1].startswith("bytes=")


def test_a_disk_that_fills_during_a_download_stops_at_once_and_keeps_the_part(tmp_path, monkeypatch):
    """A write that fails (disk full) is the disk's fault: no retries against the mirror, the part keeps
    exactly the bytes counted (so the next run resumes from them), one OSError naming it."""
    data = os.urandom(3 << 20)
    path = tmp_path / "f.xml.bz2"
    write, calls = os.write, []

    def full(fd, b):
        calls.append(len(b))
        if len(calls) == 2:
            write(fd, bytes(b)[:1000])                                   # half a block reaches the disk
            raise OSError(28, "No space left on device")
        return write(fd, b)
    monkeypatch.setattr(dl.os, "write", full)
    with FlakyServer(data) as s:
        with pytest.raises(OSError, match="No space left") as e:
            dl.fetch_file(s.url, str(path), hashlib.sha1(data).hexdigest(), wait=0.01)
    assert not isinstance(e.value, UsageError) and len(s.requests) == 1
    part = tmp_path / "f.xml.bz2.part"
    assert data.startswith(part.read_bytes()) and len(part.read_bytes()) >= 1 << 20
    monkeypatch.setattr(dl.os, "write", write)
    with FlakyServer(data) as s:
        dl.fetch_file(s.url, str(path), hashlib.sha1(data).hexdigest(), wait=0.01)
    assert path.read_bytes() == data and s.requests[0].startswith("bytes=")


def test_a_text_that_changes_while_it_is_read_is_exit_2(tmp_path, monkeypatch):
    """train_char reads its text twice (which characters, then their ids): a file another process
    writes meanwhile (a log, a download) is one line, never a broadcast error or a silently wrong id."""
    real = chardata.read_chunks
    for change in ("more text appended\n", "Z"):
        p = tmp_path / "t.txt"
        p.write_text("abc abc abc\n" * 100)
        calls = []

        def reading(path, *a, change=change):
            calls.append(path)
            if len(calls) == 2:                                           # between the two passes
                if change == "Z":
                    p.write_text("abc abc abZ\n" * 100)                   # same length, a new character
                else:
                    with open(p, "a") as f:
                        f.write(change)
            return real(path, *a)
        monkeypatch.setattr(chardata, "read_chunks", reading)
        with pytest.raises(UsageError, match="changed while it was read"):
            chardata.encode_file(str(p))


def test_a_stop_during_the_whole_split_at_the_end_saves_at_once(tmp_path, monkeypatch, capsys):
    """SIGTERM (or Ctrl-C) while the last evaluation reads the whole validation split (minutes on a big
    text; a scheduler's SIGKILL follows its SIGTERM): the capped evaluation is kept, the whole split is
    left out, the last checkpoint is saved at once and the run exits 0. It used to read every window
    first (12 minutes on an 8 MB text with --batch 2 --seq 8), and the last iteration's checkpoint was
    lost to the SIGKILL."""
    import signal
    import train_char
    from minirnn import checkpoint
    from minirnn.errors import run_cli
    from minirnn.model import RNNLM
    text = tmp_path / "t.txt"
    text.write_text("abcdefgh ijklmnop\n" * 2000)                    # 36,000 chars: 225 windows of 2x8 held out
    calls = {"n": 0, "at": None}
    real = RNNLM.eval_loss

    def counting(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 60:                                            # inside the last pass, past --eval-windows
            calls["at"] = calls["n"]
            os.kill(os.getpid(), signal.SIGTERM)
        return real(self, *a, **k)
    monkeypatch.setattr(RNNLM, "eval_loss", counting)
    d = tmp_path / "ck"
    argv = ["--text", str(text), "--hidden", "8", "--layers", "1", "--batch", "2", "--seq", "8", "--iters", "4",
            "--eval-every", "4", "--eval-windows", "10", "--sample-every", "0", "--val-frac", "0.1",
            "--checkpoint-dir", str(d)]
    assert run_cli(train_char.main, argv) == 0
    out = capsys.readouterr().out
    assert calls["at"] == 60 and calls["n"] <= 61, calls               # stopped at the next window
    assert "whole validation split skipped" in out
    meta = checkpoint.load_meta(str(d / "latest.npz"))
    assert meta["iteration"] == 4
    lines = (d / "metrics.jsonl").read_text().splitlines()
    assert '"iter": 4' in lines[-1] and "val_loss_full" not in lines[-1]


def test_a_rate_that_drives_weights_past_the_loaders_bound_is_a_divergence(tmp_path, capsys):
    """--lr 1e30 drives the weights to 1e30 while the loss stays finite (tanh and sigmoid saturate): the
    run used to end 'done', exit 0, with checkpoints that every loader refuses (weights above 1e6).
    Now it is a divergence: exit 1, one line, no checkpoint of such weights."""
    import train_char
    from minirnn import checkpoint
    from minirnn.errors import run_cli
    text = tmp_path / "t.txt"
    text.write_text("abcdefgh ijklmnop\n" * 200)
    d = tmp_path / "ck"
    argv = ["--text", str(text), "--hidden", "8", "--layers", "1", "--batch", "2", "--seq", "8", "--iters", "4",
            "--eval-every", "2", "--eval-windows", "4", "--sample-every", "0", "--lr", "1e30", "--warmup", "0",
            "--checkpoint-dir", str(d)]
    assert run_cli(train_char.main, argv) == 1
    err = capsys.readouterr().err
    assert "training diverged" in err and "above 1e+06" in err
    for name in ("latest.npz", "best.npz"):
        if (d / name).exists():                                       # whatever was saved loads
            checkpoint.load(str(d / name))


def one_line_error(capsys) -> str:
    """The one error line (after any progress lines on stderr)."""
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert lines and lines[-1].startswith("error: ") and "Traceback" not in err, err
    assert not any(l.startswith("error: ") for l in lines[:-1]), err
    return lines[-1]


def test_get_corpus_mirror_and_trial_faults_are_named(tmp_path, capsys):
    """A --mirror that is not an http(s) address was an internal error (urllib's ValueError); a trial
    (--max-articles without --dump) whose file the mirror lacks was exit 1 where the full download says
    exit 2; a trial transfer the server cut was taken for a short dump ('no article with prose')."""
    import get_corpus
    from minirnn.errors import run_cli
    from wikidump import DumpServer, many_pages, publish
    date = "20250101"
    name = f"eswiki-{date}-pages-articles-multistream.xml.bz2"
    out, d = tmp_path / "c.txt", tmp_path / "dl"
    for mirror in ("not a url", "ftp://example.org", "dumps.wikimedia.org"):
        assert run_cli(get_corpus.main, ["--mirror", mirror, "--download-dir", str(d), "--out", str(out)]) == 2
        assert "--mirror" in one_line_error(capsys)
    root = tmp_path / "site"
    files = publish(root, "es", date, many_pages(300), per_stream=20)
    trial = ["--download-dir", str(d), "--out", str(out), "--max-articles", "5", "--workers", "1"]
    dump = root / "eswiki" / date / name
    dump.rename(dump.with_suffix(".gone"))                              # sha1sums list it, the mirror lacks it
    with DumpServer(root) as s:
        assert run_cli(get_corpus.main, ["--mirror", s.url, *trial]) == 2
    assert "HTTP 404" in one_line_error(capsys)
    dump.with_suffix(".gone").rename(dump)
    with DumpServer(root, drop={name: 500}) as s:                       # hangs up after 500 bytes
        assert run_cli(get_corpus.main, ["--mirror", s.url, *trial]) == 1
    err = one_line_error(capsys)
    assert f"cut after 500 of {len(files[name]):,} bytes" in err and not out.exists()
    assert not [n for n in os.listdir(d) if n.startswith(name)]          # no cut file taken for the dump later
    with DumpServer(root) as s:                                         # the next run works
        assert run_cli(get_corpus.main, ["--mirror", s.url, *trial]) == 0
    assert out.read_text().strip()


def test_inspect_char_huge_chars_on_a_small_text_reads_the_text(tmp_path, capsys):
    """--chars 999999999999 with a small --text: the text is read a chunk at a time (it was one
    TextIOWrapper.read(n), which allocates for n characters first: 'out of memory', exit 1)."""
    import inspect_char
    text = tmp_path / "t.txt"
    text.write_text("hola mundo\n" * 30)
    head = inspect_char.read_head(str(text), 999_999_999_999)
    assert head == "hola mundo\n" * 30
    assert inspect_char.read_head(str(text), 15) == "hola mundo\nhola"


def test_a_second_download_of_the_same_file_is_refused_and_ctrl_c_keeps_the_part(tmp_path, monkeypatch):
    """Two get_corpus runs with one --download-dir wrote one part together (bytes of two transfers
    mixed); the part is now locked for the whole download, so the second is refused with one line.
    Ctrl-C mid-transfer keeps the blocks written, and the next run resumes after them."""
    import fcntl
    data = os.urandom(3 << 20)
    path = tmp_path / "f.xml.bz2"
    part = tmp_path / "f.xml.bz2.part"
    with open(part, "wb") as held:                                      # another process downloading it
        fcntl.flock(held, fcntl.LOCK_EX)
        with FlakyServer(data) as s:
            with pytest.raises(UsageError, match="another process is downloading this file"):
                dl.fetch_file(s.url, str(path), hashlib.sha1(data).hexdigest(), wait=0.01)
        assert s.requests == [] and part.exists()
    part.unlink()
    write, calls = os.write, []

    def interrupted(fd, b):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return write(fd, b)
    monkeypatch.setattr(dl.os, "write", interrupted)
    with FlakyServer(data) as s:
        with pytest.raises(KeyboardInterrupt):
            dl.fetch_file(s.url, str(path), hashlib.sha1(data).hexdigest(), wait=0.01)
    kept = part.read_bytes()
    assert len(kept) >= 1 << 20 and data.startswith(kept)
    monkeypatch.setattr(dl.os, "write", write)
    with FlakyServer(data) as s:
        dl.fetch_file(s.url, str(path), hashlib.sha1(data).hexdigest(), wait=0.01)
    assert path.read_bytes() == data and s.requests == [f"bytes={len(kept)}-"] and not part.exists()


def test_a_signal_as_a_finished_script_exits_keeps_its_status():
    """A Ctrl-C or SIGTERM after the work is written, while the interpreter shuts down (it resets the
    Python handlers to the default there), killed the finished run: quantize reported -2, word2vec
    -15, though every file was written. After the script's end the two signals are ignored."""
    import subprocess
    import textwrap
    code = textwrap.dedent("""
        import atexit, os, signal, sys
        atexit.register(lambda: (os.kill(os.getpid(), signal.SIGTERM), os.kill(os.getpid(), signal.SIGINT)))
        from minirnn.errors import run_cli, startup
        startup("__main__")          # its exit hook runs before the one above (last registered, first run)
        sys.exit(run_cli(lambda argv: 0))
    """)
    r = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, timeout=60)
    assert r.returncode == 0 and r.stderr == b"", (r.returncode, r.stderr)
