"""The embedded server: starts, serves scratch databases side by side, leaves nothing behind."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import psutil
import pytest
from sqlalchemy import text

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
