"""The row generator: every common PostgreSQL type fills, a few rows and many, unique or not."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from alembic_cases import DROP_TABLE, TABLE, Rev, make_project
from conftest import errors, run_on
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


def test_rows_a_revision_seeded_stay_when_the_walk_retries_without_its_generated_rows(check):
    """a1 seeds the one settings row the application needs; b2's NOT NULL column fails on the
    generated accounts. Retried without generated rows, the seed stays, so the finding is the
    real cause (rows in account), not a missing settings row the walk itself removed."""
    seeded = Rev(
        "a1",
        None,
        TABLE + 'op.create_table("settings", sa.Column("id", sa.Integer, primary_key=True))\n'
        'op.execute("INSERT INTO settings (id) VALUES (1)")',
        'op.drop_table("settings")\n' + DROP_TABLE,
    )
    needs_seed = Rev(
        "b2",
        "a1",
        'op.execute("DO $$ BEGIN IF NOT EXISTS (SELECT FROM settings)"\n'
        "           \" THEN RAISE EXCEPTION 'no settings row'; END IF; END $$\")\n"
        'op.add_column("account", sa.Column("age", sa.Integer, nullable=False))',
        'op.drop_column("account", "age")',
    )
    code, report = check([seeded, needs_seed], models="target_metadata = None", command="roundtrip")
    [failed] = [f for f in errors(report) if f["check"] == "upgrade"]
    assert "fails when the tables hold rows (it passes on empty tables)" in failed["message"], failed
    assert "no settings row" not in failed["message"], failed


def test_generated_rows_never_hold_null_where_the_models_declare_not_null(check):
    """account.email is nullable in the database but NOT NULL in the models (the application
    always writes it); score's CHECK refuses the generated numbers, so the rows are generated
    with the required columns only. email is one of them: the models say so. b2 then makes
    the database say so too, which passes on every row the application could have written."""
    a1 = Rev(
        "a1",
        None,
        'op.create_table("account", sa.Column("id", sa.Integer, primary_key=True),\n'
        '                sa.Column("email", sa.String(100), nullable=True),\n'
        '                sa.Column("score", sa.Integer, sa.CheckConstraint("score < 0")))',
        'op.drop_table("account")',
    )
    b2 = Rev(
        "b2",
        "a1",
        'op.alter_column("account", "email", existing_type=sa.String(100), nullable=False)',
        'op.alter_column("account", "email", existing_type=sa.String(100), nullable=True)',
    )
    models = """
import sqlalchemy as sa
target_metadata = sa.MetaData()
sa.Table("account", target_metadata, sa.Column("id", sa.Integer, primary_key=True),
         sa.Column("email", sa.String(100), nullable=False),
         sa.Column("score", sa.Integer, sa.CheckConstraint("score < 0")))
"""
    code, report = check([a1, b2], models, command="roundtrip")
    assert [f for f in report["findings"] if f["check"] == "upgrade"] == [], report
    assert code == 0, report


# A text column and what the application writes there, as its models declare it; b2 then makes
# the database hold the same, which passes on every row the application could have written.
_MODEL_DECLARATIONS = {
    "an Enum's values": (
        'sa.Column("status", sa.String(20))',
        'sa.Column("status", sa.Enum("draft", "published", name="status_kind", native_enum=False))',
        "op.execute(\"CREATE TYPE status_kind AS ENUM ('draft', 'published')\")\n"
        'op.execute("ALTER TABLE account ALTER COLUMN status TYPE status_kind USING status::status_kind")',
        'op.execute("ALTER TABLE account ALTER COLUMN status TYPE varchar(20)")\n'
        'op.execute("DROP TYPE status_kind")',
    ),
    "the String's length": (
        'sa.Column("status", sa.Text)',
        'sa.Column("status", sa.String(4))',
        'op.alter_column("account", "status", type_=sa.String(4), existing_type=sa.Text)',
        'op.alter_column("account", "status", type_=sa.Text, existing_type=sa.String(4))',
    ),
    "numbers in a text column": (
        'sa.Column("status", sa.Text)',
        'sa.Column("status", sa.Integer)',
        'op.alter_column("account", "status", type_=sa.Integer, existing_type=sa.Text,\n'
        '                postgresql_using="status::integer")',
        'op.alter_column("account", "status", type_=sa.Text, existing_type=sa.Integer)',
    ),
    "a CHECK constraint": (
        'sa.Column("status", sa.Integer)',
        'sa.Column("status", sa.Integer, sa.CheckConstraint("status > 1", name="ck_status"))',
        'op.create_check_constraint("ck_status", "account", "status > 1")',
        'op.drop_constraint("ck_status", "account")',
    ),
}


@pytest.mark.parametrize("declared", sorted(_MODEL_DECLARATIONS))
def test_generated_rows_hold_only_what_the_models_let_the_application_write(
    capsys, tmp_path, server_url, declared
):
    """Without the models, b2 fails on the generated rows (they hold what the application never
    writes); with them, the rows hold only what the application can, and b2 passes."""
    in_database, in_models, upgrade, downgrade = _MODEL_DECLARATIONS[declared]
    a1 = Rev(
        "a1",
        None,
        f'op.create_table("account", sa.Column("id", sa.Integer, primary_key=True), {in_database})',
        'op.drop_table("account")',
    )
    b2 = Rev("b2", "a1", upgrade, downgrade)
    models = f"""
import sqlalchemy as sa
target_metadata = sa.MetaData()
sa.Table("account", target_metadata, sa.Column("id", sa.Integer, primary_key=True), {in_models})
"""
    without = make_project(tmp_path / "without", [a1, b2], "target_metadata = None", "connection")
    code, report = run_on(capsys, without, "roundtrip", server_url=server_url)
    assert [f["revision"] for f in report["findings"] if f["check"] == "upgrade"] == ["b2"], report
    ini = make_project(tmp_path / "with", [a1, b2], models, "connection")
    code, report = run_on(capsys, ini, "roundtrip", server_url=server_url)
    assert [f for f in report["findings"] if f["check"] in ("upgrade", "data-loss")] == [], report
    assert code == 0, report


def test_a_foreign_key_the_models_require_never_points_at_nothing(check):
    """users.role admits four values (a CHECK of the database); blocked_users.user_id is nullable
    in the database but NOT NULL in the models. Generated users take the listed roles, so
    blocked users point at real users, and b2's NOT NULL passes, as on the application's data."""
    a1 = Rev(
        "a1",
        None,
        'op.create_table("users", sa.Column("id", sa.Integer, primary_key=True),\n'
        '                sa.Column("role", sa.Integer, sa.CheckConstraint("role IN (100, 50, 30, 10)"),\n'
        "                          nullable=False))\n"
        'op.create_table("blocked_users", sa.Column("id", sa.Integer, primary_key=True),\n'
        '                sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=True))',
        'op.drop_table("blocked_users")\nop.drop_table("users")',
    )
    b2 = Rev(
        "b2",
        "a1",
        'op.alter_column("blocked_users", "user_id", existing_type=sa.Integer, nullable=False)',
        'op.alter_column("blocked_users", "user_id", existing_type=sa.Integer, nullable=True)',
    )
    models = """
import sqlalchemy as sa
target_metadata = sa.MetaData()
sa.Table("users", target_metadata, sa.Column("id", sa.Integer, primary_key=True),
         sa.Column("role", sa.Integer, nullable=False))
sa.Table("blocked_users", target_metadata, sa.Column("id", sa.Integer, primary_key=True),
         sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False))
"""
    code, report = check([a1, b2], models, command="roundtrip")
    assert [f for f in report["findings"] if f["check"] in ("upgrade", "data-loss")] == [], report
