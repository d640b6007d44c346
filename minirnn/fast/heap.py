"""Keep freed heap memory between training steps (glibc only): fewer page faults per step.

A training step allocates its activations, caches and gradients and frees nearly all of them by
the end. glibc's malloc gives the top of the heap back to the kernel (``brk`` down) whenever more
than its trim threshold is free there, so with arrays of a few MB the next step faults every page
in again, each one zeroed by the kernel. That threshold is twice the largest mmap-ed block freed
so far, so how often it happens depends on the sizes; small models suffer most, since the page
faults are a larger share of a short step. The step times and page-fault counts with and without
``keep_freed_heap()`` are in docs/studies.md, Engine.

``keep_freed_heap`` puts malloc where its own heuristic ends once it has freed a 32 MiB block:
blocks up to 32 MiB come from the heap (``M_MMAP_THRESHOLD``, glibc's largest dynamic value) and up
to 64 MiB free at its top stays there (``M_TRIM_THRESHOLD``, twice that). The cost is up to 64 MiB
of resident memory the process no longer uses. It is a process-wide malloc setting, so minirnn only
makes it where the CPU engine runs (the first time ``minirnn.fast.runs`` hands it work: a process
that trains or benchmarks on the CPU); set ``MINIRNN_KEEP_HEAP=0`` to skip it, or ``MINIRNN_FAST=0``
(the book alone never calls it). benchmarks/bench_rnn.py makes the same setting in its minirnn and
PyTorch CPU workers alike.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3   # glibc's mallopt parameter numbers (malloc.h)
MMAP_THRESHOLD = 32 << 20                      # bytes: DEFAULT_MMAP_THRESHOLD_MAX on 64-bit
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD
_applied = False


def keep_freed_heap() -> bool:
    """Ask glibc to serve blocks up to 32 MiB from the heap and keep up to 64 MiB of it free
    rather than return it to the kernel. Returns True where it took effect (Linux with glibc);
    False elsewhere or when ``MINIRNN_KEEP_HEAP=0``. Calling it again is harmless."""
    global _applied
    if os.environ.get("MINIRNN_KEEP_HEAP", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    if _applied:
        return True
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):              # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    _applied = (mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
                and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1)
    return _applied
