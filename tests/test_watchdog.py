"""The embedded server ends with the mks-db that started it, even when that process is killed
with SIGKILL; one left by a run killed together with its watchdog is removed at the next start.
Real processes, a real PostgreSQL, real signals."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from alembic_cases import Rev, make_project
from conftest import wait_for
from mks_db.database import watchdog
from mks_db.database.installs import server_install
from mks_db.database.server import SERVER_USER, EmbeddedServer

pytestmark = pytest.mark.slow  # real processes and whole chains: the full suite's tier

MKS_DB = str(Path(sys.executable).parent / "mks-db")
SLOW = Rev("a1", None, 'op.execute("SELECT pg_sleep(60)")', "pass")


def runs(pid: int) -> bool:
    """True while ``pid`` is a live process (a zombie awaiting its reaper counts as gone)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def ready_server(tmp: Path) -> tuple[Path, int] | None:
    """The embedded server's directory under ``tmp`` and its postmaster's pid, once it accepts
    connections (postmaster.pid's status line says ``ready``)."""
    for root in tmp.glob("mks-db-pg-*"):
        try:
            lines = (root / "data" / "postmaster.pid").read_text().splitlines()
        except OSError:
            continue
        if len(lines) >= 8 and lines[7].strip() == "ready":
            return root, int(lines[0])
    return None


@pytest.fixture
def tmp():
    """A directory for TMPDIR that PostgreSQL's own user can reach too (run as root, the
    server runs as another user, who cannot enter pytest's private temporary directories)."""
    path = Path(tempfile.mkdtemp(prefix="mks-db-test-tmp-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def in_directory(monkeypatch, directory: Path) -> None:
    """The embedded server's directory goes under ``directory``, as TMPDIR says."""
    monkeypatch.setenv("TMPDIR", str(directory))
    monkeypatch.setattr(tempfile, "tempdir", None)  # tempfile reads TMPDIR again


@pytest.fixture
def running_mks_db(tmp, tmp_path):
    """``mks-db roundtrip`` of a project whose revision sleeps a minute, on the embedded server
    (its temporary directory under ``tmp``): yields (process, root, postmaster pid)."""
    ini = make_project(tmp_path / "project", [SLOW])
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "MKS_DB_SCRATCH_URL")}
    env["TMPDIR"] = str(tmp)
    process = subprocess.Popen(
        [MKS_DB, "roundtrip", "-c", str(ini)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        found = wait_for(lambda: ready_server(tmp) or process.poll() is not None, 60)
        assert process.poll() is None, f"mks-db ended first: {process.stderr.read()}"
        root, postmaster = found
        yield process, root, postmaster
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        for left in tmp.glob("mks-db-pg-*"):  # whatever a failed test left behind
            user = SERVER_USER if os.geteuid() == 0 else None
            watchdog.stop_and_remove(server_install().bin_dir, left, user)


def test_killing_mks_db_stops_its_embedded_server_and_removes_the_directory(running_mks_db):
    process, root, postmaster = running_mks_db
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    killed = time.monotonic()
    assert wait_for(lambda: not runs(postmaster) and not root.exists(), 10), (
        f"postmaster {postmaster} runs: {runs(postmaster)}; {root} exists: {root.exists()}"
    )
    print(f"embedded server gone {time.monotonic() - killed:.2f}s after SIGKILL", file=sys.stderr)


def command_line(process: psutil.Process) -> str:
    """A process's command line ('' for one that has just ended: a tool mks-db is reaping)."""
    try:
        return " ".join(process.cmdline())
    except psutil.Error:
        return ""


def test_a_server_left_by_a_run_killed_with_its_watchdog_is_removed_at_the_next_start(
    running_mks_db, monkeypatch
):
    process, root, postmaster = running_mks_db
    [guard] = [p for p in psutil.Process(process.pid).children() if "watchdog" in command_line(p)]
    guard.kill()
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    time.sleep(1)
    assert runs(postmaster) and root.is_dir()  # abandoned: nobody will stop it
    in_directory(monkeypatch, root.parent)
    with EmbeddedServer() as fresh:
        assert not root.exists() and not runs(postmaster)
        assert fresh.root.parent == root.parent
    assert list(root.parent.glob("mks-db-pg-*")) == []


def test_a_server_whose_owner_lives_is_left_alone(tmp, monkeypatch):
    in_directory(monkeypatch, tmp)
    with EmbeddedServer() as first, EmbeddedServer() as second:
        assert first.root.is_dir() and runs(first.pid()) and second.root.is_dir()
