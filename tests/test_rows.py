"""The row generator: every common PostgreSQL type fills, a few rows and many, unique or not."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from mks_db.engine import data

TYPES = [
    "smallint",
    "integer",
    "bigint",
    "numeric",
    "numeric(5,2)",
    "numeric(3,0)",
    "real",
    "double precision",
    "money",
    "varchar(3)",
    "varchar(100)",
    "char(2)",
    "text",
    "boolean",
    "date",
    "timestamp",
    "timestamptz",
    "time",
    "timetz",
    "interval",
    "inet",
    "cidr",
    "macaddr",
    "macaddr8",
    "uuid",
    "json",
    "jsonb",
    "bytea",
    "xml",
    "int4range",
    "tsrange",
    "tsvector",
    "point",
    "bit(8)",
    "varbit",
    "mood",
    "integer[]",
    "text[]",
    "varchar(10)[]",
]


# Types with fewer distinct values than the fills' row numbers, or without equality: no UNIQUE.
NOT_UNIQUE = ("boolean", "mood", "numeric(3,0)", "json", "xml", "point")
# Types whose distinct values run out early: a few rows more, not thousands.
SMALL = ("bit(8)", "char(2)", "varchar(3)")


@pytest.mark.parametrize("type_", TYPES)
def test_every_common_type_fills_a_few_rows_and_many(scratch_url, type_):
    engine = create_engine(scratch_url, poolclass=NullPool)
    with engine.connect() as connection:
        if type_ == "xml" and not _has_xml(connection):
            pytest.skip("this PostgreSQL was built without XML support")
        connection.execute(text("CREATE TYPE mood AS ENUM ('happy', 'sad', 'calm')"))
        unique = "" if type_ in NOT_UNIQUE else f", u {type_} UNIQUE"
        connection.execute(text(f"CREATE TABLE t (id serial PRIMARY KEY, v {type_} NOT NULL{unique})"))
        connection.commit()
        rows = data.Rows(connection)
        assert rows.fill_empty_tables() == []
        many = 5 if type_ in SMALL else 2_000
        assert data.bulk_fill(connection, [next(iter(rows.tables))], many) == []
        assert connection.execute(text("SELECT count(*) FROM t")).scalar_one() == data.ROWS_PER_TABLE + many
    engine.dispose()


def _has_xml(connection) -> bool:
    try:
        with connection.begin_nested():
            connection.execute(text("SELECT xmlelement(name probe)"))
        return True
    except Exception:
        return False


def test_a_table_that_admits_one_row_only_gets_that_row(scratch_url):
    engine = create_engine(scratch_url, poolclass=NullPool)
    with engine.connect() as connection:
        connection.execute(text("CREATE TABLE version_info (id integer PRIMARY KEY CHECK (id = 1), v text)"))
        connection.commit()
        assert data.Rows(connection).fill_empty_tables() == []
        assert connection.execute(text("SELECT count(*) FROM version_info")).scalar_one() == 1
    engine.dispose()


def test_many_rows_keep_every_foreign_key_valid_single_column_or_composite(scratch_url):
    """The bulk fill skips the row-by-row foreign key checks only where every key of the table
    is one column taken from the parent's keys; the combination of a composite key is checked."""
    engine = create_engine(scratch_url, poolclass=NullPool)
    with engine.connect() as connection:
        connection.execute(
            text(
                "CREATE TABLE parent (id serial PRIMARY KEY, a int NOT NULL, b int NOT NULL, UNIQUE (a, b));"
                "CREATE TABLE child (id serial PRIMARY KEY, parent_id int REFERENCES parent (id));"
                "CREATE TABLE pair (id serial PRIMARY KEY, a int, b int,"
                " FOREIGN KEY (a, b) REFERENCES parent (a, b))"
            )
        )
        connection.commit()
        rows = data.Rows(connection)
        assert rows.fill_empty_tables() == []
        oids = {table.name.rsplit(".", 1)[-1].strip('"'): oid for oid, table in rows.tables.items()}
        assert data.bulk_fill(connection, [oids["child"], oids["pair"]], 2_000) == []
        orphans = connection.execute(
            text(
                "SELECT (SELECT count(*) FROM child c WHERE NOT EXISTS"
                "        (SELECT 1 FROM parent p WHERE p.id = c.parent_id)),"
                "       (SELECT count(*) FROM pair c WHERE c.a IS NOT NULL AND c.b IS NOT NULL AND NOT EXISTS"
                "        (SELECT 1 FROM parent p WHERE (p.a, p.b) = (c.a, c.b))),"
                "       (SELECT count(*) FROM child), (SELECT count(*) FROM pair)"
            )
        ).one()
        assert orphans == (0, 0, data.ROWS_PER_TABLE + 2_000, data.ROWS_PER_TABLE + 2_000)
    engine.dispose()
