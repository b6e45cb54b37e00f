"""pytest-alembic's four default tests, pointed at a benchmark chain (run by bench/run.py).

``BENCH_ALEMBIC_INI`` names the chain's alembic.ini; ``BENCH_SERVER_URL`` a PostgreSQL server
(its maintenance database). Each test gets a database of its own, created from ``template0``
and dropped afterwards, the way pytest-alembic's documentation has ``alembic_engine`` give a
fresh database per test (its default is a new in-memory SQLite database per test).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import NullPool


@pytest.fixture
def alembic_config() -> dict[str, str]:
    return {"file": os.environ["BENCH_ALEMBIC_INI"]}


@pytest.fixture
def alembic_engine() -> Iterator[Engine]:
    server = make_url(os.environ["BENCH_SERVER_URL"])
    name = f"mks_scratch_pytest_alembic_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE template0'))
    engine = create_engine(server.set(database=name))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
