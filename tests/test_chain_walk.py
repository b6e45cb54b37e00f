"""The roundtrip walk split into parts walked at once (``--jobs``), against a real PostgreSQL.

A split walk must find what one walk finds, name the same revisions, and leave no scratch
database behind.
"""

from __future__ import annotations

import pytest

from alembic_cases import Rev, make_project
from conftest import run_json, scratch_databases
from mks_db.engine import workers
from mks_db.engine.chain_walk import PREFIX_COST, Part, split
from mks_db.limits import MIN_PART

pytestmark = [
    pytest.mark.skipif(not workers.available(), reason="parts run in forked processes (Linux)"),
    pytest.mark.slow,
]


def table(name: str, parent: str | None) -> Rev:
    return Rev(
        name,
        parent,
        f'op.create_table("{name}", sa.Column("id", sa.Integer, primary_key=True), '
        f'sa.Column("note", sa.String(20)))',
        f'op.drop_table("{name}")',
    )


def walk(capsys, ini, server_url, jobs):
    code, report = run_json(capsys, "roundtrip", "-c", str(ini), "--database-url", server_url, "-j", jobs)
    return code, sorted((f["revision"], f["check"], f["severity"], f["message"]) for f in report["findings"])


def test_parts_cover_the_chain_and_cost_about_the_same():
    for count, jobs in [(200, 2), (400, 4), (37, 3), (5, 5), (3, 8)]:
        parts = split(count, jobs)
        assert parts[0].start == 0 and parts[-1].stop == count
        assert all(a.stop == b.start for a, b in zip(parts, parts[1:], strict=False))
        assert len(parts) == min(jobs, count) and all(p.stop > p.start for p in parts)
        costs = [PREFIX_COST * p.start + p.stop - p.start for p in parts]
        assert max(costs) - min(costs) <= 1 + PREFIX_COST, (count, jobs, parts)
    assert split(200, 2) == [Part(0, 118), Part(118, 200)]  # the later part also upgrades 118
    assert split(2 * MIN_PART - 1) == [Part(0, 2 * MIN_PART - 1)]  # too short to be worth a process
    assert split(0, 4) == [Part(0, 0)]


@pytest.mark.parametrize("env", ["connection", "stock"])  # env.py on mks-db's connection, or its own
def test_split_walk_finds_what_one_walk_finds(capsys, tmp_path, pg_server, server_url, env):
    leaves_index = Rev(  # part 1 of 2: its downgrade forgets the index
        "b2",
        "a1",
        'op.create_index("ix_a1_note", "a1", ["note"])',
        "pass",
    )
    drops_data = Rev(  # part 2 of 2: drops a column holding the generated rows
        "d4",
        "c3",
        'op.drop_column("c3", "note")',
        'op.add_column("c3", sa.Column("note", sa.String(20)))',
    )
    ini = make_project(tmp_path, [table("a1", None), leaves_index, table("c3", "b2"), drops_data], env=env)
    before = scratch_databases(pg_server)
    one = walk(capsys, ini, server_url, "1")
    split_walk = walk(capsys, ini, server_url, "2")
    assert one == split_walk
    assert one[0] == 1, one
    assert [(revision, check) for revision, check, *_ in one[1]] == [("b2", "roundtrip"), ("d4", "data-loss")]
    assert scratch_databases(pg_server) == before


def test_walk_down_of_a_later_part_must_restore_where_it_started(capsys, tmp_path, server_url):
    # c3's downgrade keeps its rows in a new table, so it leaves that table behind only when c3
    # holds rows: on the way down from head, not right after its own upgrade.
    keeps_rows = Rev(
        "c3",
        "b2",
        'op.create_table("c3", sa.Column("id", sa.Integer, primary_key=True))',
        'op.execute("DO $$ BEGIN IF EXISTS (SELECT FROM c3) THEN '
        'CREATE TABLE c3_saved AS TABLE c3; END IF; END $$")\n'
        'op.drop_table("c3")',
    )
    ini = make_project(tmp_path, [table("a1", None), table("b2", "a1"), keeps_rows, table("d4", "c3")])
    code, findings = walk(capsys, ini, server_url, "1")
    assert code == 1
    assert [(revision, check) for revision, check, *_ in findings] == [("a1", "roundtrip")]
    assert findings[0][3].startswith("downgrading every revision to base leaves objects behind:")
    assert "+ table public.c3_saved" in findings[0][3]

    code, findings = walk(capsys, ini, server_url, "2")  # parts a1-b2 and c3-d4
    assert code == 1
    assert [(revision, check) for revision, check, *_ in findings] == [("c3", "roundtrip")]
    expected = "downgrading every revision from head to b2 does not restore its schema:"
    assert findings[0][3].startswith(expected)
    assert "+ table public.c3_saved" in findings[0][3]


def test_a_part_that_cannot_reach_its_start_adds_nothing_to_the_finding_before_it(
    capsys, tmp_path, server_url
):
    broken = Rev("b2", "a1", 'op.execute("ALTER TABLE missing ADD COLUMN x int")', "pass")
    ini = make_project(tmp_path, [table("a1", None), broken, table("c3", "b2"), table("d4", "c3")])
    assert walk(capsys, ini, server_url, "1") == walk(capsys, ini, server_url, "2")
    code, findings = walk(capsys, ini, server_url, "2")
    assert code == 1 and [(r, c) for r, c, *_ in findings] == [("b2", "upgrade"), ("b2", "upgrade")]
    assert "2 later revisions were not checked (c3, d4)" in findings[1][-1]
