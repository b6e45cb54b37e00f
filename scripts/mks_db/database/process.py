"""Running a program, in one place: how mks-db starts the tools it relies on (git, pg_ctl,
pg_dump, pg_restore, psql, sqlfluff, squawk, a deploy's stop and start commands) and how their
failure reads: one line naming what failed and how (its exit status, or the signal that killed
it), the program's last words with any ``user:password@`` masked, and what to do next.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable
from typing import Any

from mks_db.database.urls import mask_text
from mks_db.errors import InfrastructureError, MksDbError

LAST_LINES = 4  # of a failed program's output, in its error message


def run(
    command: list[str],
    what: str,
    *,
    error: type[MksDbError] = InfrastructureError,
    hint: str = "",
    check: bool = True,
    detail: Callable[[subprocess.CompletedProcess], str] | None = None,
    **options: Any,
) -> subprocess.CompletedProcess:
    """Run ``command`` (output captured as text) and return its result.

    A program that cannot start (not installed, not executable) raises ``error``; so does one
    that fails, when ``check``. The message is ``"{what} failed ({status}):{detail}{hint}"``;
    ``detail`` (default: the last lines of its output, masked) may tell more. ``options`` go to
    ``subprocess.run`` (cwd, env, user, umask, ...).
    """
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False, **options)
    except OSError as exc:
        raise error(f"{what} could not start ({command[0]}): {exc.strerror}{hint}") from None
    if check and result.returncode != 0:
        raise error(f"{what} failed ({status(result)}):{(detail or last_lines)(result)}{hint}")
    return result


def status(result: subprocess.CompletedProcess) -> str:
    """``exit N``, or the signal that killed the program (SIGXFSZ: a file size limit; SIGKILL:
    out of memory, most often)."""
    if result.returncode < 0:
        return f"killed by {signal.Signals(-result.returncode).name}"
    return f"exit {result.returncode}"


def last_lines(result: subprocess.CompletedProcess, count: int = LAST_LINES) -> str:
    """The last ``count`` lines of a program's error output (else its output), on one line."""
    lines = (result.stderr or result.stdout or "").strip().splitlines() or ["(no message)"]
    return " " + " | ".join(mask_text(line.strip()) for line in lines[-count:])


def as_user(name: str | None) -> dict[str, Any]:
    """``subprocess`` options that run a program as user ``name`` in that user's own group and
    no other (``user=`` alone would keep the caller's groups: root's, under root), or none."""
    if name is None:
        return {}
    import pwd  # POSIX only, like running as another user

    entry = pwd.getpwnam(name)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
