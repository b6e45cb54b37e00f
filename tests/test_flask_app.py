"""Flask-Migrate projects as they are: made by the real ``flask db init`` and ``flask db migrate``,
proven with ``flask db upgrade`` and ``downgrade``, then checked by ``mks-db`` from the project's
root with nothing but the application to find (no alembic.ini there, no script_location in
Flask-Migrate's). The database the application is configured with is never contacted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from mks_db.database.server import admin_engine, drop_database

pytestmark = pytest.mark.slow  # real flask commands and whole checks: the full suite's tier

BIN = Path(sys.executable).parent
APP = """
import os

from flask import Flask
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

db = SQLAlchemy()
migrate = Migrate()


class Account(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    email = db.Column(db.String(100), nullable=False, index=True){table_args}


def create_app():
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["APP_DATABASE_URL"]
    db.init_app(app)
    migrate.init_app(app, db{directory})
    return app
"""
# The application's own database, as production's settings would name it: unreachable, never tried.
PRODUCTION = "postgresql+psycopg2://app:app-secret@127.0.0.1:1/production"


def run(root: Path, command: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "FLASK_APP")}
    return subprocess.run(
        [str(BIN / command[0]), *command[1:]],
        cwd=root,
        env={**environment, **env},
        capture_output=True,
        text=True,
    )


@pytest.fixture
def dev_database(pg_server):
    """The developer's database ``flask db migrate`` autogenerates against."""
    name = f"flask_dev_{uuid.uuid4().hex[:10]}"
    with admin_engine(pg_server.url).connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield pg_server.database_url(name).render_as_string(hide_password=False)
    drop_database(pg_server, name)


# The model's second release: an index on columns the table already has.
INDEXED = '\n    __table_args__ = (db.Index("ix_account_email_id", "email", "id"),)'


def flask_project(root: Path, dev_url: str, file: str = "app.py", directory: str | None = None) -> Path:
    """A Flask application with Flask-Migrate, two releases of its model each migrated with
    ``flask db migrate`` (the table, then an index on it), proven by upgrading and downgrading
    them with flask; the second revision's file."""
    root.mkdir()
    source = APP.replace("{directory}", f", directory={directory!r}" if directory else "")
    app = ["--app", f"{Path(file).stem}:create_app"]

    def flask(*command: str) -> None:
        done = run(root, ["flask", *app, *command], APP_DATABASE_URL=dev_url)
        assert done.returncode == 0, done.stderr

    (root / file).write_text(source.replace("{table_args}", ""))
    flask("db", "init", *(["--directory", directory] if directory else []))
    flask("db", "migrate", "-m", "accounts")
    flask("db", "upgrade")
    (root / file).write_text(source.replace("{table_args}", INDEXED))
    flask("db", "migrate", "-m", "index accounts by email")
    flask("db", "upgrade")
    flask("db", "downgrade", "base")
    [second] = [
        p for p in (root / (directory or "migrations") / "versions").glob("*.py") if "index" in p.name
    ]
    return second


def check(root: Path, server_url: str, *flags: str) -> tuple[int, dict, str]:
    done = run(
        root,
        ["mks-db", "check", "--format", "json", *flags],
        DATABASE_URL=server_url,
        APP_DATABASE_URL=PRODUCTION,
    )
    assert "Traceback" not in done.stderr and "app-secret" not in done.stdout + done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout), done.stderr


def test_a_flask_migrate_project_is_found_from_its_root_and_passes(tmp_path, server_url, dev_database):
    flask_project(tmp_path / "project", dev_database)
    code, report, err = check(tmp_path / "project", server_url)
    assert (code, report["ok"]) == (0, True), (report, err)
    assert report["revisions"] == 2


def test_a_forgotten_index_drop_in_a_flask_migrate_revision_is_a_roundtrip_error(
    tmp_path, server_url, dev_database
):
    revision = flask_project(tmp_path / "project", dev_database)
    source = revision.read_text()
    forgotten = "batch_op.drop_index('ix_account_email_id')"
    assert forgotten in source  # as flask db migrate wrote it
    revision.write_text(source.replace(forgotten, "pass"))
    code, report, err = check(tmp_path / "project", server_url)
    assert code == 1, (report, err)
    [finding] = [f for f in report["findings"] if f["severity"] == "error"]
    assert finding["check"] == "roundtrip" and "ix_account_email_id" in finding["message"]


def test_a_factory_in_another_module_with_its_own_directory_is_named_with_app(
    tmp_path, server_url, dev_database
):
    root = tmp_path / "project"
    flask_project(root, dev_database, file="server.py", directory="db_migrations")
    code, report, err = check(root, server_url)  # nothing flask finds by itself
    assert code == 2 and "--app" in err, (report, err)
    code, report, err = check(root, server_url, "--app", "server:create_app")
    assert (code, report["ok"]) == (0, True), (report, err)
    done = run(root, ["mks-db", "heads"], FLASK_APP="server:create_app", APP_DATABASE_URL=PRODUCTION)
    assert done.returncode == 0, done.stderr
    (root / "pyproject.toml").write_text(textwrap.dedent('[tool.mks-db]\nflask-app = "server:create_app"\n'))
    code, report, err = check(root, server_url)
    assert (code, report["ok"]) == (0, True), (report, err)


MULTIDB_APP = """
import os

from flask import Flask
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

db = SQLAlchemy()
migrate = Migrate()


class Account(db.Model):
    id = db.Column(db.Integer, primary_key=True)


class Profile(db.Model):
    __bind_key__ = "users"
    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(100), nullable=False){table_args}


def create_app():
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["APP_DATABASE_URL"]
    app.config["SQLALCHEMY_BINDS"] = {"users": os.environ["APP_USERS_URL"]}
    db.init_app(app)
    migrate.init_app(app, db)
    return app
"""


@pytest.fixture
def users_database(pg_server):
    """The developer's second database, the ``users`` bind's."""
    name = f"flask_users_{uuid.uuid4().hex[:10]}"
    with admin_engine(pg_server.url).connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield pg_server.database_url(name).render_as_string(hide_password=False)
    drop_database(pg_server, name)


def test_a_flask_multidb_project_is_checked_database_by_database(
    tmp_path, server_url, dev_database, users_database
):
    root = tmp_path / "project"
    root.mkdir()
    urls = {"APP_DATABASE_URL": dev_database, "APP_USERS_URL": users_database}

    def flask(*command: str) -> None:
        done = run(root, ["flask", "--app", "app:create_app", *command], **urls)
        assert done.returncode == 0, done.stderr

    (root / "app.py").write_text(MULTIDB_APP.replace("{table_args}", ""))
    flask("db", "init", "--multidb")
    flask("db", "migrate", "-m", "accounts and profiles")
    flask("db", "upgrade")
    (root / "app.py").write_text(
        MULTIDB_APP.replace("{table_args}", '\n    __table_args__ = (db.Index("ix_profile_name", "name"),)')
    )
    flask("db", "migrate", "-m", "index profiles by name")
    flask("db", "upgrade")
    flask("db", "downgrade", "base")
    [second] = [p for p in (root / "migrations" / "versions").glob("*.py") if "index" in p.name]

    unreachable = {"APP_USERS_URL": PRODUCTION.replace("production", "users")}
    done = run(
        root,
        ["mks-db", "check", "--format", "json"],
        DATABASE_URL=server_url,
        APP_DATABASE_URL=PRODUCTION,
        **unreachable,
    )
    report = json.loads(done.stdout)
    assert (done.returncode, report["ok"]) == (0, True), (report, done.stderr)

    source = second.read_text()
    forgotten = "batch_op.drop_index('ix_profile_name')"
    assert forgotten in source.split("def downgrade_users")[1]  # as flask db migrate wrote it
    second.write_text(source.replace(forgotten, "pass"))
    done = run(
        root,
        ["mks-db", "check", "--format", "json"],
        DATABASE_URL=server_url,
        APP_DATABASE_URL=PRODUCTION,
        **unreachable,
    )
    report = json.loads(done.stdout)
    assert done.returncode == 1, (report, done.stderr)
    [finding] = [f for f in report["findings"] if f["severity"] == "error"]
    assert finding["check"] == "roundtrip", finding
    assert finding["message"].startswith("[users] ") and "ix_profile_name" in finding["message"], finding
    rendered = {p.parent.name for p in root.rglob("*.upgrade.sql")}
    assert rendered == {"default", "users"}, rendered  # each database's SQL, linted apart
    assert not [*root.rglob(".sql"), *root.rglob("users.sql")], (
        "offline rendering wrote env.py files into the project"
    )
