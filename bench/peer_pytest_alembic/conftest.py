"""pytest-alembic's four default tests, pointed at a benchmark chain (run by bench/run.py).

``BENCH_ALEMBIC_INI`` names the chain's alembic.ini; ``BENCH_SERVER_URL`` a PostgreSQL server
(its maintenance database). Each test gets a database of its own, created from ``template0``
and dropped afterwards, the way pytest-alembic's documentation has ``alembic_engine`` give a
fresh database per test (its default is a new in-memory SQLite database per test).

The database reaches env.py both ways pytest-alembic offers: ``alembic_engine``'s connection in
``config.attributes["connection"]`` (the benchmark env.py uses it) and ``sqlalchemy.url`` in
``alembic_config`` (the stock ``alembic init`` env.py ignores the attributes and builds its own
engine from that URL).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.pool import NullPool


@pytest.fixture
def bench_database() -> Iterator[URL]:
    server = make_url(os.environ["BENCH_SERVER_URL"])
    name = f"mks_scratch_pytest_alembic_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE template0'))
    try:
        yield server.set(database=name)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def alembic_config(bench_database: URL) -> dict[str, str]:
    if os.environ.get("BENCH_ENV_PY") == "async":  # the async env.py builds an asyncpg engine from it
        bench_database = bench_database.set(drivername="postgresql+asyncpg")
    url = bench_database.render_as_string(hide_password=False)
    return {"file": os.environ["BENCH_ALEMBIC_INI"], "sqlalchemy.url": url.replace("%", "%%")}


@pytest.fixture
def alembic_engine(bench_database: URL) -> Iterator[Engine | Connection]:
    """An Engine, as pytest-alembic documents it; for the cookbook's env.py
    (``BENCH_ENV_PY=cookbook``), which passes ``config.attributes["connection"]`` straight to
    ``context.configure``, a Connection, which is what that env.py takes."""
    engine = create_engine(bench_database)
    try:
        if os.environ.get("BENCH_ENV_PY") == "cookbook":
            with engine.connect() as connection:
                yield connection
        else:
            yield engine
    finally:
        engine.dispose()
