"""Small Alembic projects built in a temporary directory, one defect each (or none).

``make_project(tmp_path, revisions, ...)`` writes alembic.ini, env.py and one file per
revision. env.py is either the stock ``alembic init`` one (URL from ``sqlalchemy.url``) or one
that takes a Connection from ``config.attributes["connection"]``; its ``target_metadata`` is
built from the ``models`` source given, so each project has its own models.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

INI = """\
[alembic]
script_location = %(here)s/migrations
path_separator = os
sqlalchemy.url =

[loggers]
keys = root

[handlers]
keys =

[formatters]
keys =

[logger_root]
level = WARNING
handlers =
"""

STOCK_ENV = """\
from logging.config import fileConfig

from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name)

{models}

def set_timeouts():
    context.execute("SET lock_timeout = '5s'")
    context.execute("SET statement_timeout = '5min'")


def run_migrations_offline():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True, include_schemas=True)
    set_timeouts()
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    connectable = engine_from_config(config.get_section(config.config_ini_section, {{}}),
                                     prefix="sqlalchemy.", poolclass=pool.NullPool)
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata,
                          include_schemas=True, compare_server_default=True)
        with context.begin_transaction():
            set_timeouts()
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
"""

CONNECTION_ENV = """\
from alembic import context
from sqlalchemy import create_engine, pool

config = context.config

{models}

def set_timeouts():
    context.execute("SET lock_timeout = '5s'")
    context.execute("SET statement_timeout = '5min'")


def run_migrations_online():
    lent = config.attributes.get("connection")
    connection = lent
    if connection is None:
        url = config.get_main_option("sqlalchemy.url")
        connection = create_engine(url, poolclass=pool.NullPool).connect()
    try:
        context.configure(connection=connection, target_metadata=target_metadata, include_schemas=True,
                          transaction_per_migration=True)
        set_timeouts()
        connection.commit()
        with context.begin_transaction():
            context.run_migrations()
    finally:
        if lent is None:  # its own: closed, as alembic's template's "with connectable.connect()"
            connection.close()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True)
    set_timeouts()
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
"""

NO_MODELS = "target_metadata = None"


@dataclass(frozen=True)
class Rev:
    """One revision: its id, parent(s), the bodies of upgrade() and downgrade(), a header."""

    id: str
    down: str | tuple[str, ...] | None
    upgrade: str = "pass"
    downgrade: str = "pass"
    header: str = ""


def revision_source(rev: Rev) -> str:
    body = textwrap.indent(textwrap.dedent(rev.upgrade).strip(), "    ")
    down = textwrap.indent(textwrap.dedent(rev.downgrade).strip(), "    ")
    header = textwrap.dedent(rev.header).strip()
    return (
        f'"""revision {rev.id}"""\n'
        + (header + "\n" if header else "")
        + "import sqlalchemy as sa\nfrom alembic import op\n\n"
        + f"revision = {rev.id!r}\ndown_revision = {rev.down!r}\n"
        + "branch_labels = None\ndepends_on = None\n\n\n"
        + f"def upgrade():\n{body}\n\n\ndef downgrade():\n{down}\n"
    )


def make_project(root: Path, revisions: list[Rev], models: str = NO_MODELS, env: str = "connection") -> Path:
    """Write the project under ``root``; return the path of its alembic.ini."""
    versions = root / "migrations" / "versions"
    versions.mkdir(parents=True)
    (root / "alembic.ini").write_text(INI)
    for name in (".sqlfluff", ".squawk.toml"):  # the lint settings a project using mks-db keeps
        (root / name).write_text((REPO / name).read_text())
    template = STOCK_ENV if env == "stock" else CONNECTION_ENV
    (root / "migrations" / "env.py").write_text(template.format(models=textwrap.dedent(models)))
    for rev in revisions:
        (versions / f"{rev.id}.py").write_text(revision_source(rev))
    return root / "alembic.ini"


def add_revision(ini: Path, rev: Rev) -> Path:
    path = ini.parent / "migrations" / "versions" / f"{rev.id}.py"
    path.write_text(revision_source(rev))
    return path


# Shared by the check tests: the account table every small project starts from, and its models.
TABLE = """
op.create_table("account", sa.Column("id", sa.Integer, primary_key=True),
                sa.Column("email", sa.String(100), nullable=False))
"""
DROP_TABLE = 'op.drop_table("account")'
BASE = Rev("a1", None, TABLE, DROP_TABLE)

MODELS = """
import sqlalchemy as sa
target_metadata = sa.MetaData()
sa.Table("account", target_metadata, sa.Column("id", sa.Integer, primary_key=True),
         sa.Column("email", sa.String(100), nullable=False){extra})
"""
ON_THE_BASE = [
    Rev(
        "a1",
        None,
        'op.add_column("account", sa.Column("age", sa.Integer))',
        'op.drop_column("account", "age")',
    ),
    Rev(  # a later defect: the downgrade forgets the index
        "b2",
        "a1",
        'op.create_index("ix_account_age", "account", ["age"])',
        "pass",
    ),
]


ADD_AGE = Rev(
    "b2", "a1", 'op.add_column("account", sa.Column("age", sa.Integer))', 'op.drop_column("account", "age")'
)
# A NOT NULL column without a default: it fails on a table with rows, passes on an empty one.
ADD_REQUIRED_AGE = Rev(
    "b2",
    "a1",
    'op.add_column("account", sa.Column("age", sa.Integer, nullable=False))',
    'op.drop_column("account", "age")',
)
