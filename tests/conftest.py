"""Shared fixtures: one real PostgreSQL server per test session, scratch databases per test.

The server is the one ``DATABASE_URL`` names when set (CI's service container), else the
embedded PostgreSQL ``mks-db`` starts (``mks_db.database.installs``), started for the session and
removed afterwards (in memory when there is room: ``mks_db.database.server.files_dir``). And the
helpers the tests share: ``git``, ``sql``, ``wait_for``, ``run_json``.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from alembic.config import Config
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

from alembic_cases import MODELS, make_project
from check_cases import DATABASE_COMMANDS
from mks_db.cli import main
from mks_db.database.server import SCRATCH_PREFIX, Server, admin_engine, open_server, scratch_database

REPO = Path(__file__).resolve().parents[1]
# For git and the project's tools in the tests' own repositories: this environment's tools
# first, a fixed identity, and none of the caller's GIT_* variables (a hook's GIT_DIR, say).
GIT_ENV = {
    **{name: value for name, value in os.environ.items() if not name.startswith("GIT_")},
    "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    "GIT_AUTHOR_NAME": "dev",
    "GIT_AUTHOR_EMAIL": "dev@example.com",
    "GIT_COMMITTER_NAME": "dev",
    "GIT_COMMITTER_EMAIL": "dev@example.com",
}


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, check=True, capture_output=True)


def alembic_config(url: URL | None = None, output: io.StringIO | None = None) -> Config:
    """This repository's alembic.ini, pointed at ``url`` (offline when None)."""
    config = Config(str(REPO / "alembic.ini"), output_buffer=output)
    if url is not None:  # a %-encoded password must survive the ini file's interpolation
        config.set_main_option("sqlalchemy.url", url.render_as_string(hide_password=False).replace("%", "%%"))
    return config


def repository_copy(root: Path) -> Path:
    """This repository's files (as in the working tree, untracked ones too) in a new git
    repository at ``root``, committed on main, which also stands for origin/main."""
    names = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        env=GIT_ENV,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in names:
        if (REPO / name).is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, root / name)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "main", "--no-verify")
    git(root, "update-ref", "refs/remotes/origin/main", "HEAD")
    return root


def run_json(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, dict]:
    """``mks-db ARGS --format json`` in this process: its exit status and its report."""
    code = main([*args, "--format", "json"])
    captured = capsys.readouterr()
    assert captured.out, f"exit {code}: {captured.err}"
    return code, json.loads(captured.out)


def pyproject(directory: Path, text: str) -> Path:
    """``directory`` with a pyproject.toml of ``text``."""
    (directory / "pyproject.toml").write_text(text)
    return directory


def sql(url: URL | str, statement: str, **params) -> list | None:
    """Run one statement on ``url``'s database in a connection of its own (autocommit); its
    rows, None for a statement that returns none."""
    engine = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            result = connection.execute(text(statement), params)
            return result.all() if result.returns_rows else None
    finally:
        engine.dispose()


def wait_for(condition: Callable[[], object], seconds: float, step: float = 0.1):
    """Poll ``condition`` until it returns something true or ``seconds`` pass; its last value."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(step)


def scratch_databases(server: Server) -> set[str]:
    """The names of the scratch databases on ``server`` now."""
    with admin_engine(server.url).connect() as conn:
        names = conn.execute(text("SELECT datname FROM pg_database")).scalars()
        return {n for n in names if n.startswith(SCRATCH_PREFIX)}


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Server]:
    url = os.environ.get("DATABASE_URL")
    with open_server(url) as server:  # the embedded one keeps its files in memory when it can
        yield server


@pytest.fixture
def scratch_url(pg_server: Server) -> Iterator[URL]:
    with scratch_database(pg_server, "test") as url:
        yield url


@pytest.fixture
def server_url(pg_server: Server) -> str:
    """The server's URL as text, for ``--database-url`` and ``DATABASE_URL``."""
    return pg_server.url.render_as_string(hide_password=False)


def run_on(capsys, ini, command="check", *extra, server_url):
    """``mks-db COMMAND -c INI`` (with ``--database-url`` for a command that takes it): its exit
    status and report."""
    database = ["--database-url", server_url] if command in DATABASE_COMMANDS else []
    return run_json(capsys, command, "-c", str(ini), *database, *extra)


def only(report, check):
    """The report's findings of ``check``."""
    return [f for f in report["findings"] if f["check"] == check]


def errors(report):
    """The report's error findings."""
    return [f for f in report["findings"] if f["severity"] == "error"]


@pytest.fixture
def check(capsys, tmp_path, server_url):
    """Build a project from revisions (and models), run ``mks-db COMMAND`` on it (``check``
    unless the test names the command that checks what it asserts)."""

    def _check(revisions, models=None, env="connection", command="check"):
        models = MODELS.format(extra="") if models is None else models
        ini = make_project(tmp_path, revisions, models, env)
        return run_on(capsys, ini, command, server_url=server_url)

    return _check
