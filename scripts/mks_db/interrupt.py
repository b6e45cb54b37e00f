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
_once = False  # whether signals after the first are ignored (worker processes)
signal_number = signal.SIGINT  # the last signal received


def install(once: bool = False) -> None:
    """Route SIGINT and SIGTERM through KeyboardInterrupt and make statements cancellable.

    With ``once``, only the first signal interrupts; later ones are ignored, so the clean-up the
    first one started is not cut short.
    """
    global _requested, _once
    _requested, _once = False, once
    psycopg2.extensions.set_wait_callback(psycopg2.extras.wait_select)
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum: int, frame: object) -> None:
    if _requested and _once:
        return
    requested(signum)
    raise KeyboardInterrupt


def requested(signum: int) -> None:
    """Record that signal ``signum`` asked the command to stop (also when a worker received it)."""
    global _requested, signal_number
    _requested, signal_number = True, signum


def raise_if_requested() -> None:
    """Raise KeyboardInterrupt if a signal arrived (a failure may only be its echo)."""
    if _requested:
        raise KeyboardInterrupt
