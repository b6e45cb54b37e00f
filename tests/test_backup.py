"""A backup killed outright (``kill -9``) leaves nothing running and nothing behind for long:
its pg_dump dies with it (Linux), and the next backup in the directory removes the ``.partial``
of a run that has gone, names it, and leaves alone the one a running backup is writing. Real
processes, a real PostgreSQL, real signals, real files: pg_dump is kept waiting by a lock the
test holds on the table it must read."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

from conftest import wait_for
from mks_db.database.server import scratch_database
from mks_db.production.backup import backup

pytestmark = pytest.mark.slow  # real processes: the full suite's tier

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")

# mks-db's backup in a process of its own, as `mks-db backup` and `mks-db deploy` run it.
BACKUP = (
    "import sys, pathlib, sqlalchemy; from mks_db.production.backup import backup; "
    "backup(sqlalchemy.make_url(sys.argv[1]), pathlib.Path(sys.argv[2]))"
)
Started = Callable[[], tuple[subprocess.Popen, psutil.Process]]


def runs(pid: int) -> bool:
    """True while ``pid`` is a live process (a zombie awaiting its reaper counts as gone)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture
def blocked(pg_server, tmp_path) -> Iterator[tuple[Started, Path]]:
    """A starter of backup runs (``BACKUP``) whose pg_dump waits (a table of the database is
    locked by the test), each into the same backup directory: it returns the run and its
    pg_dump once pg_dump runs. Every process it started is gone afterwards."""
    directory = tmp_path / "backups"
    started: list[psutil.Process] = []
    with scratch_database(pg_server, "blocked") as url:
        engine = create_engine(url, poolclass=NullPool)
        with engine.connect() as holder:
            holder.execute(text("CREATE TABLE notes AS SELECT g AS id FROM generate_series(1, 100) g"))
            holder.commit()
            holder.execute(text("LOCK TABLE notes IN ACCESS EXCLUSIVE MODE"))
            try:
                yield lambda: _start(url, directory, started), directory
            finally:
                for process in started:
                    if runs(process.pid):
                        process.kill()
                holder.rollback()
        engine.dispose()


def _start(url: URL, directory: Path, started: list) -> tuple[subprocess.Popen, psutil.Process]:
    plain = url.render_as_string(hide_password=False)
    run = subprocess.Popen(
        [sys.executable, "-c", BACKUP, plain, str(directory)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    started.append(psutil.Process(run.pid))

    def dumping(process: psutil.Process) -> bool:  # not `pg_dump --version`, which finds the tools
        try:
            return process.name() == "pg_dump" and "--format=custom" in process.cmdline()
        except psutil.Error:
            return False

    def pg_dump() -> list[psutil.Process] | bool:
        return [p for p in started[-1].children() if dumping(p)] or run.poll() is not None

    found = wait_for(pg_dump, 60)
    assert run.poll() is None and found, f"the backup ended first: {run.stderr.read()}"
    started.extend(found)
    return run, found[0]


def killed(run: subprocess.Popen) -> None:
    run.send_signal(signal.SIGKILL)
    run.wait(10)
    run.stderr.close()


@linux_only
def test_pg_dump_dies_with_a_backup_killed_outright(blocked):
    start, _ = blocked
    run, pg_dump = start()
    killed(run)
    assert wait_for(lambda: not runs(pg_dump.pid), 5), (
        f"pg_dump (pid {pg_dump.pid}) still runs after the backup that started it was killed: "
        f"{pg_dump.cmdline()}"
    )


def test_the_next_backup_removes_and_names_the_partial_dump_of_a_killed_run_not_of_a_running_one(
    blocked, scratch_url
):
    start, directory = blocked
    run, pg_dump = start()
    [left] = directory.glob("*.dump.partial")
    running, _ = start()  # its own start leaves the first one's alone: that one still runs
    [writing] = set(directory.glob("*.dump.partial")) - {left}
    killed(run)
    wait_for(lambda: not runs(pg_dump.pid), 5)

    record = backup(scratch_url, directory)  # another database, in the same directory

    assert not left.exists() and writing.exists() and running.poll() is None
    assert record.leftovers == [str(left)]
    assert record.leftover_lines() == [
        f"backup: removed {left}, the partial dump of a backup that did not finish (no running "
        "mks-db holds it)"
    ]
    assert backup(scratch_url, directory).leftovers == []  # the running one's is still left alone
    assert writing.exists()
    killed(running)
