"""mks-db locks: what revisions really lock, rewrite and cost, measured on filled tables."""

from __future__ import annotations

import dataclasses

import pytest

from alembic_cases import Rev, make_project
from mks_db.checks import locks
from mks_db.engine import lock_probe
from mks_db.engine.evidence import Measured
from mks_db.engine.project import load_project
from mks_db.limits import LockLimits

ACCOUNT = Rev(
    "a1",
    None,
    # ids generated like every other column (no sequence), so orders can point at them
    'op.create_table("account", sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),\n'
    '                sa.Column("email", sa.String(100), nullable=False), sa.Column("n", sa.Integer))\n'
    'op.create_table("orders", sa.Column("id", sa.Integer, primary_key=True),\n'
    '                sa.Column("account_id", sa.Integer))',
    'op.drop_table("orders")\nop.drop_table("account")',
)
ROWS = 20_000


def measure(tmp_path, pg_server, upgrade, downgrade="pass", extra=(), rows=ROWS, **settings):
    ini = make_project(
        tmp_path, [ACCOUNT, *extra, Rev("z9", extra[-1].id if extra else "a1", upgrade, downgrade)]
    )
    project = load_project(ini)
    config = LockLimits(rows=rows, **settings)
    [measured] = lock_probe.analyse(project, pg_server, [project.revision("z9")], config)
    return measured, locks.judge(project, Measured([measured], config))


def lock_on(measured, table):
    [found] = [t for t in measured.tables if t.table == f"public.{table}"]
    return found


def test_a_plain_create_index_takes_share_and_is_reported_with_a_time(tmp_path, pg_server):
    measured, findings = measure(tmp_path, pg_server, 'op.create_index("ix_email", "account", ["email"])')
    assert lock_on(measured, "account").mode == "ShareLock"
    [finding] = findings
    assert "ShareLock on public.account" in finding.message
    assert (
        f"measured {measured.seconds:.2f}s at {ROWS:,} rows ({measured.seconds_small:.2f}s at"
        in finding.message
    )
    assert "blocking writes" in finding.message and f"at {ROWS:,} rows" in finding.message
    assert "CREATE INDEX CONCURRENTLY" in finding.message


def test_create_index_concurrently_takes_no_blocking_lock(tmp_path, pg_server):
    measured, findings = measure(
        tmp_path,
        pg_server,
        "with op.get_context().autocommit_block():\n"
        '    op.create_index("ix_email", "account", ["email"], postgresql_concurrently=True)',
    )
    assert lock_on(measured, "account").mode == "ShareUpdateExclusiveLock"  # blocks neither reads nor writes
    assert findings == []


def test_a_type_change_rewrites_under_access_exclusive_and_a_nullable_column_does_not(tmp_path, pg_server):
    changed, _ = measure(tmp_path / "type", pg_server, 'op.alter_column("account", "n", type_=sa.BigInteger)')
    assert (lock_on(changed, "account").mode, lock_on(changed, "account").rewritten) == (
        "AccessExclusiveLock",
        True,
    )
    added, findings = measure(
        tmp_path / "add", pg_server, 'op.add_column("account", sa.Column("note", sa.Text))'
    )
    assert (lock_on(added, "account").mode, lock_on(added, "account").rewritten) == (
        "AccessExclusiveLock",
        False,
    )
    assert [f.severity for f in findings] == ["warning"]  # brief: within the budget


def test_foreign_key_not_valid_then_validate_locks_less_than_a_plain_one(tmp_path, pg_server):
    plain, found = measure(
        tmp_path / "plain",
        pg_server,
        'op.create_foreign_key("orders_account_id_fkey", "orders", "account", ["account_id"], ["id"])',
    )
    # The referenced table's SHARE ROW EXCLUSIVE comes from the foreign key, not from an index.
    [referenced] = [f for f in found if "on public.account " in f.message]
    assert "safe pattern: add the foreign key NOT VALID" in referenced.message, referenced.message
    not_valid = Rev(
        "y8",
        "a1",
        'op.execute("ALTER TABLE orders ADD CONSTRAINT orders_account_id_fkey '
        'FOREIGN KEY (account_id) REFERENCES account (id) NOT VALID")',
        "pass",
    )
    validate, _ = measure(
        tmp_path / "validate",
        pg_server,
        'op.execute("ALTER TABLE orders VALIDATE CONSTRAINT orders_account_id_fkey")',
        extra=(not_valid,),
    )
    assert lock_on(plain, "orders").mode == "ShareRowExclusiveLock"  # blocks writes while it checks
    assert lock_on(validate, "orders").mode == "ShareUpdateExclusiveLock"  # blocks neither
    assert locks.BLOCKS.get(lock_on(validate, "orders").mode) is None


@pytest.mark.parametrize(("production_rows", "severity"), [(50_000_000, "error"), (None, "warning")])
def test_the_budget_turns_a_slow_blocking_revision_into_an_error(
    tmp_path, pg_server, production_rows, severity
):
    rows = {"public.account": production_rows} if production_rows else {}
    measured, _ = measure(tmp_path, pg_server, 'op.create_index("ix_email", "account", ["email"])')
    # The rule, on fixed times (measured ones vary with the machine): ten times the rows cost ten
    # times as long, as an index build does, and the SHARE lock really measured above.
    timed = dataclasses.replace(measured, seconds=0.5, seconds_small=0.05)
    config = LockLimits(rows=ROWS, production_rows=rows, budget_seconds=2.0)
    findings = locks.judge(load_project(tmp_path / "alembic.ini"), Measured([timed], config))
    [finding] = findings
    assert finding.severity == severity, finding.message
    if severity == "error":
        assert "over the 2s budget" in finding.message and "50,000,000 rows" in finding.message


def test_the_safe_pattern_follows_the_statement_that_took_the_lock_not_words_in_the_file(tmp_path, pg_server):
    # An ADD COLUMN (brief ACCESS EXCLUSIVE) in a file whose comment speaks of a constraint.
    measured, findings = measure(
        tmp_path,
        pg_server,
        "# the unique constraint on email comes in a later revision\n"
        'op.add_column("account", sa.Column("nickname", sa.String(20)))',
        'op.drop_column("account", "nickname")',
        rows=2_000,
    )
    [finding] = findings
    assert "a metadata-only change" in finding.message
    assert "NOT VALID" not in finding.message


@pytest.mark.slow
def test_row_by_row_work_that_cannot_be_rendered_gets_the_advice_for_rows_not_metadata(tmp_path, pg_server):
    """fittrackee's 076d33eab04f: a column added, then one UPDATE per row it reads through the
    bind (so the SQL cannot be rendered offline), all under ACCESS EXCLUSIVE."""
    measured, findings = measure(
        tmp_path,
        pg_server,
        'op.add_column("account", sa.Column("m", sa.Integer))\n'
        'for row in op.get_bind().execute(sa.text("SELECT id FROM account")).fetchall():\n'
        '    op.execute(f"UPDATE account SET m = {row.id} WHERE id = {row.id}")',
        'op.drop_column("account", "m")',
        rows=5_000,
    )
    [finding] = [f for f in findings if "on public.account " in f.message]
    assert measured.seconds >= 1.5 * measured.seconds_small, measured  # 5,000 statements against 500
    assert "safe pattern: the time grows with the rows" in finding.message, finding.message
    assert "metadata-only" not in finding.message


def test_a_table_the_generator_cannot_fill_is_a_warning_naming_it(tmp_path, pg_server):
    # A CHECK constraint no generated value meets: the table stays empty, and the report says so.
    strict = Rev(
        "b2",
        "a1",
        'op.create_table("codes", sa.Column("code", sa.String(8), nullable=False),\n'
        "                sa.CheckConstraint(\"code ~ '^[A-Z]{8}$'\"))",
        'op.drop_table("codes")',
    )
    measured, findings = measure(
        tmp_path, pg_server, 'op.create_index("ix_code", "codes", ["code"])', extra=(strict,), rows=2_000
    )
    [unfilled] = [f for f in findings if "measured on fewer rows" in f.message]
    assert unfilled.severity == "warning" and "public.codes" in unfilled.message


def test_a_revision_that_cannot_be_applied_is_a_warning_not_a_crash(tmp_path, pg_server):
    measured, findings = measure(
        tmp_path, pg_server, 'op.execute("ALTER TABLE ghost ADD COLUMN x int")', rows=1_000
    )
    [finding] = findings
    assert finding.severity == "warning"
    assert "z9's locks were not measured: its upgrade fails" in finding.message
    assert 'relation "ghost" does not exist' in finding.message


def test_a_parent_the_generator_cannot_fill_is_named_as_not_touched_by_the_revision(tmp_path, pg_server):
    # z9 touches items only; items' NOT NULL foreign key needs rows in codes, which no generated
    # value meets: the report names codes as a table the revision does not touch.
    strict = Rev(
        "b2",
        "a1",
        'op.create_table("codes", sa.Column("code", sa.String(8), primary_key=True),\n'
        "                sa.CheckConstraint(\"code ~ '^[A-Z]{8}$'\"))\n"
        'op.create_table("items", sa.Column("id", sa.Integer, primary_key=True),\n'
        '                sa.Column("code", sa.String(8), sa.ForeignKey("codes.code"), nullable=False))',
        'op.drop_table("items")\nop.drop_table("codes")',
    )
    measured, findings = measure(
        tmp_path,
        pg_server,
        'op.create_index("ix_items_code", "items", ["code"])',
        extra=(strict,),
        rows=2_000,
    )
    [parent] = [m for m in measured.unfilled if "rows for public.codes" in m]
    assert "(not touched by the revision; a touched table's foreign key needs its rows)" in parent, parent
    assert not any("public.items" in m and "not touched" in m for m in measured.unfilled), measured.unfilled
    assert "public.codes" in measured.short, measured.short  # what the plan judges by
