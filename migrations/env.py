"""Alembic environment of the Mirai Knowledge Systems backend.

Where the database comes from, first match wins:
1. a Connection or Engine handed in through ``config.attributes["connection"]`` (tests, mks-db);
2. ``sqlalchemy.url`` when a caller set it (``alembic -x``-free programmatic use);
3. DATABASE_URL / MKS_DATABASE_URL from the environment or backend/.env (mks.settings).

Exactly the schemas public, auth and audit are managed; ``alembic_version`` lives in public.
Types and server defaults are compared by autogenerate; offline SQL has literal values.
"""

from __future__ import annotations

from collections.abc import Callable
from logging.config import fileConfig
from typing import TypeVar

from alembic import context
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

from mks.models import MANAGED_SCHEMAS, Base
from mks.settings import SettingsError, load_settings, migration_timeouts

T = TypeVar("T")

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


VERSION_TABLE = "alembic_version"


def include_name(name: str | None, type_: str, parent_names: dict) -> bool:
    """Reflect only the project's schemas (None is the default schema, public), and never the
    version table: with ``version_table_schema="public"`` Alembic's own exclusion misses it,
    because reflection reports public tables under the default schema (None)."""
    if type_ == "schema":
        return name is None or name in MANAGED_SCHEMAS
    if type_ == "table":
        return name != VERSION_TABLE
    return True


COMMON_OPTIONS = dict(
    target_metadata=target_metadata,
    include_schemas=True,
    include_name=include_name,
    version_table=VERSION_TABLE,
    version_table_schema="public",
    compare_type=True,
    compare_server_default=True,
)


def _or_exit(read: Callable[[], T]) -> T:
    """``read()``; a malformed setting stops env.py with its one-line message, no traceback."""
    try:
        return read()
    except SettingsError as exc:
        raise SystemExit(f"error: {exc}") from None


# Every migration session waits at most lock_timeout for a lock (then fails instead of stalling
# every request queued behind it) and runs no statement longer than statement_timeout.
# MKS_LOCK_TIMEOUT and MKS_STATEMENT_TIMEOUT override them (mks.settings validates both); they
# appear at the top of the offline SQL too.
TIMEOUTS = _or_exit(migration_timeouts)


def set_timeouts() -> None:
    """Set the session's timeouts, each value a bound parameter, never pasted into the SQL.

    Online through ``set_config()``, since SET takes no parameters. Offline as ``SET``, the
    value rendered as a literal by SQLAlchemy: the file shows production plain SET statements
    and squawk's require-lock-timeout recognises only SET, not set_config().
    """
    for name, value in TIMEOUTS.items():
        if context.is_offline_mode():
            statement = text(f"SET {name} = :value")  # name: a key of MIGRATION_TIMEOUTS
        else:
            statement = text("SELECT set_config(:name, :value, false)").bindparams(name=name)
        context.execute(statement.bindparams(value=value))


def database_url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    settings = _or_exit(load_settings)
    if settings.database_url is None:
        raise SystemExit(
            "error: DATABASE_URL is not set; export it or put it in backend/.env "
            "(postgresql://USER:PASSWORD@HOST:5432/DATABASE)"
        )
    return settings.database_url.render_as_string(hide_password=False)


def run_migrations_offline() -> None:
    """Render SQL for ``--sql`` without a database."""
    url = config.get_main_option("sqlalchemy.url")
    target = {"url": url} if url else {"dialect_name": "postgresql"}
    context.configure(
        **target,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        transaction_per_migration=True,
        **COMMON_OPTIONS,
    )
    set_timeouts()
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    context.configure(connection=connection, transaction_per_migration=True, **COMMON_OPTIONS)
    callers = connection.in_transaction()  # the caller's transaction: the settings live in it
    set_timeouts()
    if not callers:
        connection.commit()  # a session setting; the migrations' transactions start after it
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    given = config.attributes.get("connection")
    if isinstance(given, Connection):
        _run(given)
        return
    engine = given if isinstance(given, Engine) else create_engine(database_url(), poolclass=NullPool)
    with engine.connect() as connection:
        _run(connection)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
