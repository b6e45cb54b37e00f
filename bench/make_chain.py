"""Write a synthetic Alembic project: a linear chain of N revisions, for the benchmarks.

    python bench/make_chain.py N DIR [--env-py {default,stock}] [--pr-revision]

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
  generated models module, so autogenerate (and pytest-alembic's model test) sees no change.
  With ``--env-py stock`` it is instead the env.py that ``alembic init`` (the ``generic``
  template) writes, with only ``target_metadata`` filled in: online it builds its own engine
  from ``sqlalchemy.url`` (``engine_from_config``, ``NullPool``) and runs every revision in ONE
  transaction; it ignores ``config.attributes``. Its ``alembic.ini`` then has
  ``sqlalchemy.url = postgresql://``, a placeholder every caller overrides (offline rendering
  needs a dialect);
- ``chain_models.py``: a SQLAlchemy ``MetaData`` describing the schema at head;
- ``migrations/versions/rNNNN_create_t_NNNN.py``: the revisions.

``--pr-revision`` adds what a typical pull request adds on top of the chain: revision
``r{N+1}`` (file ``r{N+1}_add_t_NNNN_archived.py``) adds ``archived boolean NOT NULL DEFAULT
false`` to the last table ``t_NNNN`` (a constant default: no table rewrite on PostgreSQL 11+),
and the models module gets the column too, so the models still match head.

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


STOCK_ENV_PY = f'''\
from logging.config import fileConfig

from sqlalchemy import engine_from_config
from sqlalchemy import pool

from alembic import context

# this is the Alembic Config object, which provides
# access to the values within the .ini file in use.
config = context.config

# Interpret the config file for Python logging.
# This line sets up loggers basically.
if config.config_file_name is not None:
    fileConfig(config.config_file_name)

# add your model's MetaData object here
# for 'autogenerate' support
from {MODELS_MODULE} import metadata  # noqa: E402

target_metadata = metadata

# other values from the config, defined by the needs of env.py,
# can be acquired:
# my_important_option = config.get_main_option("my_important_option")
# ... etc.


def run_migrations_offline() -> None:
    """Run migrations in 'offline' mode.

    This configures the context with just a URL
    and not an Engine, though an Engine is acceptable
    here as well.  By skipping the Engine creation
    we don't even need a DBAPI to be available.

    Calls to context.execute() here emit the given string to the
    script output.

    """
    url = config.get_main_option("sqlalchemy.url")
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={{"paramstyle": "named"}},
    )

    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run migrations in 'online' mode.

    In this scenario we need to create an Engine
    and associate a connection with the context.

    """
    connectable = engine_from_config(
        config.get_section(config.config_ini_section, {{}}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )

    with connectable.connect() as connection:
        context.configure(
            connection=connection, target_metadata=target_metadata
        )

        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
'''

# Alembic's cookbook, "Sharing a Connection across one or more programmatic migration
# commands": the stock env.py whose online mode takes a Connection from
# config.attributes["connection"] when there is one, and runs every migration of a run in one
# transaction around them all (context.begin_transaction(), no transaction_per_migration).
_STOCK_ONLINE = STOCK_ENV_PY[
    STOCK_ENV_PY.index("def run_migrations_online()") : STOCK_ENV_PY.index("\n\nif context")
]
COOKBOOK_ENV_PY = STOCK_ENV_PY.replace(
    _STOCK_ONLINE,
    '''def run_migrations_online() -> None:
    """Run migrations in 'online' mode."""
    connectable = config.attributes.get("connection", None)

    if connectable is None:
        # only create Engine if we don't have a Connection
        # from the outside
        connectable = engine_from_config(
            config.get_section(config.config_ini_section, {}),
            prefix="sqlalchemy.",
            poolclass=pool.NullPool,
        )

        with connectable.connect() as connection:
            context.configure(
                connection=connection, target_metadata=target_metadata
            )

            with context.begin_transaction():
                context.run_migrations()
    else:
        context.configure(
            connection=connectable, target_metadata=target_metadata
        )

        with context.begin_transaction():
            context.run_migrations()
''',
)
# `alembic init -t async`: an asyncio engine built from sqlalchemy.url (asyncpg), the
# migrations run through connection.run_sync in one transaction.
ASYNC_ENV_PY = STOCK_ENV_PY.replace(
    "from sqlalchemy import engine_from_config\n",
    "import asyncio\n\nfrom sqlalchemy.ext.asyncio import async_engine_from_config\n",
).replace(
    _STOCK_ONLINE,
    '''def do_run_migrations(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata)

    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    """In this scenario we need to create an Engine
    and associate a connection with the context.

    """

    connectable = async_engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )

    async with connectable.connect() as connection:
        await connection.run_sync(do_run_migrations)

    await connectable.dispose()


def run_migrations_online() -> None:
    """Run migrations in 'online' mode."""

    asyncio.run(run_async_migrations())
''',
)
ENV_FLAVOURS = ("default", "stock", "cookbook", "async")
ENV_SOURCES = {"default": ENV_PY, "stock": STOCK_ENV_PY, "cookbook": COOKBOOK_ENV_PY, "async": ASYNC_ENV_PY}
# The URL each flavour's alembic.ini names (offline rendering needs the dialect and driver).
INI_URLS = {"stock": "postgresql://", "cookbook": "postgresql://", "async": "postgresql+asyncpg://"}


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


def pr_revision_name(n: int) -> str:
    """The file name of the pull request's revision on top of an N-revision chain."""
    return f"{revision_id(n + 1)}_add_{table(n)}_archived.py"


def pr_revision_file(n: int) -> str:
    """Revision ``r{N+1}``: ``archived boolean NOT NULL DEFAULT false`` on ``t_NNNN``."""
    name = table(n)
    return f'''"""add {name}.archived, not null with a default

Revision ID: {revision_id(n + 1)}
Revises: {revision_id(n)}
"""

import sqlalchemy as sa
from alembic import op

revision = "{revision_id(n + 1)}"
down_revision = "{revision_id(n)}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "{name}",
        sa.Column("archived", sa.Boolean(), server_default=sa.false(), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("{name}", "archived")
'''


def models_file(n: int, pr_revision: bool = False) -> str:
    """A module whose ``metadata`` is the schema at head, as autogenerate compares it."""
    lines = [
        f'"""The schema at the head of the {n}-revision benchmark chain (bench/make_chain.py)."""',
        "",
        "from sqlalchemy import Boolean, Column, ForeignKey, Index, Integer, MetaData, String, Table, false",
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
        if i == n and pr_revision:
            lines.append('    Column("archived", Boolean, server_default=false(), nullable=False),')
        lines += [f'    Index("ix_{name}_parent_id", "parent_id"),', ")", ""]
    return "\n".join(lines)


def write_chain(n: int, root: Path, env_py: str = "default", pr_revision: bool = False) -> Path:
    """Write the N-revision project into ``root``; return the path of its alembic.ini.

    ``env_py``: ``"default"`` (this benchmark's env.py), ``"stock"`` (``alembic init``'s) or
    ``"cookbook"`` (Alembic's cookbook: a shared Connection, one transaction).
    ``pr_revision``: also write revision ``r{N+1}`` and its column in the models.
    """
    if n < 1:
        raise ValueError("N must be at least 1")
    if env_py not in ENV_FLAVOURS:
        raise ValueError(f"env_py must be one of {ENV_FLAVOURS}, not {env_py!r}")
    versions = root / "migrations" / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    wanted = {f"{revision_id(i)}_create_{table(i)}.py" for i in range(1, n + 1)}
    if pr_revision:
        wanted.add(pr_revision_name(n))
    for stale in versions.glob("*.py"):
        if stale.name not in wanted:
            stale.unlink()
    ini = ALEMBIC_INI
    if env_py in INI_URLS:  # env.py reads sqlalchemy.url, offline too
        ini = ini.replace("sqlalchemy.url =\n", f"sqlalchemy.url = {INI_URLS[env_py]}\n")
    (root / "alembic.ini").write_text(ini)
    (root / "migrations" / "env.py").write_text(ENV_SOURCES[env_py])
    (root / "migrations" / "script.py.mako").write_text(SCRIPT_MAKO)
    for i in range(1, n + 1):
        (versions / f"{revision_id(i)}_create_{table(i)}.py").write_text(revision_file(i))
    if pr_revision:
        write_pr_revision(n, root)
    else:
        (root / f"{MODELS_MODULE}.py").write_text(models_file(n))
    return root / "alembic.ini"


def write_pr_revision(n: int, root: Path) -> Path:
    """Add revision ``r{N+1}`` to the N-revision chain in ``root`` and its column to the
    models (what a pull request changes); return the revision's path."""
    path = root / "migrations" / "versions" / pr_revision_name(n)
    path.write_text(pr_revision_file(n))
    (root / f"{MODELS_MODULE}.py").write_text(models_file(n, pr_revision=True))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("n", metavar="N", type=int, help="number of revisions (at least 1)")
    parser.add_argument("directory", metavar="DIR", type=Path, help="where to write the project")
    parser.add_argument(
        "--env-py",
        choices=ENV_FLAVOURS,
        default="default",
        help="default: the benchmark's env.py; stock: the one `alembic init` writes",
    )
    parser.add_argument(
        "--pr-revision", action="store_true", help="also write revision N+1 (a column with a default)"
    )
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("N must be at least 1")
    ini = write_chain(args.n, args.directory, args.env_py, args.pr_revision)
    total = args.n + (1 if args.pr_revision else 0)
    print(f"wrote {total} revisions ({args.env_py} env.py); alembic.ini at {ini}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
