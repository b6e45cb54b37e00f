"""Write a synthetic Alembic project: a linear chain of N revisions, for the benchmarks.

    python bench/make_chain.py N DIR

Revision ``rNNNN`` (1 <= NNNN <= N) creates table ``t_NNNN`` (``id`` serial primary key,
``name varchar(64) NOT NULL``, ``parent_id`` with a foreign key to the previous table's ``id``),
an index ``ix_t_NNNN_parent_id`` on the foreign key, and adds the nullable column
``extra_NNNN`` to the previous table. Its downgrade undoes exactly that, in reverse order.
Revision ``r0001`` has no previous table: its foreign key points at its own table and it adds
no column.

DIR gets what ``alembic init`` would give a real project, trimmed to what is needed:

- ``alembic.ini``: ``script_location = %(here)s/migrations``, no ``sqlalchemy.url`` (the caller
  passes the database), Alembic's stock logging sections;
- ``migrations/env.py``: online, it takes a Connection (or an Engine) from
  ``config.attributes["connection"]``, else builds an engine from ``sqlalchemy.url``; offline
  (``--sql``) it renders PostgreSQL with ``literal_binds``; ``target_metadata`` is the
  generated models module, so autogenerate (and pytest-alembic's model test) sees no change;
- ``chain_models.py``: a SQLAlchemy ``MetaData`` describing the schema at head;
- ``migrations/versions/rNNNN_create_t_NNNN.py``: the revisions.

The output depends only on N: no dates, random ids or absolute paths, so two runs write the
same bytes. DIR may exist; the files above are overwritten and stale revision files removed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

MODELS_MODULE = "chain_models"

ALEMBIC_INI = """\
# A synthetic Alembic project written by bench/make_chain.py; regenerate it, don't edit it.
# The database is passed by the caller (sqlalchemy.url, or a Connection in config.attributes).

[alembic]
script_location = %(here)s/migrations
prepend_sys_path = %(here)s
path_separator = os
sqlalchemy.url =

[loggers]
keys = root,sqlalchemy,alembic

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARNING
handlers = console
qualname =

[logger_sqlalchemy]
level = WARNING
handlers =
qualname = sqlalchemy.engine

[logger_alembic]
level = INFO
handlers =
qualname = alembic

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(levelname)-5.5s [%(name)s] %(message)s
datefmt = %H:%M:%S
"""

ENV_PY = f'''\
"""Alembic environment of a synthetic benchmark chain (written by bench/make_chain.py).

Online: a Connection or Engine in ``config.attributes["connection"]`` (mks-db, pytest-alembic),
else an engine built from ``sqlalchemy.url``. Offline (``--sql``): PostgreSQL with literal values.
"""

from __future__ import annotations

import sys
from logging.config import fileConfig
from pathlib import Path

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from {MODELS_MODULE} import metadata  # noqa: E402

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = metadata


def run_migrations_offline() -> None:
    url = config.get_main_option("sqlalchemy.url")
    target = {{"url": url}} if url else {{"dialect_name": "postgresql"}}
    context.configure(
        **target,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={{"paramstyle": "named"}},
    )
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    # One transaction per revision, as this repository's env.py (and Alembic's advice for
    # PostgreSQL): a failed revision leaves the ones before it applied.
    context.configure(
        connection=connection, target_metadata=target_metadata, transaction_per_migration=True
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    given = config.attributes.get("connection")
    if isinstance(given, Connection):
        _run(given)
        return
    if isinstance(given, Engine):
        engine = given
    else:
        url = config.get_main_option("sqlalchemy.url")
        if not url:
            raise SystemExit("error: no database: set sqlalchemy.url or pass a connection")
        engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as connection:
        _run(connection)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
'''

SCRIPT_MAKO = '''\
"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
"""

from alembic import op
import sqlalchemy as sa
${imports if imports else ""}

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
'''


def table(i: int) -> str:
    return f"t_{i:04d}"


def revision_id(i: int) -> str:
    return f"r{i:04d}"


def revision_file(i: int) -> str:
    """The source of revision ``i`` (1-based)."""
    name = table(i)
    parent = table(i - 1) if i > 1 else name
    down = f'"{revision_id(i - 1)}"' if i > 1 else "None"
    summary = f"create {name}" + (f", add {parent}.extra_{i:04d}" if i > 1 else "")
    add_column = (
        f'    op.add_column("{parent}", sa.Column("extra_{i:04d}", sa.Integer(), nullable=True))\n'
        if i > 1
        else ""
    )
    drop_column = f'    op.drop_column("{parent}", "extra_{i:04d}")\n' if i > 1 else ""
    return f'''"""{summary}

Revision ID: {revision_id(i)}
Revises: {revision_id(i - 1) if i > 1 else ""}
"""

import sqlalchemy as sa
from alembic import op

revision = "{revision_id(i)}"
down_revision = {down}
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "{name}",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["parent_id"], ["{parent}.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_{name}_parent_id", "{name}", ["parent_id"])
{add_column}

def downgrade() -> None:
{drop_column}    op.drop_index("ix_{name}_parent_id", table_name="{name}")
    op.drop_table("{name}")
'''


def models_file(n: int) -> str:
    """A module whose ``metadata`` is the schema at head, as autogenerate compares it."""
    lines = [
        f'"""The schema at the head of the {n}-revision benchmark chain (bench/make_chain.py)."""',
        "",
        "from sqlalchemy import Column, ForeignKey, Index, Integer, MetaData, String, Table",
        "",
        "metadata = MetaData()",
        "",
    ]
    for i in range(1, n + 1):
        name = table(i)
        parent = table(i - 1) if i > 1 else name
        lines += [
            "Table(",
            f'    "{name}",',
            "    metadata,",
            '    Column("id", Integer, primary_key=True),',
            '    Column("name", String(64), nullable=False),',
            f'    Column("parent_id", Integer, ForeignKey("{parent}.id"), nullable=True),',
        ]
        if i < n:
            lines.append(f'    Column("extra_{i + 1:04d}", Integer, nullable=True),')
        lines += [f'    Index("ix_{name}_parent_id", "parent_id"),', ")", ""]
    return "\n".join(lines)


def write_chain(n: int, root: Path) -> Path:
    """Write the N-revision project into ``root``; return the path of its alembic.ini."""
    if n < 1:
        raise ValueError("N must be at least 1")
    versions = root / "migrations" / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    wanted = {f"{revision_id(i)}_create_{table(i)}.py" for i in range(1, n + 1)}
    for stale in versions.glob("*.py"):
        if stale.name not in wanted:
            stale.unlink()
    (root / "alembic.ini").write_text(ALEMBIC_INI)
    (root / "migrations" / "env.py").write_text(ENV_PY)
    (root / "migrations" / "script.py.mako").write_text(SCRIPT_MAKO)
    (root / f"{MODELS_MODULE}.py").write_text(models_file(n))
    for i in range(1, n + 1):
        (versions / f"{revision_id(i)}_create_{table(i)}.py").write_text(revision_file(i))
    return root / "alembic.ini"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("n", metavar="N", type=int, help="number of revisions (at least 1)")
    parser.add_argument("directory", metavar="DIR", type=Path, help="where to write the project")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("N must be at least 1")
    ini = write_chain(args.n, args.directory)
    print(f"wrote {args.n} revisions; alembic.ini at {ini}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
