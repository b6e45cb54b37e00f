"""A live progress line on a terminal: what the command is doing, elapsed time, revision i of N.

Written to standard error (standard output carries only the report), and only when standard
error is a terminal: in CI logs and pipes nothing is written. Each update replaces the line;
``line`` writes one that stays above it (a revision's verdict, as it is reached); ``clear``
removes the live line before the report is printed.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """One line on ``stream`` (default: standard error), rewritten at each ``say``."""

    def __init__(self, stream: TextIO | None = None, enabled: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.started = time.perf_counter()

    def say(self, text: str) -> None:
        if self.enabled:
            elapsed = time.perf_counter() - self.started
            self.stream.write(f"\r\033[K{elapsed:6.1f}s  {text}")
            self.stream.flush()

    def line(self, text: str) -> None:
        """A line that stays (a revision's verdict): written above the live line."""
        if self.enabled:
            self.stream.write(f"\r\033[K{text}\n")
            self.stream.flush()

    def clear(self) -> None:
        if self.enabled:
            self.stream.write("\r\033[K")
            self.stream.flush()
