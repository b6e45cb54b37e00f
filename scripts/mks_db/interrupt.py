"""Ctrl-C and SIGTERM end a command promptly, even inside a long statement, and cleanly.

psycopg2 normally blocks signals until the server answers; with its ``wait_select`` callback a
KeyboardInterrupt cancels the running statement instead (psycopg2's documented way). The
cancelled statement then fails like any other, so the checks ask ``raise_if_requested()``
before turning a failure into a finding: an interruption is never reported as the revision's
fault, and every ``with`` block (scratch databases included) unwinds.
"""

from __future__ import annotations

import signal

import psycopg2.extensions
import psycopg2.extras

_requested = False
signal_number = signal.SIGINT  # the last signal received


def install() -> None:
    """Route SIGINT and SIGTERM through KeyboardInterrupt and make statements cancellable."""
    global _requested
    _requested = False
    psycopg2.extensions.set_wait_callback(psycopg2.extras.wait_select)
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum: int, frame: object) -> None:
    global _requested, signal_number
    _requested, signal_number = True, signum
    raise KeyboardInterrupt


def raise_if_requested() -> None:
    """Raise KeyboardInterrupt if a signal arrived (a failure may only be its echo)."""
    if _requested:
        raise KeyboardInterrupt
