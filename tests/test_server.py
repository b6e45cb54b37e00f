"""The embedded server: starts, serves scratch databases side by side, leaves nothing behind."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import psutil
import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from mks_db.database.server import (
    MEMORY_DIR,
    MEMORY_NEEDED,
    EmbeddedServer,
    admin_engine,
    files_dir,
    open_server,
    scratch_database,
)

pytestmark = pytest.mark.slow  # real processes and whole chains: the full suite's tier


def database_names(url) -> set[str]:
    with admin_engine(url).connect() as conn:
        return set(conn.execute(text("SELECT datname FROM pg_database")).scalars())


def test_embedded_server_serves_two_scratch_databases_and_leaves_nothing_behind():
    with EmbeddedServer() as embedded:
        root, pid = embedded.root, embedded.pid()
        assert pid is not None and root.is_dir()
        with open_server(embedded.url) as server:
            assert server.major >= 14
            with scratch_database(server) as first, scratch_database(server) as second:
                assert first.database != second.database
                for url in (first, second):
                    with admin_engine(url).connect() as conn:
                        conn.execute(text("CREATE TABLE t (id int)"))
                assert {first.database, second.database} <= database_names(server.url)
            assert not {first.database, second.database} & database_names(server.url)
    assert not root.exists()
    assert not postgres_runs(pid), f"postgres process {pid} still runs"


def postgres_runs(pid: int) -> bool:
    """True while ``pid`` is a live process (a zombie awaiting its reaper counts as gone)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_scratch_database_is_dropped_even_when_the_block_fails(pg_server):
    name = None
    try:
        with scratch_database(pg_server) as url:
            name = url.database
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert name not in database_names(pg_server.url)


def test_the_embedded_server_keeps_its_files_in_memory_when_there_is_room_unless_tmpdir_says(
    monkeypatch, tmp_path
):
    monkeypatch.delenv("TMPDIR", raising=False)
    try:
        room = shutil.disk_usage(MEMORY_DIR).free >= MEMORY_NEEDED
    except OSError:
        room = False
    assert files_dir() == (MEMORY_DIR if room else Path(tempfile.gettempdir()))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)
    assert files_dir() == tmp_path


def refused(url) -> str:
    """The error a connection to ``url`` gets ('' when it connects)."""
    try:
        with admin_engine(url).connect():
            return ""
    except OperationalError as exc:
        return str(exc.orig)


def test_only_the_password_made_for_it_opens_the_embedded_server():
    with EmbeddedServer() as embedded:
        assert refused(embedded.url) == ""
        assert "password authentication failed" in refused(embedded.url.set(password="guess"))
        without = embedded.url._replace(password=None)  # URL.set() keeps a password given None
        assert "no password supplied" in refused(without)
        socket_url = without._replace(host=None).set(query={"host": str(embedded.root)})
        assert "no password supplied" in refused(socket_url)  # the socket asks for it too


@pytest.mark.skipif(os.geteuid() != 0, reason="another local user can be played by root only")
def test_another_local_user_cannot_reach_the_embedded_server_and_it_runs_outside_root_s_groups():
    with EmbeddedServer() as embedded:
        psql = str(embedded.bin_dir / "psql")
        as_nobody = {
            "user": "nobody",
            "group": "nogroup",
            "extra_groups": [],
            "capture_output": True,
            "text": True,
        }
        by_tcp = subprocess.run(
            [psql, "-w", "-h", "127.0.0.1", "-p", str(embedded.port), "-U", "postgres", "-c", "SELECT 1"],
            **as_nobody,
            env={"PATH": os.environ["PATH"]},
        )
        by_socket = subprocess.run(
            [
                psql,
                "-w",
                "-h",
                str(embedded.root),
                "-p",
                str(embedded.port),
                "-U",
                "postgres",
                "-c",
                "SELECT 1",
            ],
            **as_nobody,
            env={"PATH": os.environ["PATH"]},
        )
        assert by_tcp.returncode != 0 and "password" in by_tcp.stderr
        assert by_socket.returncode != 0 and "Permission denied" in by_socket.stderr
        assert stat.S_IMODE(embedded.root.stat().st_mode) == 0o700
        for process in psutil.Process(embedded.pid()).children() + [psutil.Process(embedded.pid())]:
            status = Path(f"/proc/{process.pid}/status").read_text()
            gids = next(line for line in status.splitlines() if line.startswith("Gid:")).split()[1:]
            groups = next(line for line in status.splitlines() if line.startswith("Groups:")).split()[1:]
            assert process.uids().real != 0 and "0" not in gids + groups, status
