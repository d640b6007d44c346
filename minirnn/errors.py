"""User-facing errors: one line on stderr and exit status 2, never a traceback.

Library code raises ``UsageError`` (bad files, impossible hyper-parameters, unknown characters).
Scripts wrap their ``main`` in ``run_cli``, which turns it into ``error: <message>`` and exit 2.
"""
from __future__ import annotations

import sys

from .backend import BackendError


class UsageError(ValueError):
    """Bad input from the user: printed as one line, exit status 2."""


def run_cli(main, argv=None) -> int:
    """Run ``main(argv)``; a UsageError or BackendError becomes a one-line message and exit 2."""
    try:
        return int(main(argv) or 0)
    except (UsageError, BackendError) as e:
        msg = " ".join(str(e).split())  # always one line
        print(f"error: {msg}", file=sys.stderr)
        return 2


def require(condition: bool, message: str) -> None:
    """Raise UsageError(message) unless condition holds (for hyper-parameter checks)."""
    if not condition:
        raise UsageError(message)
