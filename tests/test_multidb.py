"""Alembic's ``multidb`` template as ``alembic init -t multidb`` makes it: each database of
``databases`` is checked in a scratch database of its own (the others given empty ones), its
findings named after it; offline, each database's SQL is rendered and linted apart, and
env.py's own per-database files are never written into the project. The revisions are
written as the template's ``alembic revision`` makes them and proven with ``alembic upgrade``
and ``downgrade`` first."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from mks_db.database.server import admin_engine, drop_database

pytestmark = pytest.mark.slow  # real alembic commands and whole checks: the full suite's tier

BIN = Path(sys.executable).parent
UNREACHABLE = "postgresql://app:app-secret@127.0.0.1:1/{name}"

# The two revisions' bodies, per database: engine1 gets a table, engine2 a table, then an index.
BODIES = {
    "first": {
        "upgrade_engine1": 'op.create_table("account", sa.Column("id", sa.Integer, primary_key=True))',
        "downgrade_engine1": 'op.drop_table("account")',
        "upgrade_engine2": 'op.create_table("profile", sa.Column("id", sa.Integer, primary_key=True),\n'
        '                    sa.Column("name", sa.Text))',
        "downgrade_engine2": 'op.drop_table("profile")',
    },
    "second": {
        "upgrade_engine2": 'op.create_index("ix_profile_name", "profile", ["name"])',
        "downgrade_engine2": 'op.drop_index("ix_profile_name", table_name="profile")',
    },
}


def run(root: Path, *command: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return subprocess.run(
        [str(BIN / command[0]), *command[1:]],
        cwd=root,
        env={**environment, **env},
        capture_output=True,
        text=True,
    )


def set_urls(root: Path, urls: dict[str, str]) -> None:
    ini = root / "alembic.ini"
    lines = ini.read_text().splitlines()
    section = None
    for i, line in enumerate(lines):
        if line.startswith("["):
            section = line.strip("[]")
        elif section in urls and line.startswith("sqlalchemy.url"):
            lines[i] = f"sqlalchemy.url = {urls[section]}"
    ini.write_text("\n".join(lines) + "\n")


def write_body(revision: Path, function: str, body: str) -> None:
    source = revision.read_text()
    head = f"def {function}() -> None:\n"
    start = source.index(head) + len(head)
    end = source.index("\n\n", start)
    revision.write_text(source[:start] + "    " + body + source[end:])


@pytest.fixture
def dev_databases(pg_server):
    names = [f"multidb_{n}_{uuid.uuid4().hex[:8]}" for n in (1, 2)]
    with admin_engine(pg_server.url).connect() as connection:
        for name in names:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield [pg_server.database_url(n).render_as_string(hide_password=False) for n in names]
    for name in names:
        drop_database(pg_server, name)


@pytest.fixture
def project(tmp_path, dev_databases) -> Path:
    """A multidb project of two revisions, proven with alembic against two real databases; its
    alembic.ini then names unreachable servers, as a checkout's would name production's."""
    root = tmp_path / "project"
    root.mkdir()
    assert run(root, "alembic", "init", "-t", "multidb", "migrations").returncode == 0
    set_urls(root, dict(zip(("engine1", "engine2"), dev_databases, strict=True)))
    for message, bodies in BODIES.items():
        done = run(root, "alembic", "revision", "-m", message)
        assert done.returncode == 0, done.stderr
        [revision] = (root / "migrations" / "versions").glob(f"*_{message}.py")
        for function, body in bodies.items():
            write_body(revision, function, body)
    for command in (["upgrade", "head"], ["downgrade", "base"], ["upgrade", "head"]):
        done = run(root, "alembic", *command)
        assert done.returncode == 0, done.stderr
    set_urls(root, {e: UNREACHABLE.format(name=e) for e in ("engine1", "engine2")})
    return root


def check(root: Path, server_url: str, command: str = "check") -> tuple[int, dict, str]:
    done = run(root, "mks-db", command, "--format", "json", DATABASE_URL=server_url)
    assert "Traceback" not in done.stderr and "app-secret" not in done.stdout + done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout), done.stderr


def test_each_database_of_the_multidb_template_is_checked_and_passes(project, server_url):
    code, report, err = check(project, server_url)
    assert (code, report["ok"]) == (0, True), (report, err)
    assert report["revisions"] == 2
    sql = project / "build" / "migration-sql"
    assert not list(sql.glob("*.sql")) and (sql / "engine1").is_dir() and (sql / "engine2").is_dir()
    upgrade = next((sql / "engine2").glob("*.upgrade.sql"), None)
    assert "CREATE TABLE profile" in "".join(p.read_text() for p in (sql / "engine2").glob("*.upgrade.sql"))
    assert upgrade and "account" not in "".join(p.read_text() for p in (sql / "engine2").glob("*.sql"))
    assert not list(project.glob("engine*.sql")), "env.py's offline files were written into the project"


def test_a_downgrade_that_leaves_an_index_in_the_second_database_is_named_after_it(project, server_url):
    [second] = (project / "migrations" / "versions").glob("*_second.py")
    write_body(second, "downgrade_engine2", "pass")
    code, report, err = check(project, server_url)
    assert code == 1, (report, err)
    [finding] = [f for f in report["findings"] if f["severity"] == "error"]
    assert finding["check"] == "roundtrip" and finding["message"].startswith("[engine2] "), finding
    assert "ix_profile_name" in finding["message"], finding


def test_production_commands_refuse_a_project_of_several_databases_in_one_line(project, server_url):
    done = run(project, "mks-db", "plan", "--database-url", server_url)
    assert done.returncode == 2, done.stderr
    [line] = [line for line in done.stderr.splitlines() if line.strip()]
    assert "acts on one database" in line and "engine1, engine2" in line, line
