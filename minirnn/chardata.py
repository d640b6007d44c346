"""Character data: a text file -> vocabulary -> ids -> B parallel streams cut into windows of T.

Encoding streams the file twice (once to find the characters, once to write their ids), so a large
text costs the ids array plus one chunk, never the whole text as a str as well.

Batching, as char-rnn does it
    ids (n,) --split by position--> train = ids[:n - n_val], val = ids[n - n_val:]
    train --cut into B equal streams--> x (B, S), y (B, S) with y the next character of x
    window k = (x[:, kT:(k+1)T], y[:, kT:(k+1)T]),  k = 0 .. S//T - 1
Consecutive windows continue each stream, so the hidden state is carried from one window to the
next (truncated BPTT) and reset at the start of every epoch and of every validation pass.
"""
from __future__ import annotations

import io

import numpy as np

from .errors import UsageError
from .textio import check_text_file

_CHUNK = 1 << 22  # characters decoded at a time


def read_chunks(path, chunk_chars=_CHUNK):
    """Yield the text of `path` in chunks of characters (UTF-8, BOM stripped, universal newlines);
    a non-UTF-8 byte is a UsageError naming where it is."""
    with io.TextIOWrapper(open(path, "rb"), encoding="utf-8-sig", newline=None) as f:
        done = 0
        while True:
            try:
                s = f.read(chunk_chars)
            except UnicodeDecodeError as e:
                raise UsageError(f"{path}: not valid UTF-8 (byte 0x{e.object[e.start]:02x} within "
                                 f"characters {done:,} to {done + chunk_chars:,})") from None
            if not s:
                return
            done += len(s)
            yield s


def _code_points(s: str) -> np.ndarray:
    return np.frombuffer(s.encode("utf-32-le"), dtype="<u4")  # (len(s),) Unicode code points


class CharVocab:
    """Characters sorted by code point; id i is chars[i]."""

    def __init__(self, chars):
        self.chars = list(chars)
        self.index = {ch: i for i, ch in enumerate(self.chars)}

    def __len__(self):
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        """Ids of `text`; unknown characters raise UsageError listing them."""
        unknown = sorted({ch for ch in text if ch not in self.index})
        if unknown:
            shown = " ".join(repr(ch) for ch in unknown[:20])
            raise UsageError(f"{len(unknown)} character(s) not in the model's vocabulary: {shown}")
        return np.array([self.index[ch] for ch in text], dtype=np.int64)

    def default_prime(self) -> str:
        """What sampling starts from when no prime is given: a newline, or the first character."""
        return "\n" if "\n" in self.index else self.chars[0]

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in ids)


def encode_file(path):
    """Read a text file into (ids, vocab). ids is uint16 when the vocabulary allows, else int32."""
    path = check_text_file(path)
    seen, n = set(), 0
    for s in read_chunks(path):                                  # pass 1: which characters, how many
        seen.update(np.unique(_code_points(s)).tolist())
        n += len(s)
    if n == 0 or not any(not chr(c).isspace() for c in seen):
        raise UsageError(f"{path}: the file holds no text")
    chars = sorted(seen)
    lut = np.full(max(chars) + 1, -1, dtype=np.int32)        # code point -> id, -1 for none seen
    lut[chars] = np.arange(len(chars))
    ids = np.empty(n, dtype=np.uint16 if len(chars) <= 65535 else np.int32)  # (n,)
    pos = 0
    for s in read_chunks(path):                                  # pass 2: write the ids
        cp = _code_points(s)                                     # (len(s),)
        if pos + len(s) > n or cp.max() >= len(lut) or (lut[cp] < 0).any():
            raise _changed(path)
        ids[pos:pos + len(s)] = lut[cp]
        pos += len(s)
    if pos != n:
        raise _changed(path)
    return ids, CharVocab(chr(c) for c in chars)


def _changed(path) -> UsageError:
    """The two passes read different texts: another process writes the file (a log, a download)."""
    return UsageError(f"{path}: the file changed while it was read (another process is writing it?); "
                      f"train on a copy that stays still")


class Windows:
    """B parallel streams of one id sequence, cut into windows of T (x, y), in order.

    data  (n,) ids.  Streams: x (B, S), y (B, S) with S = (n - 1) // B, y = x shifted by one.
    """

    def __init__(self, data, batch: int, seq: int):
        self.B, self.T = int(batch), int(seq)
        S = (len(data) - 1) // self.B
        self.n_windows = S // self.T
        used = self.B * S
        self.x = np.asarray(data[:used]).reshape(self.B, S)          # (B, S)
        self.y = np.asarray(data[1:used + 1]).reshape(self.B, S)     # (B, S)

    def __len__(self):
        return self.n_windows

    def window(self, k: int):
        """Window k: (x, y), each (B, T) int64 on the host."""
        s = slice(k * self.T, (k + 1) * self.T)
        return self.x[:, s].astype(np.int64), self.y[:, s].astype(np.int64)

    @property
    def chars_per_window(self) -> int:
        return self.B * self.T


def split(ids, val_frac: float, batch: int, seq: int, unit: str = "characters"):
    """(train Windows, val Windows): the last val_frac of the text is validation.

    Validation uses up to `batch` streams, fewer if its share is short. Raises UsageError when the
    text cannot fill one training batch of B x T and one validation window of T.
    """
    if not 0 < val_frac < 1:
        raise UsageError(f"--val-frac must be between 0 and 1, got {val_frac}")
    if batch < 1 or seq < 1:
        raise UsageError(f"--batch and --seq must be >= 1, got {batch} and {seq}")
    n = len(ids)
    n_val = int(n * val_frac)
    need_train, need_val = batch * seq + 1, seq + 1
    if n - n_val < need_train or n_val < need_val:
        raise UsageError(
            f"the text is too short: {n} {unit}, but --batch {batch} x --seq {seq} needs at least "
            f"{need_train} for training plus {need_val} for validation (--val-frac {val_frac}); "
            f"use a longer text or smaller --batch/--seq")
    train = Windows(ids[:n - n_val], batch, seq)
    val_streams = min(batch, (n_val - 1) // seq)
    val = Windows(ids[n - n_val:], val_streams, seq)
    return train, val
