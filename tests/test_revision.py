"""``mks-db revision``: the daily workflow's autogenerate without a database of one's own (a
scratch database at head on the embedded server), and with ``DATABASE_URL``, Alembic's own
``revision`` against the database it names."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import alembic
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text

from alembic_cases import Rev, make_project
from mks_db.cli import main
from mks_db.database.server import admin_engine, drop_database

pytestmark = pytest.mark.slow  # the embedded server and whole checks: the full suite's tier

BASE = Rev(
    "a1",
    None,
    'op.create_table("account", sa.Column("id", sa.Integer, primary_key=True),\n'
    '                sa.Column("email", sa.String(100), nullable=False))',
    'op.drop_table("account")',
)
MODELS = """
import sqlalchemy as sa
target_metadata = sa.MetaData()
sa.Table("account", target_metadata, sa.Column("id", sa.Integer, primary_key=True),
         sa.Column("email", sa.String(100), nullable=False){extra})
"""
AGE = ', sa.Column("age", sa.Integer)'


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project at revision a1 whose models have gained a column since."""
    ini = make_project(tmp_path / "project", [BASE], MODELS.format(extra=AGE))
    template = Path(alembic.__file__).parent / "templates" / "generic" / "script.py.mako"
    shutil.copy(template, ini.parent / "migrations" / "script.py.mako")  # as alembic init writes it
    monkeypatch.chdir(ini.parent)
    return ini


def written(ini) -> list:
    return [p for p in (ini.parent / "migrations" / "versions").glob("*.py") if p.name != "a1.py"]


def test_autogenerate_needs_no_database_of_ones_own(project, monkeypatch, capsys, server_url):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert main(["revision", "-c", str(project), "--autogenerate", "-m", "add account age"]) == 0
    out = capsys.readouterr().out
    [revision] = written(project)
    assert f"wrote migrations/versions/{revision.name}" in out, out
    source = revision.read_text()
    assert "op.add_column('account', sa.Column('age', sa.Integer()" in source.replace('"', "'"), source
    assert "op.drop_column('account', 'age')" in source.replace('"', "'"), source
    assert "create_table" not in source  # compared with the schema at head, not an empty database
    # The revision it wrote passes every check, models included.
    assert main(["check", "-c", str(project), "--database-url", server_url]) == 0, capsys.readouterr().out


def test_a_plain_revision_is_written_without_comparing(project, monkeypatch, capsys):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert main(["revision", "-c", str(project), "-m", "by hand", "--rev-id", "b2"]) == 0
    [revision] = written(project)
    assert revision.name == "b2_by_hand.py" and "def upgrade() -> None:" in revision.read_text()


def test_with_database_url_the_database_it_names_is_compared_as_alembic_does(
    project, monkeypatch, capsys, pg_server
):
    env = project.parent / "migrations" / "env.py"  # reads DATABASE_URL, as this repository's does
    online = 'url = config.get_main_option("sqlalchemy.url")\n        connection'
    assert online in env.read_text()
    env.write_text(
        env.read_text().replace(online, 'url = __import__("os").environ["DATABASE_URL"]\n        connection')
    )
    names = [f"dev_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    with admin_engine(pg_server.url).connect() as connection:
        for name in names:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        at_head, empty = (pg_server.database_url(n).render_as_string(hide_password=False) for n in names)
        monkeypatch.setenv("DATABASE_URL", at_head)
        command.upgrade(Config(str(project)), "head")  # the developer's database, at head
        assert main(["revision", "-c", str(project), "--autogenerate", "-m", "add age"]) == 0
        [revision] = written(project)
        assert "add_column" in revision.read_text() and "create_table" not in revision.read_text()
        revision.unlink()
        # A database not at head: alembic refuses to compare, and so does mks-db, in one line.
        monkeypatch.setenv("DATABASE_URL", empty)
        assert main(["revision", "-c", str(project), "--autogenerate", "-m", "add age"]) == 2
        err = capsys.readouterr().err
        assert "Target database is not up to date" in err and "python3 -m alembic upgrade head" in err
        assert "unset DATABASE_URL" in err
        assert written(project) == []
    finally:
        for name in names:
            drop_database(pg_server, name)
