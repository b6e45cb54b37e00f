"""Ctrl-C and SIGTERM end a command promptly, even inside a long statement, and cleanly.

psycopg2 normally blocks signals until the server answers; with a wait callback like its
``wait_select`` a KeyboardInterrupt cancels the running statement instead (psycopg2's
documented way). The cancelled statement then fails like any other, so the checks ask
``raise_if_requested()`` before turning a failure into a finding: an interruption is never
reported as the revision's fault, and every ``with`` block (scratch databases included)
unwinds. A statement that ends before the cancel reaches the server raises KeyboardInterrupt
itself (``wait_select`` would lose the interruption there).
"""

from __future__ import annotations

import select
import signal

import psycopg2.extensions

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
    psycopg2.extensions.set_wait_callback(_wait)
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)


def _wait(connection: psycopg2.extensions.connection) -> None:
    """Wait for the server's answer; a signal meanwhile cancels the statement (see above)."""
    cancelled = False
    while True:
        try:
            state = connection.poll()
            if state == psycopg2.extensions.POLL_OK:
                break
            if state == psycopg2.extensions.POLL_READ:
                select.select([connection.fileno()], [], [])
            elif state == psycopg2.extensions.POLL_WRITE:
                select.select([], [connection.fileno()], [])
            else:
                raise connection.OperationalError(f"bad state from poll: {state}")
        except KeyboardInterrupt:
            connection.cancel()  # the server ends the statement with an error, unless it is done
            cancelled = True
    if cancelled:
        raise KeyboardInterrupt


def _interrupt(signum: int, frame: object) -> None:
    if _requested and _once:
        return
    requested(signum)
    raise KeyboardInterrupt


def requested(signum: int) -> None:
    """Record that signal ``signum`` asked the command to stop (also when a worker received it)."""
    global _requested, signal_number
    _requested, signal_number = True, signum


def was_requested() -> bool:
    """Whether a signal asked the command to stop (any failure since may be its echo)."""
    return _requested


def raise_if_requested() -> None:
    """Raise KeyboardInterrupt if a signal arrived (a failure may only be its echo)."""
    if _requested:
        raise KeyboardInterrupt
