"""The embedded server ends with the process that started it, even one killed with SIGKILL.

PostgreSQL's postmaster runs detached from mks-db (``pg_ctl`` daemonizes it), so neither a
``finally`` block nor Linux's ``PR_SET_PDEATHSIG`` stops it when mks-db is killed outright. A
watchdog does: a small process started with the server, in a session of its own (so Ctrl-C
at the terminal leaves it to its work), that reads a pipe only mks-db holds open. When the pipe
closes (mks-db ended, however) it stops the server (``pg_ctl stop -m immediate``, then SIGKILL
if need be) and removes the server's directory. When mks-db stops the server itself, the
watchdog finds nothing left to do.

Run as ``python -m mks_db.database.watchdog BIN_DIR ROOT [USER]`` with the pipe as standard input.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

OWNER_FILE = "owner.pid"  # in the server's directory: the process id of the mks-db that owns it


def stop_and_remove(bin_dir: Path, root: Path, user: str | None = None) -> None:
    """Stop the server whose directory is ``root`` (if it runs) and delete ``root``."""
    data = root / "data"
    pid_file = data / "postmaster.pid"
    with contextlib.suppress(OSError, ValueError, IndexError):
        pid = int(pid_file.read_text().split()[0])
        result = subprocess.run(
            [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "-t", "10", "stop"],
            capture_output=True,
            check=False,
            **_as_user(user),
        )
        if result.returncode != 0:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    shutil.rmtree(root, ignore_errors=True)


def _as_user(name: str | None) -> dict:
    """Run as ``name`` in its own group only (mks_db.database.process.as_user; this script runs
    on its own, so it does not import the package)."""
    if name is None:
        return {}
    import pwd

    entry = pwd.getpwnam(name)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def owner_gone(root: Path) -> bool:
    """Whether the mks-db that made ``root`` has ended (False when unknown: its owner file is
    missing or unreadable, or the process lives, possibly as another user)."""
    try:
        pid = int((root / OWNER_FILE).read_text().strip())
    except (OSError, ValueError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def main(argv: list[str]) -> int:
    bin_dir, root = Path(argv[0]), Path(argv[1])
    user = argv[2] if len(argv) > 2 else None
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while os.read(0, 4096):  # returns b"" once every writer has gone
        pass
    stop_and_remove(bin_dir, root, user)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
