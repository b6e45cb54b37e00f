"""Running a program, in one place: how mks-db starts the tools it relies on (git, pg_ctl,
pg_dump, pg_restore, psql, sqlfluff, squawk, a deploy's stop and start commands) and how their
failure reads: one line naming what failed and how (its exit status, or the signal that killed
it), the program's last words with any ``user:password@`` masked, and what to do next.

A program started here dies with mks-db: on Linux it gets SIGKILL when mks-db ends, however
(``kill -9`` included), so no pg_dump goes on writing a backup nobody will verify
(``die_with_parent``). Elsewhere this does nothing, and a killed mks-db leaves its program to
run to its end.
"""

from __future__ import annotations

import ctypes
import functools
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from mks_db.database.urls import mask_text
from mks_db.errors import InfrastructureError, MksDbError

LAST_LINES = 4  # of a failed program's output, in its error message
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


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
    ``subprocess.run`` (cwd, env, user, umask, ...). The program dies with mks-db (Linux only,
    ``die_with_parent``) unless ``options`` bring their own ``preexec_fn``.
    """
    options.setdefault("preexec_fn", die_with_parent())
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False, **options)
    except OSError as exc:
        raise error(f"{what} could not start ({command[0]}): {exc.strerror}{hint}") from None
    if check and result.returncode != 0:
        raise error(f"{what} failed ({status(result)}):{(detail or last_lines)(result)}{hint}")
    return result


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` after which the program gets SIGKILL as soon as the thread that started
    it ends: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``, Linux only (None elsewhere, or without libc's
    ``prctl``: the program then outlives a killed mks-db, as any child does).

    ``run`` waits for its program in the thread that started it, so that thread ends only with
    mks-db. The setting holds across ``exec`` and is not inherited by the program's own
    children (pg_ctl's postmaster is the embedded server's watchdog's to stop). The function
    runs between fork and exec, so it only calls ``prctl``, resolved beforehand, and checks
    that mks-db did not die before the call took effect.
    """
    prctl = _prctl()
    if prctl is None:
        return None
    parent, kill = os.getpid(), int(signal.SIGKILL)

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, kill)
        if os.getppid() != parent:  # mks-db died before prctl: no signal will come
            os.kill(os.getpid(), kill)

    return preexec


@functools.cache
def _prctl() -> Callable[..., int] | None:
    """libc's ``prctl``, on Linux."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


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
