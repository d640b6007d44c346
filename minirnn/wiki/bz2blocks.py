"""One bz2 stream decompressed in parallel, block by block (as lbzip2 does).

A bz2 stream is the header ``BZh`` + the block size digit, then blocks of at most 900 kB of input each,
then an end-of-stream record, all packed as bits with no byte alignment:

    block           48-bit magic 0x314159265359 (pi), 32-bit CRC of the block's data, the block
    end of stream   48-bit magic 0x177245385090 (sqrt(pi)), 32-bit combined CRC, 0-7 bits of padding

Each block is decoded on its own (its own Huffman tables and Burrows-Wheeler transform), so the bits of
one block, given a header and an end of stream whose combined CRC is that block's CRC (the combined
CRC of a stream of one block is the block's CRC), are a stream of their own. ``marks`` finds the
magics at all 8 bit alignments as it reads the file; a worker process decodes a run of blocks with
``decompress_run``. So a dump compressed as one stream (``pages-articles.xml.bz2``) is not
decompressed by one core alone.

A magic may also occur by chance inside compressed data (about 8 chances in 2^48 per byte). The part
cut there fails its CRC, and ``decompress_run`` tries the next mark as its end; a part it cannot
decode within its run raises ``SplitError``, and the caller decompresses the stream in one piece.
"""
from __future__ import annotations

import bz2

BLOCK_MAGIC = 0x314159265359
END_MAGIC = 0x177245385090
BLOCK, END = 0, 1                # the kinds of mark
SCAN_BYTES = 1 << 20           # read at a time: the first jobs go out before the scan is over
TRIES = 3                        # marks tried as the end of a block before giving up on the split


class SplitError(OSError):
    """A block of the run did not decode at any of the marks: read the stream in one piece instead."""


def _patterns(magic: int) -> list:
    """(shift, bytes to search) for each bit alignment: the bytes that the magic fills whole when it
    starts `shift` bits into a byte (its 6 bytes at shift 0, 5 middle bytes otherwise)."""
    out = []
    for shift in range(8):
        window = (magic << (16 - shift)).to_bytes(8, "big")          # the magic at bit `shift` of 64 bits
        out.append((shift, window[:6] if shift == 0 else window[1:6]))
    return out


PATTERNS = ((BLOCK, BLOCK_MAGIC, _patterns(BLOCK_MAGIC)), (END, END_MAGIC, _patterns(END_MAGIC)))


def _find(data: bytes, base: int) -> list:
    """[(bit offset in the file, kind)] of the magics wholly inside `data`, which starts at byte `base`."""
    found = []
    for kind, magic, patterns in PATTERNS:
        for shift, pattern in patterns:
            lead = 0 if shift == 0 else 1                              # bytes before the searched ones
            i = data.find(pattern, lead)
            while i >= 0:
                p = i - lead                                           # the byte where the magic starts
                if p + 7 <= len(data):
                    window = int.from_bytes(data[p:p + 8].ljust(8, b"\0"), "big")
                    if (window >> (16 - shift)) & ((1 << 48) - 1) == magic:
                        found.append((8 * (base + p) + shift, kind))
                i = data.find(pattern, i + 1)
    return sorted(found)


def marks(f):
    """The (bit offset, BLOCK or END) of every magic in the bz2 file `f` (opened binary), in order, read
    SCAN_BYTES at a time (the last 7 bytes of one read are searched again with the next)."""
    base, keep, last = 0, b"", -1
    while True:
        chunk = f.read(SCAN_BYTES)
        data = keep + chunk
        for mark in _find(data, base - len(keep)):
            if mark[0] > last:
                last = mark[0]
                yield mark
        if not chunk:
            return
        keep, base = data[-7:], base + len(chunk)


def one_block_stream(raw: bytes, first_bit: int, start: int, end: int, level: bytes) -> bytes:
    """Bits [start, end) of the file (one block, from its magic), `raw` being the file's bytes from bit
    `first_bit` on, as a stream of its own: header, the block, an end of stream with the block's CRC."""
    lo, hi = (start - first_bit) // 8, (end - first_bit + 7) // 8
    seg, seg_first = raw[lo:hi], first_bit + 8 * lo                   # the block's bytes
    bits = (int.from_bytes(seg, "big") >> (8 * len(seg) - (end - seg_first))) & ((1 << (end - start)) - 1)
    crc = (bits >> (end - start - 80)) & 0xFFFFFFFF                   # the 32 bits after the block magic
    n = end - start + 80
    value = (((bits << 48) | END_MAGIC) << 32 | crc) << (-n % 8)
    return b"BZh" + level + value.to_bytes((n + 7) // 8, "big")


def decompress_run(raw: bytes, first_bit: int, run: list, level: bytes) -> bytes:
    """The data of the blocks of `run` ([(bit, kind)] marks: the first a BLOCK, the last the end of the
    run's last block), `raw` being the file's bytes from bit `first_bit` on. A part that does not decode
    (a magic found by chance inside a block) is extended to the next mark."""
    out, i = [], 0
    while i < len(run) - 1:
        if run[i][1] != BLOCK:                                         # an end of stream: skip to a block
            i += 1
            continue
        for j in range(i + 1, min(i + 1 + TRIES, len(run))):
            try:
                out.append(bz2.decompress(one_block_stream(raw, first_bit, run[i][0], run[j][0], level)))
                break
            except (OSError, EOFError, ValueError):
                continue
        else:
            raise SplitError(f"the bz2 block at bit {run[i][0]} does not decode alone")
        i = j
    return b"".join(out)
