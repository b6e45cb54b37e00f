"""The catalogue tracker: re-reading only what each statement changed gives exactly the snapshot
a full read gives, for every kind of change a migration makes, renames and drops included."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from mks_db.engine import catalog

STATEMENTS = [
    "CREATE SCHEMA auth",
    "CREATE TYPE pair AS (a int, b int)",
    "CREATE TYPE span AS RANGE (subtype = int4)",
    "CREATE DOMAIN positive AS int CHECK (VALUE > 0)",
    "CREATE TYPE auth.mood AS ENUM ('a', 'b')",
    "CREATE TABLE auth.t (id serial PRIMARY KEY, m auth.mood NOT NULL DEFAULT 'a', n text UNIQUE)",
    "CREATE TABLE auth.c (id int REFERENCES auth.t (id), note varchar(20))",
    "CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END'",
    "CREATE TRIGGER tr BEFORE INSERT ON auth.c FOR EACH ROW EXECUTE FUNCTION f()",
    "ALTER FUNCTION f() RENAME TO g",
    "CREATE INDEX ix ON auth.t (lower(n))",
    "CREATE VIEW v AS SELECT * FROM auth.t",
    "COMMENT ON TABLE auth.t IS 'people'",
    "COMMENT ON COLUMN auth.c.note IS 'free text'",
    "DROP INDEX auth.ix",
    "ALTER TABLE auth.t DROP CONSTRAINT t_n_key",
    "ALTER TABLE auth.c DROP CONSTRAINT c_id_fkey",
    "ALTER TABLE auth.c ADD CONSTRAINT c_note_check CHECK (note <> '') NOT VALID",
    "ALTER TABLE auth.c VALIDATE CONSTRAINT c_note_check",
    "DROP TRIGGER tr ON auth.c",
    "COMMENT ON TABLE auth.t IS NULL",
    "ALTER TABLE auth.t ALTER COLUMN n SET DEFAULT 'x'",
    "ALTER TABLE auth.c ALTER COLUMN note TYPE text",
    "ALTER TABLE auth.c ALTER COLUMN note SET NOT NULL",
    "ALTER TABLE auth.t RENAME TO t2",
    "ALTER TABLE auth.t2 RENAME COLUMN id TO ident",
    "ALTER SEQUENCE auth.t_id_seq RENAME TO s2",
    "ALTER TYPE auth.mood ADD VALUE 'c'",
    "ALTER TYPE auth.mood RENAME TO mood2",
    "ALTER TABLE auth.c DROP COLUMN note",
    "DROP VIEW v",
    "DROP TABLE auth.c",
    "DROP TABLE auth.t2",
    "DROP TYPE auth.mood2",
    "DROP FUNCTION g",
    "DROP TYPE pair",
    "DROP TYPE span",  # its multirange type goes with it
    "DROP DOMAIN positive",
    "DROP SCHEMA auth",
]


@pytest.fixture
def connection(scratch_url):
    engine = create_engine(scratch_url, poolclass=NullPool)
    with engine.connect() as conn:
        yield conn
    engine.dispose()


@pytest.mark.parametrize("mode", ["catalogue signatures", "event log"])
def test_tracked_snapshot_equals_a_full_read_after_every_statement(connection, mode):
    tracker = catalog.Tracker(connection)
    if mode == "event log" and not tracker.use_event_log():
        pytest.skip("the server's user may not create event triggers")
    empty = tracker.fingerprint
    fingerprints = set()
    for statement in STATEMENTS:
        connection.execute(text(statement))
        connection.commit()
        tracker.refresh()
        full = catalog.snapshot(connection)
        connection.rollback()
        assert tracker.snapshot() == full, f"after {statement}: {catalog.diff(full, tracker.snapshot())}"
        fingerprints.add(tracker.fingerprint)
    assert tracker.fingerprint == empty  # everything dropped again
    assert len(fingerprints) > len(STATEMENTS) - 3  # nearly every statement changes the schema


@pytest.mark.parametrize("event_log", [False, True])
def test_refresh_names_only_the_relations_a_statement_touched(connection, event_log):
    connection.execute(text("CREATE TABLE a (id int PRIMARY KEY); CREATE TABLE b (id int)"))
    connection.commit()
    tracker = catalog.Tracker(connection)
    if event_log and not tracker.use_event_log():
        pytest.skip("the server's user may not create event triggers")
    connection.execute(text("ALTER TABLE b ADD COLUMN x int"))
    connection.commit()
    b = connection.execute(text("SELECT 'b'::regclass::oid")).scalar()
    connection.rollback()
    assert tracker.refresh() == {b}
    for _ in range(3):  # transactions that change nothing move the xid counter on
        connection.execute(text("SELECT txid_current()"))
        connection.commit()
    assert tracker.refresh() == set()


def test_diff_reads_object_by_object():
    expected = {
        ("index", "public.ix"): "CREATE INDEX ix ON public.t USING btree (x)",
        ("table", "public.t"): "",
    }
    actual = {("table", "public.t"): "", ("column", "public.t.y"): "integer NULL"}
    assert catalog.diff(expected, actual) == [
        "+ column public.t.y: integer NULL",
        "- index public.ix: CREATE INDEX ix ON public.t USING btree (x)",
    ]
