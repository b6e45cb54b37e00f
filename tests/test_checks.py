"""The migration checks, each on a small project with one defect, against a real PostgreSQL.

Every test runs ``mks-db`` as a user would (``main([...])`` with ``--format json``) and asserts
the verdict, the check that caught the defect, the revision it names and the message. A test
runs the command that checks what it asserts: ``roundtrip`` for the walk's findings (upgrade,
downgrade, roundtrip, data-loss), ``drift`` for drift, ``heads`` for the revision graph; the
whole ``check`` (which also renders and lints the SQL) where a project must pass everything.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from alembic_cases import Rev, make_project
from check_cases import DATABASE_COMMANDS
from conftest import run_json

TABLE = """
op.create_table("account", sa.Column("id", sa.Integer, primary_key=True),
                sa.Column("email", sa.String(100), nullable=False))
"""
DROP_TABLE = 'op.drop_table("account")'
BASE = Rev("a1", None, TABLE, DROP_TABLE)

MODELS = """
import sqlalchemy as sa
target_metadata = sa.MetaData()
sa.Table("account", target_metadata, sa.Column("id", sa.Integer, primary_key=True),
         sa.Column("email", sa.String(100), nullable=False){extra})
"""


def run(capsys, ini, command="check", *extra, server_url):
    database = ["--database-url", server_url] if command in DATABASE_COMMANDS else []
    return run_json(capsys, command, "-c", str(ini), *database, *extra)


def only(report, check):
    return [f for f in report["findings"] if f["check"] == check]


def errors(report):
    return [f for f in report["findings"] if f["severity"] == "error"]


@pytest.fixture
def check(capsys, tmp_path, server_url):
    """Build a project from revisions (and models), run ``mks-db COMMAND`` on it (``check``
    unless the test names the command that checks what it asserts)."""

    def _check(revisions, models=None, env="connection", command="check"):
        models = MODELS.format(extra="") if models is None else models
        ini = make_project(tmp_path, revisions, models, env)
        return run(capsys, ini, command, server_url=server_url)

    return _check


def test_clean_linear_project_passes(check):
    second = Rev(
        "b2",
        "a1",
        'op.add_column("account", sa.Column("name", sa.String(50)))',
        'op.drop_column("account", "name")',
    )
    index = Rev(  # an index on an existing table, built the safe way, alone in its revision
        "c3",
        "b2",
        "with op.get_context().autocommit_block():\n"
        '    op.create_index("ix_account_name", "account", ["name"], postgresql_concurrently=True,'
        " if_not_exists=True)",
        "with op.get_context().autocommit_block():\n"
        '    op.drop_index("ix_account_name", "account", postgresql_concurrently=True, if_exists=True)',
    )
    models = MODELS.format(extra=', sa.Column("name", sa.String(50), index=True)')
    code, report = check([BASE, second, index], models)
    assert (code, report["ok"], report["findings"]) == (0, True, []), report["findings"]
    assert report["revisions"] == 3
    assert set(report) == {"ok", "findings", "revisions", "seconds"}


def test_stock_env_py_taking_the_url_from_sqlalchemy_url_works(check):
    code, report = check([BASE], env="stock")
    assert (code, report["findings"]) == (0, [])


def test_branch_and_merge_project_passes(check):
    left = Rev(
        "b1",
        "a1",
        'op.create_table("left_t", sa.Column("id", sa.Integer, primary_key=True))',
        'op.drop_table("left_t")',
    )
    right = Rev(
        "c1",
        "a1",
        'op.create_table("right_t", sa.Column("id", sa.Integer, primary_key=True))',
        'op.drop_table("right_t")',
    )
    merge = Rev("d1", ("b1", "c1"))
    models = MODELS.format(extra="") + (
        'sa.Table("left_t", target_metadata, sa.Column("id", sa.Integer, primary_key=True))\n'
        'sa.Table("right_t", target_metadata, sa.Column("id", sa.Integer, primary_key=True))\n'
    )
    code, report = check([BASE, left, right, merge], models)
    assert (code, report["findings"]) == (0, [])
    assert report["revisions"] == 4


def test_project_with_several_schemas_passes(check):
    rev = Rev(
        "a1",
        None,
        'op.execute("CREATE SCHEMA billing")\n'
        'op.create_table("invoice", sa.Column("id", sa.Integer, primary_key=True), schema="billing")\n'
        'sa.Enum("open", "paid", name="state", schema="billing").create(op.get_bind())\n'
        'op.add_column("invoice", sa.Column("state", sa.Enum("open", "paid", name="state", '
        'schema="billing", create_type=False)), schema="billing")',
        'op.drop_table("invoice", schema="billing")\n'
        'op.execute("DROP TYPE billing.state")\nop.execute("DROP SCHEMA billing")',
    )
    models = """
import sqlalchemy as sa
target_metadata = sa.MetaData()
sa.Table("invoice", target_metadata, sa.Column("id", sa.Integer, primary_key=True),
         sa.Column("state", sa.Enum("open", "paid", name="state", schema="billing")), schema="billing")
"""
    code, report = check([rev], models)
    assert (code, report["findings"]) == (0, [])


def test_downgrade_that_leaves_an_index_behind_fails_roundtrip(check):
    rev = Rev("b2", "a1", 'op.create_index("ix_account_email", "account", ["email"])', "pass")
    code, report = check([BASE, rev], command="roundtrip")
    assert code == 1
    [finding] = only(report, "roundtrip")
    assert finding["revision"] == "b2"
    assert "does not restore the schema" in finding["message"]
    assert "+ index public.ix_account_email" in finding["message"]
    assert finding["path"].endswith("b2.py")
    # The annotation lands on the op.create_index call, not on the docstring.
    lines = Path(finding["path"]).read_text().splitlines()
    assert lines[finding["line"] - 1].strip().startswith('op.create_index("ix_account_email"'), finding


def test_downgrade_that_renames_the_table_instead_of_dropping_it_fails_roundtrip(check):
    rev = Rev(
        "b2",
        "a1",
        'op.create_table("audit", sa.Column("id", sa.Integer, primary_key=True))',
        'op.rename_table("audit", "audit_old")',
    )
    models = MODELS.format(extra="") + (
        'sa.Table("audit", target_metadata, sa.Column("id", sa.Integer, primary_key=True))\n'
    )
    code, report = check([BASE, rev], models, command="roundtrip")
    assert code == 1
    [finding] = errors(report)
    assert (finding["check"], finding["revision"]) == ("roundtrip", "b2")
    assert "+ table public.audit_old" in finding["message"]


def test_pass_downgrade_of_a_schema_change_fails_roundtrip(check):
    rev = Rev("b2", "a1", 'op.add_column("account", sa.Column("age", sa.Integer))', "pass")
    code, report = check([BASE, rev], command="roundtrip")
    assert code == 1
    finding = errors(report)[0]
    assert (finding["check"], finding["revision"]) == ("roundtrip", "b2")
    assert "+ column public.account.age: integer NULL" in finding["message"]


def test_revision_declared_irreversible_is_a_warning(check):
    rev = Rev(
        "b2",
        "a1",
        'op.add_column("account", sa.Column("age", sa.Integer))',
        "pass",
        header="# mks-db: irreversible: the old ages cannot be restored",
    )
    models = MODELS.format(extra=', sa.Column("age", sa.Integer)')
    code, report = check([BASE, rev], models, command="roundtrip")
    assert code == 0, report
    assert errors(report) == []
    warning = only(report, "roundtrip")[0]
    assert warning["severity"] == "warning"
    assert "the old ages cannot be restored" in warning["message"]


def test_downgrade_that_errors_names_the_revision_and_the_database_error(check):
    rev = Rev(
        "b2",
        "a1",
        'op.add_column("account", sa.Column("age", sa.Integer))',
        'op.drop_column("account", "agee")',
    )
    code, report = check(
        [BASE, rev], MODELS.format(extra=', sa.Column("age", sa.Integer)'), command="roundtrip"
    )
    assert code == 1
    [finding] = errors(report)
    assert (finding["check"], finding["revision"]) == ("downgrade", "b2")
    assert 'column "agee" of relation "account" does not exist' in finding["message"]
    assert finding["line"] is not None


def test_enum_left_behind_makes_the_re_upgrade_fail(check):
    rev = Rev(
        "b2",
        "a1",
        'op.create_table("feeling", sa.Column("id", sa.Integer, primary_key=True),\n'
        '                sa.Column("mood", sa.Enum("ok", "bad", name="mood")))',
        'op.drop_table("feeling")',
    )
    models = MODELS.format(extra="") + (
        'sa.Table("feeling", target_metadata, sa.Column("id", sa.Integer, primary_key=True),\n'
        '         sa.Column("mood", sa.Enum("ok", "bad", name="mood")))\n'
    )
    code, report = check([BASE, rev], models, command="roundtrip")
    assert code == 1
    finding = errors(report)[0]
    assert (finding["check"], finding["revision"]) == ("roundtrip", "b2")
    assert "+ enum public.mood" in finding["message"]


def test_two_heads_are_reported_with_the_merge_command(check):
    left = Rev("b1", "a1")
    right = Rev("c1", "a1")
    code, report = check([BASE, left, right], command="heads")
    assert code == 1
    heads = only(report, "heads")
    assert {f["revision"] for f in heads} == {"b1", "c1"}
    assert "a1 splits into b1, c1" in heads[0]["message"]
    assert "alembic merge heads" in heads[0]["message"]


def test_a_revision_altering_a_table_nobody_created_fails_upgrade(check):
    rev = Rev("b2", "a1", 'op.add_column("ghost", sa.Column("x", sa.Integer))')
    code, report = check([BASE, rev], command="roundtrip")
    assert code == 1
    [finding] = errors(report)
    assert (finding["check"], finding["revision"]) == ("upgrade", "b2")
    assert 'relation "ghost" does not exist' in finding["message"]


def test_a_first_revision_that_expects_tables_made_outside_the_migrations_is_an_error_naming_base_metadata(
    check,
):
    # As a project that runs metadata.create_all() before its first migration has it.
    rev = Rev("a1", None, 'op.add_column("ghost", sa.Column("x", sa.Integer))')
    later = Rev(
        "b2",
        "a1",
        'op.create_table("t", sa.Column("id", sa.Integer, primary_key=True))',
        'op.drop_table("t")',
    )
    code, report = check([rev, later], command="roundtrip")
    first, unchecked = only(report, "upgrade")
    assert first["severity"] == "error" and 'relation "ghost" does not exist' in first["message"]
    assert "expects objects created outside its migrations" in first["message"]
    assert "[tool.mks-db] base-metadata" in first["message"]
    assert (
        unchecked["severity"] == "warning"
        and "1 later revisions were not checked (b2)" in unchecked["message"]
    )
    assert code == 1


def test_a_first_revision_whose_downgrade_refuses_on_purpose_is_a_warning(check):
    rev = Rev("a1", None, TABLE, 'raise Exception("Base revision, no downgrade is possible")')
    code, report = check([rev], command="roundtrip")
    [finding] = only(report, "downgrade")
    assert finding["severity"] == "warning"
    assert "the chain's first revision, refuses: Exception: Base revision" in finding["message"]
    assert code == 0


def test_model_column_that_no_migration_creates_is_drift(check):
    models = MODELS.format(extra=', sa.Column("nickname", sa.String(30))')
    code, report = check([BASE], models, command="drift")
    assert code == 1
    [finding] = errors(report)
    assert finding["check"] == "drift"
    assert "column account.nickname: models only" in finding["message"]


def test_not_null_column_without_default_fails_only_because_rows_exist(check):
    rev = Rev(
        "b2",
        "a1",
        'op.add_column("account", sa.Column("age", sa.Integer, nullable=False))',
        'op.drop_column("account", "age")',
    )
    models = MODELS.format(extra=', sa.Column("age", sa.Integer, nullable=False)')
    code, report = check([BASE, rev], models, command="roundtrip")
    assert code == 1
    [finding] = only(report, "upgrade")
    assert finding["revision"] == "b2"
    assert "fails when the tables hold rows" in finding["message"]
    assert 'column "age" of relation "account" contains null values' in finding["message"]


@pytest.mark.parametrize(
    ("upgrade", "downgrade", "error"),
    [
        (
            'op.execute("ALTER TABLE account ALTER COLUMN email TYPE integer USING email::integer")',
            'op.execute("ALTER TABLE account ALTER COLUMN email TYPE varchar(100)")',
            "invalid input syntax for type integer",
        ),
        (
            "import json\n"
            'for (email,) in op.get_bind().execute(sa.text("SELECT email FROM account")):\n'
            "    json.loads(email)",
            "pass",
            "JSONDecodeError",
        ),
    ],
    ids=["cast", "python"],
)
def test_an_upgrade_that_chokes_on_generated_content_is_a_warning_naming_the_value(
    check, upgrade, downgrade, error
):
    code, report = check([BASE, Rev("b2", "a1", upgrade, downgrade)], command="roundtrip")
    [finding] = only(report, "upgrade")
    assert finding["severity"] == "warning"
    assert "fails on the generated rows' content, not on the schema" in finding["message"]
    assert error in finding["message"]
    assert code == 0


def test_dropping_a_column_that_held_data_is_data_loss(check):
    rev = Rev(
        "b2",
        "a1",
        'op.drop_column("account", "email")',
        'op.add_column("account", sa.Column("email", sa.String(100), nullable=True))',
    )
    code, report = check(
        [BASE, rev],
        MODELS.format(extra="").replace(', sa.Column("email", sa.String(100), nullable=False)', ""),
        command="roundtrip",
    )
    losses = only(report, "data-loss")
    assert code == 1
    assert [f["revision"] for f in losses] == ["b2"]
    assert "drops column public.account.email, which held data" in losses[0]["message"]


def test_declared_data_loss_is_accepted(check):
    rev = Rev(
        "b2",
        "a1",
        'op.execute("DELETE FROM account")',
        "pass",
        header="# mks-db: data-loss: test accounts are purged before launch",
    )
    code, report = check([BASE, rev], command="roundtrip")
    assert only(report, "data-loss") == []
    assert code == 0


MOVED = {
    "into-another-column": (
        'op.add_column("account", sa.Column("contact", sa.String(100)))\n'
        'op.execute("UPDATE account SET contact = upper(email)")\n'
        'op.drop_column("account", "email")',
        'op.add_column("account", sa.Column("email", sa.String(100)))\n'
        'op.execute("UPDATE account SET email = lower(contact)")\n'
        'op.alter_column("account", "email", nullable=False)\n'
        'op.drop_column("account", "contact")',
        "public.account",
    ),
    "into-another-table": (
        'op.create_table("email_archive", sa.Column("account_id", sa.Integer), sa.Column("data", sa.JSON))\n'
        'op.execute("INSERT INTO email_archive"\n'
        "           \" SELECT id, json_build_object('email', email) FROM account\")\n"
        'op.drop_column("account", "email")',
        'op.add_column("account", sa.Column("email", sa.String(100)))\n'
        "op.execute(\"UPDATE account a SET email = e.data->>'email' FROM email_archive e"
        ' WHERE e.account_id = a.id")\n'
        'op.alter_column("account", "email", nullable=False)\n'
        'op.drop_table("email_archive")',
        "public.email_archive",
    ),
}


@pytest.mark.parametrize("case", MOVED)
def test_a_column_whose_values_moved_before_it_was_dropped_is_not_data_loss(check, case):
    upgrade, downgrade, where = MOVED[case]
    code, report = check([BASE, Rev("b2", "a1", upgrade, downgrade)], command="roundtrip")
    [moved] = only(report, "data-loss")
    assert moved["severity"] == "warning", moved["message"]
    assert f"its values are now in {where} (moved, not lost)" in moved["message"]
    assert code == 0, errors(report)


def test_a_column_converted_and_renamed_back_to_its_name_is_not_data_loss(check):
    upgrade = (
        'op.add_column("account", sa.Column("email_new", sa.Text))\n'
        'op.execute("UPDATE account SET email_new = email")\n'
        'op.drop_column("account", "email")\n'
        'op.alter_column("account", "email_new", new_column_name="email", nullable=False)'
    )
    downgrade = 'op.alter_column("account", "email", type_=sa.String(100))'
    code, report = check([BASE, Rev("b2", "a1", upgrade, downgrade)], command="roundtrip")
    assert only(report, "data-loss") == []
    assert code == 0, errors(report)


@pytest.mark.parametrize(
    "upgrade",
    [
        'op.execute("DELETE FROM account")',
        # behind DDL that touches another table, in one string: the DDL does not hide the DELETE
        'op.create_table("log", sa.Column("id", sa.Integer, primary_key=True))\n'
        'op.execute("CREATE INDEX ix_log ON log (id); DELETE FROM account")',
        # through a function: any SELECT may write
        "op.execute(\"CREATE FUNCTION purge() RETURNS void LANGUAGE sql AS 'DELETE FROM account'\")\n"
        'op.execute("SELECT purge()")',
    ],
    ids=["delete", "after-ddl", "function"],
)
def test_deleting_rows_is_data_loss(check, upgrade):
    rev = Rev("b2", "a1", upgrade, "pass")
    code, report = check([BASE, rev], command="roundtrip")
    assert code == 1
    [finding] = only(report, "data-loss")
    assert "deletes 3 of 3 rows from public.account" in finding["message"]


def test_this_repository_passes_check(capsys, server_url):
    from conftest import REPO

    code, report = run(capsys, REPO / "alembic.ini", server_url=server_url)
    assert errors(report) == []
    assert code == 0
    # What remains are style notes on hand-written SQL and acknowledged safety rules.
    for warning in report["findings"]:
        assert warning["check"] == "sql-style" or "acknowledged in the revision" in warning["message"]
    assert report["revisions"] >= 7


PLAN_DEFAULT = (
    MODELS.format(extra=', sa.Column("plan", sa.String(10), server_default="free")'),
    Rev(
        "b2",
        "a1",
        'op.add_column("account", sa.Column("plan", sa.String(10)))',
        'op.drop_column("account", "plan")',
    ),
)


def test_server_default_drift_is_found_when_env_py_compares_server_defaults(check):
    models, rev = PLAN_DEFAULT
    code, report = check([BASE, rev], models, env="stock", command="drift")  # compare_server_default=True
    assert code == 1
    [finding] = only(report, "drift")
    assert "column account.plan: server default" in finding["message"]


def test_drift_compares_what_env_py_compares_as_alembic_check_would(check):
    models, rev = PLAN_DEFAULT
    code, report = check([BASE, rev], models, command="drift")  # the connection env.py compares no defaults
    assert only(report, "drift") == []
    assert code == 0


def test_dropping_a_table_that_held_rows_is_data_loss(check):
    log = Rev(
        "b2",
        "a1",
        'op.create_table("legacy_log", sa.Column("id", sa.Integer, primary_key=True),\n'
        '                sa.Column("line", sa.Text))',
        'op.drop_table("legacy_log")',
    )
    drop = Rev(
        "c3",
        "b2",
        'op.drop_table("legacy_log")',
        'op.create_table("legacy_log", sa.Column("id", sa.Integer, primary_key=True),\n'
        '                sa.Column("line", sa.Text))',
    )
    code, report = check([BASE, log, drop], command="roundtrip")
    [loss] = only(report, "data-loss")
    assert loss["revision"] == "c3"
    assert "drops table public.legacy_log, which held 3 rows" in loss["message"]
    assert code == 1


def test_enum_created_with_its_table_and_dropped_in_the_downgrade_passes(check):
    rev = Rev(
        "b2",
        "a1",
        'op.create_table("feeling", sa.Column("id", sa.Integer, primary_key=True),\n'
        '                sa.Column("mood", sa.Enum("ok", "bad", name="mood")))',
        'op.drop_table("feeling")\nsa.Enum(name="mood").drop(op.get_bind())',
    )
    models = MODELS.format(extra="") + (
        'sa.Table("feeling", target_metadata, sa.Column("id", sa.Integer, primary_key=True),\n'
        '         sa.Column("mood", sa.Enum("ok", "bad", name="mood")))\n'
    )
    code, report = check([BASE, rev], models, command="roundtrip")
    assert [f for f in report["findings"] if f["check"] in ("roundtrip", "upgrade", "downgrade")] == []


def test_the_walk_goes_on_past_an_upgrade_that_fails_only_apart_from_its_parent(check):
    """b2 re-creates an enum type a1 made: it fails in a run of its own (as an existing database
    upgraded by a later release would) and passes in one run with a1, where Alembic remembers
    the type. The walk reports it and still checks c3, whose downgrade leaves an index behind."""
    colour = 'sa.Enum("red", "blue", name="colour")'
    a1 = Rev(
        "a1",
        None,
        f'op.create_table("paint", sa.Column("id", sa.Integer, primary_key=True), sa.Column("c", {colour}))',
        'op.drop_table("paint")\nop.execute("DROP TYPE colour")',
    )
    b2 = Rev(
        "b2",
        "a1",
        f'op.create_table("tint", sa.Column("id", sa.Integer, primary_key=True), sa.Column("c", {colour}))',
        'op.drop_table("tint")',
    )
    c3 = Rev("c3", "b2", 'op.create_index("ix_tint_c", "tint", ["c"])', "pass")
    code, report = check([a1, b2, c3], models="target_metadata = None", command="roundtrip")
    assert code == 1
    [failed] = [f for f in errors(report) if f["revision"] == "b2"]
    assert failed["check"] == "upgrade" and 'type "colour" already exists' in failed["message"]
    assert "fails only when run apart from its parent" in failed["message"]
    [leftover] = [f for f in errors(report) if f["revision"] == "c3"]
    assert leftover["check"] == "roundtrip" and "ix_tint_c" in leftover["message"]


def test_a_revision_that_cannot_be_reached_names_the_revisions_left_unchecked(check):
    broken = Rev("b2", "a1", 'op.execute("SELECT * FROM no_such_table")', "pass")
    later = Rev(
        "c3", "b2", 'op.add_column("account", sa.Column("x", sa.Integer))', 'op.drop_column("account", "x")'
    )
    code, report = check([BASE, broken, later], command="roundtrip")
    assert code == 1
    [unchecked] = [f for f in report["findings"] if f["severity"] == "warning" and f["revision"] == "b2"]
    assert "1 later revisions were not checked (c3)" in unchecked["message"]


def test_an_upgrade_that_fails_in_the_applications_own_code_is_a_warning(check, tmp_path, monkeypatch):
    # As a revision that needs an object the application's own migrate command installs.
    (tmp_path / "app_runtime.py").write_text(
        "def upgrading_instance():\n    raise RuntimeError('no instance is being upgraded')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    rev = Rev("b2", "a1", "import app_runtime\napp_runtime.upgrading_instance()")
    code, report = check([BASE, rev], command="roundtrip")
    [finding] = only(report, "upgrade")
    assert finding["severity"] == "warning", finding
    assert "RuntimeError: no instance is being upgraded" in finding["message"]
    assert "raised in the application's code, upgrading_instance() in app_runtime.py:2" in finding["message"]
    assert code == 0


@pytest.mark.parametrize(
    "upgrade",
    [
        'raise ValueError("the revision itself is wrong")',  # the revision's own code
        'import json\njson.loads("{")',  # the standard library refusing the revision's argument
    ],
)
def test_an_upgrade_that_fails_in_its_own_code_is_an_error(check, upgrade):
    code, report = check([BASE, Rev("b2", "a1", upgrade)], command="roundtrip")
    [finding] = only(report, "upgrade")
    assert finding["severity"] == "error" and "application's code" not in finding["message"]
    assert code == 1


STATUS = Rev(
    "b2",
    "a1",
    'status = sa.Enum("draft", "published", name="status")\n'
    "status.create(op.get_bind())\n"
    'op.add_column("account", sa.Column("status", status))',
    'op.drop_column("account", "status")\nsa.Enum(name="status").drop(op.get_bind())',
)


@pytest.mark.parametrize(
    ("labels", "expected", "severity"),
    [
        ('"draft", "published", "archived"', "enum status: labels only in the models: 'archived'", "error"),
        # a label the application never writes (kept for a later release): a warning
        ('"draft"', "enum status: labels only in the database: 'published'", "warning"),
        ('"published", "draft"', "enum status: the same labels in another order", "error"),
    ],
)
def test_an_enum_label_the_migrations_never_create_is_drift(check, labels, expected, severity):
    models = MODELS.format(extra=f',\n         sa.Column("status", sa.Enum({labels}, name="status"))')
    code, report = check([BASE, STATUS], models, command="drift")
    [finding] = only(report, "drift")
    assert expected in finding["message"]
    assert (finding["severity"], code) == (severity, 1 if severity == "error" else 0), finding


def test_enum_labels_that_match_are_not_drift(check):
    models = MODELS.format(
        extra=',\n         sa.Column("status", sa.Enum("draft", "published", name="status"))'
    )
    code, report = check([BASE, STATUS], models, command="drift")
    assert (code, only(report, "drift")) == (0, [])


BASE_MODELS = """
import sqlalchemy as sa

metadata = sa.MetaData()
sa.Table("account", metadata, sa.Column("id", sa.Integer, primary_key=True),
         sa.Column("email", sa.String(100), nullable=False))
"""
ON_THE_BASE = [
    Rev(
        "a1",
        None,
        'op.add_column("account", sa.Column("age", sa.Integer))',
        'op.drop_column("account", "age")',
    ),
    Rev(  # a later defect: the downgrade forgets the index
        "b2",
        "a1",
        'op.create_index("ix_account_age", "account", ["age"])',
        "pass",
    ),
]


def test_a_chain_built_on_create_all_declared_in_base_metadata_is_checked_revision_by_revision(
    capsys, tmp_path, server_url, monkeypatch
):
    module = f"app_base_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{module}.py").write_text(BASE_MODELS)
    (tmp_path / "pyproject.toml").write_text(f'[tool.mks-db]\nbase-metadata = "{module}:metadata"\n')
    ini = make_project(tmp_path / "project", ON_THE_BASE)
    monkeypatch.chdir(tmp_path)
    code, report = run(capsys, ini, "roundtrip", server_url=server_url)
    assert code == 1
    assert only(report, "upgrade") == []  # every revision upgrades on the base
    [finding] = errors(report)
    assert (finding["check"], finding["revision"]) == ("roundtrip", "b2")
    assert "ix_account_age" in finding["message"]


def test_a_base_metadata_that_does_not_import_is_one_line(capsys, tmp_path, server_url, monkeypatch):
    (tmp_path / "pyproject.toml").write_text('[tool.mks-db]\nbase-metadata = "no_such_module:metadata"\n')
    ini = make_project(tmp_path / "project", ON_THE_BASE)
    monkeypatch.chdir(tmp_path)
    code, report = run(capsys, ini, "roundtrip", server_url=server_url)
    assert code == 2
    assert report["error"].startswith(
        "[tool.mks-db] base-metadata 'no_such_module:metadata' cannot be imported"
    )


ADD_AGE = Rev(
    "b2", "a1", 'op.add_column("account", sa.Column("age", sa.Integer))', 'op.drop_column("account", "age")'
)


def test_a_version_table_of_env_py_s_own_name_and_schema_is_alembic_s_not_a_user_table(
    capsys, tmp_path, server_url
):
    ini = make_project(tmp_path, [BASE, ADD_AGE], MODELS.format(extra=', sa.Column("age", sa.Integer)'))
    env = ini.parent / "migrations" / "env.py"
    source = env.read_text()
    own = "version_table='schema_history', version_table_schema='meta'"
    source = source.replace("transaction_per_migration=True)", f"transaction_per_migration=True, {own})")
    source = source.replace("literal_binds=True)", f"literal_binds=True, {own})")
    commit = "        set_timeouts()\n        connection.commit()"
    assert commit in source
    source = source.replace(
        commit,
        "        set_timeouts()\n"
        "        connection.exec_driver_sql('CREATE SCHEMA IF NOT EXISTS meta')\n"
        "        connection.commit()",
    )
    env.write_text(source)
    code, report = run(capsys, ini, "check", server_url=server_url)
    assert (code, errors(report)) == (0, [])


@pytest.mark.parametrize(
    "computed",
    ["PARENT = 'a' + '1'\ndown_revision = PARENT", "down_revision = ('a1',)[0]"],
)
def test_a_computed_down_revision_is_read_as_alembic_reads_it(capsys, tmp_path, server_url, computed):
    ini = make_project(tmp_path, [BASE, ADD_AGE], MODELS.format(extra=', sa.Column("age", sa.Integer)'))
    path = ini.parent / "migrations" / "versions" / "b2.py"
    source = path.read_text()
    assert "down_revision = 'a1'" in source
    path.write_text(source.replace("down_revision = 'a1'", computed))
    code, report = run(capsys, ini, "heads", server_url=server_url)
    assert (code, report["revisions"]) == (0, 2)
    code, report = run(capsys, ini, "roundtrip", server_url=server_url)
    assert (code, errors(report)) == (0, [])


def test_a_revision_file_whose_computed_ids_raise_is_one_line_naming_it(capsys, tmp_path, server_url):
    ini = make_project(tmp_path, [BASE])
    path = ini.parent / "migrations" / "versions" / "a1.py"
    path.write_text(path.read_text().replace("down_revision = None", "down_revision = PARENTS[0]"))
    code, report = run(capsys, ini, "heads", server_url=server_url)
    assert code == 2
    assert "a1.py raised while computing its revision ids: NameError" in report["error"]


def test_a_failure_after_a_caught_error_names_the_statement_that_failed_first(check):
    rev = Rev(
        "b2",
        "a1",
        "try:\n"
        '    op.execute("INSERT INTO no_such_table VALUES (1)")\n'
        "except Exception:  # the revision goes on, in a transaction PostgreSQL has aborted\n"
        "    pass\n"
        'op.add_column("account", sa.Column("age", sa.Integer))',
        'op.drop_column("account", "age")',
    )
    code, report = check([BASE, rev], command="roundtrip")
    assert code == 1
    [finding] = errors(report)
    assert 'relation "no_such_table" does not exist' in finding["message"], finding
    assert "current transaction is aborted" not in finding["message"], finding
    lines = Path(finding["path"]).read_text().splitlines()
    assert "no_such_table" in lines[finding["line"] - 1], finding  # the statement that failed first


EXPAND_WINDOW_MODELS = (
    MODELS.format(extra=', sa.Column("nickname", sa.String(30))')
    + '''

def hide_expand_window(context, revision, directives):
    """account.nickname is in the models a release before its migration: not drift (yet)."""
    from alembic.operations import ops

    upgrade = directives[0].upgrade_ops
    for table in [o for o in upgrade.ops if isinstance(o, ops.ModifyTableOps) and o.table_name == "account"]:
        table.ops = [
            o for o in table.ops if not (isinstance(o, ops.AddColumnOp) and o.column.name == "nickname")
        ]
        if not table.ops:
            upgrade.ops.remove(table)
'''
)


def test_drift_is_what_alembic_check_says_with_env_py_s_process_revision_directives(
    tmp_path, capsys, server_url, pg_server
):
    import uuid

    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    from mks_db.database.server import admin_engine, drop_database

    ini = make_project(tmp_path / "project", [BASE], EXPAND_WINDOW_MODELS)
    code, report = run(capsys, ini, "drift", server_url=server_url)
    assert code == 1 and "nickname" in only(report, "drift")[0]["message"]  # without the hook: drift
    env = ini.parent / "migrations" / "env.py"
    configure = (
        "context.configure(connection=connection, target_metadata=target_metadata, include_schemas=True,"
    )
    assert configure in env.read_text()
    env.write_text(
        env.read_text().replace(configure, configure + " process_revision_directives=hide_expand_window,")
    )
    name = f"check_{uuid.uuid4().hex[:10]}"
    with admin_engine(pg_server.url).connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:  # alembic check itself, on a database at head: no differences
        config = Config(str(ini))
        config.set_main_option(
            "sqlalchemy.url", pg_server.database_url(name).render_as_string(hide_password=False)
        )
        command.upgrade(config, "head")
        command.check(config)
    finally:
        drop_database(pg_server, name)
    code, report = run(capsys, ini, "drift", server_url=server_url)
    assert (code, only(report, "drift")) == (0, []), report


def test_a_column_read_before_its_drop_is_a_warning_naming_the_read_not_a_loss(check):
    rev = Rev(
        "b2",
        "a1",
        'op.create_table("email_archive", sa.Column("account_id", sa.Integer), sa.Column("data", sa.JSON))\n'
        "op.execute(\n"
        "    \"INSERT INTO email_archive SELECT id, json_build_object('digest', md5(email))\"\n"
        '    " FROM account"\n'
        ")\n"
        'op.drop_column("account", "email")',
        'op.add_column("account", sa.Column("email", sa.String(100)))\n'
        "op.execute(\"UPDATE account a SET email = e.data->>'digest' FROM email_archive e\"\n"
        '           " WHERE e.account_id = a.id")\n'
        'op.alter_column("account", "email", nullable=False)\n'
        'op.drop_table("email_archive")',
    )
    models = (
        MODELS.format(extra="").replace(
            ',\n         sa.Column("email", sa.String(100), nullable=False))', ")"
        )
        + 'sa.Table("email_archive", target_metadata, sa.Column("account_id", sa.Integer),\n'
        + '         sa.Column("data", sa.JSON))\n'
    )
    code, report = check([BASE, rev], models, command="roundtrip")
    [finding] = only(report, "data-loss")
    assert finding["severity"] == "warning", finding
    assert "drops column public.account.email" in finding["message"]
    assert "a statement before the drop reads it (INSERT INTO email_archive SELECT id" in finding["message"]
    assert code == 0, report


def test_a_dropped_column_its_downgrade_rebuilds_from_other_data_is_a_warning(check):
    """fittrackee's 080acc8ee956 drops sports.img, and its downgrade writes the paths back from
    the labels: the values are derived, so a warning naming the downgrade's statement (without
    such a statement the same drop is an error: the case ``drop-column`` of docs/checks.md)."""
    sport = Rev(
        "a1",
        None,
        'op.create_table("sport", sa.Column("id", sa.Integer, primary_key=True),\n'
        '                sa.Column("label", sa.String(50), nullable=False),\n'
        '                sa.Column("img", sa.String(255)))',
        'op.drop_table("sport")',
    )
    rev = Rev(
        "b2",
        "a1",
        'op.drop_column("sport", "img")',
        'op.add_column("sport", sa.Column("img", sa.String(255)))\n'
        "op.execute(\n"
        '    """\n'
        "    UPDATE sport SET img = '/img/sports/' || lower(label) || '.png'\n"
        '    """\n'
        ")",
    )
    models = (
        "import sqlalchemy as sa\ntarget_metadata = sa.MetaData()\n"
        'sa.Table("sport", target_metadata, sa.Column("id", sa.Integer, primary_key=True),\n'
        '         sa.Column("label", sa.String(50), nullable=False))\n'
    )
    code, report = check([sport, rev], models, command="roundtrip")
    [finding] = only(report, "data-loss")
    assert finding["severity"] == "warning", finding
    assert (
        "drops column public.sport.img, which held data; its downgrade writes it again (line "
        in finding["message"]
    )
    assert "UPDATE sport SET img = '/img/sports/' || lower(label)" in finding["message"], finding
    assert code == 0, report


def test_squawk_s_not_null_rule_is_decided_by_what_the_walk_measured(check):
    rev = Rev(
        "b2",
        "a1",
        'op.execute("DELETE FROM account")\n'
        'op.add_column("account", sa.Column("age", sa.Integer, nullable=False))',
        'op.drop_column("account", "age")',
        header="# mks-db: data-loss: the accounts are test fixtures, recreated by the application\n",
    )
    models = MODELS.format(extra=', sa.Column("age", sa.Integer, nullable=False)')
    code, report = check([BASE, rev], models)
    [finding] = [f for f in report["findings"] if f["rule"] == "adding-required-field"]
    assert finding["severity"] == "warning", finding
    assert "measured: the upgrade of b2 passed with generated rows in every table" in finding["message"]
    assert code == 0, report


def test_a_revision_that_fails_only_apart_from_its_parent_still_has_its_downgrade_judged(check):
    """As above, but the last revision: reached in one run with its parent, its downgrade (which
    forgets the table) is still tried, and the finding says how it was reached."""
    colour = 'sa.Enum("red", "blue", name="colour")'
    a1 = Rev(
        "a1",
        None,
        f'op.create_table("paint", sa.Column("id", sa.Integer, primary_key=True), sa.Column("c", {colour}))',
        'op.drop_table("paint")\nop.execute("DROP TYPE colour")',
    )
    b2 = Rev(
        "b2",
        "a1",
        f'op.create_table("tint", sa.Column("id", sa.Integer, primary_key=True), sa.Column("c", {colour}))',
        "pass",
    )
    code, report = check([a1, b2], models="target_metadata = None", command="roundtrip")
    assert code == 1
    [left] = [f for f in errors(report) if f["check"] == "roundtrip"]
    assert left["revision"] == "b2" and "+ table public.tint" in left["message"], left
    assert "reached in one run with the revisions before it" in left["message"], left


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
    code, report = run(capsys, without, "roundtrip", server_url=server_url)
    assert [f["revision"] for f in report["findings"] if f["check"] == "upgrade"] == ["b2"], report
    ini = make_project(tmp_path / "with", [a1, b2], models, "connection")
    code, report = run(capsys, ini, "roundtrip", server_url=server_url)
    assert [f for f in report["findings"] if f["check"] in ("upgrade", "data-loss")] == [], report
    assert code == 0, report


def test_a_revision_whose_code_cannot_take_a_generated_value_is_a_warning_naming_the_row(check):
    """b2's own code parses every payload as JSON; the generated text is not JSON. It passes on
    empty tables, so the failure is the content's: a warning with the row the code was handed."""
    a1 = Rev(
        "a1",
        None,
        'op.create_table("account", sa.Column("id", sa.Integer, primary_key=True),\n'
        '                sa.Column("payload", sa.Text))',
        'op.drop_table("account")',
    )
    b2 = Rev(
        "b2",
        "a1",
        "import json\n"
        'for id_, payload in op.get_bind().execute(sa.text("SELECT id, payload FROM account ORDER BY id")):\n'
        "    json.loads(payload)",
        "pass",
    )
    code, report = check([a1, b2], "target_metadata = None", command="roundtrip")
    [finding] = only(report, "upgrade")
    assert finding["severity"] == "warning", finding
    assert "fails on the generated rows' content" in finding["message"], finding
    assert (
        "(the row it read last: (1, '1_payload') from SELECT id, payload FROM account" in finding["message"]
    )


def test_a_chain_that_starts_from_placeholders_is_a_warning_that_it_cannot_be_checked_from_empty(check):
    """a1 does nothing: it stands for a schema the application creates itself (create_all and
    stamp, as jupyterhub and buildbot do); a2 alters that schema. Not a defect of the chain."""
    a1 = Rev("a1", None, '"""the schema of release 0.5, made by the application"""', "pass")
    a2 = Rev(
        "a2",
        "a1",
        'op.add_column("users", sa.Column("auth_state", sa.Text))',
        'op.drop_column("users", "auth_state")',
    )
    code, report = check([a1, a2], "target_metadata = None", command="roundtrip")
    [upgrade] = only(report, "upgrade")[:1]
    assert upgrade["severity"] == "warning" and upgrade["revision"] == "a2", report
    assert "(the revisions before it, a1, do nothing: the chain starts from a schema" in upgrade["message"]
    assert errors(report) == [] and code == 0, report


def test_module_level_code_that_uses_op_runs_in_the_migration_context_as_alembic_runs_it(check):
    """b2 creates its enum type when Alembic imports it (op.get_bind() at module level, inside
    try/except NameError, as fittrackee does): it must run where Alembic runs it."""
    b2 = Rev(
        "b2",
        "a1",
        'op.add_column("account", sa.Column("processing", processing))',
        'op.drop_column("account", "processing")',
        header="from alembic import op as _op\n"
        "from sqlalchemy.dialects import postgresql\n"
        'processing = postgresql.ENUM("NONE", "OPEN", name="processing", create_type=False)\n'
        "try:\n"
        '    postgresql.ENUM("NONE", "OPEN", name="processing").create(_op.get_bind(), checkfirst=True)\n'
        "except NameError:\n"
        "    pass",
    )
    code, report = check([BASE, b2], "target_metadata = None", command="roundtrip")
    assert [f for f in report["findings"] if f["check"] == "upgrade"] == [], report


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


def test_a_revision_that_calls_sys_exit_is_a_finding_not_the_end_of_the_check(check):
    """b2 ends the process when a row exists (as one of fittrackee's revisions does): the report
    still comes, with a finding at the line that called it, and the walk goes on."""
    b2 = Rev(
        "b2",
        "a1",
        "import sys\n"
        'if op.get_bind().execute(sa.text("SELECT count(*) FROM account")).scalar():\n'
        "    sys.exit(1)",
        "pass",
    )
    code, report = check([BASE, b2], "target_metadata = None", command="roundtrip")
    [finding] = only(report, "upgrade")
    assert "the migration called sys.exit(1)" in finding["message"], finding
    assert finding["path"].endswith("b2.py") and finding["line"] == 14, finding


@pytest.mark.parametrize("forward_only", [False, True])
def test_a_forward_only_project_hears_of_its_downgrades_as_warnings(
    capsys, tmp_path, server_url, monkeypatch, forward_only
):
    """b2's downgrade does nothing (as in a project that never downgrades, mlflow say): an error
    by default; a warning saying why when [tool.mks-db] forward-only = true."""
    b2 = Rev("b2", "a1", 'op.add_column("account", sa.Column("age", sa.Integer))', "pass")
    ini = make_project(tmp_path / "project", [BASE, b2], "target_metadata = None", "connection")
    (tmp_path / "pyproject.toml").write_text(f"[tool.mks-db]\nforward-only = {str(forward_only).lower()}\n")
    monkeypatch.chdir(tmp_path)
    code, report = run(capsys, ini, "roundtrip", server_url=server_url)
    [finding] = only(report, "roundtrip")
    if forward_only:
        assert finding["severity"] == "warning" and code == 0, report
        assert finding["message"].endswith(
            "(a warning: [tool.mks-db] forward-only says the project never runs its downgrades)"
        )
    else:
        assert finding["severity"] == "error" and code == 1, report


@pytest.mark.parametrize("unique", [False, True])
def test_an_index_only_the_migrations_make_is_a_warning_unless_it_is_unique(check, unique):
    """b2 indexes email; the models do not declare it. A plain index changes nothing the
    application meets (a warning: autogenerate would drop it); a unique one refuses its writes."""
    b2 = Rev(
        "b2",
        "a1",
        f'op.create_index("ix_account_email", "account", ["email"], unique={unique})',
        'op.drop_index("ix_account_email", table_name="account")',
    )
    code, report = check([BASE, b2], command="drift")
    [finding] = only(report, "drift")
    assert "index ix_account_email on account: database only" in finding["message"], finding
    assert finding["severity"] == ("error" if unique else "warning"), finding
    if not unique:
        assert "autogenerate would write a revision dropping it" in finding["message"]


def test_an_enum_label_only_the_database_has_is_a_warning(check):
    """b2 adds a label the models do not have yet (kept for a later release, as fittrackee's
    FOLLOWERS_AND_REMOTE): the application never writes it."""
    a1 = Rev(
        "a1",
        None,
        'op.create_table("account", sa.Column("id", sa.Integer, primary_key=True),\n'
        '                sa.Column("kind", sa.Enum("a", "b", name="kind")))',
        'op.drop_table("account")\nop.execute("DROP TYPE kind")',
    )
    b2 = Rev(
        "b2",
        "a1",
        "with op.get_context().autocommit_block():\n    op.execute(\"ALTER TYPE kind ADD VALUE 'c'\")",
        "pass",
        header="# mks-db: irreversible: PostgreSQL cannot drop an enum label",
    )
    models = """
import sqlalchemy as sa
target_metadata = sa.MetaData()
sa.Table("account", target_metadata, sa.Column("id", sa.Integer, primary_key=True),
         sa.Column("kind", sa.Enum("a", "b", name="kind")))
"""
    code, report = check([a1, b2], models, command="drift")
    [finding] = only(report, "drift")
    assert "labels only in the database: 'c'" in finding["message"], finding
    assert finding["severity"] == "warning" and code == 0, finding


@pytest.mark.parametrize("message", ["revision b2", "drop nickname from account"])
def test_a_drop_the_revisions_message_announces_is_a_warning(capsys, tmp_path, server_url, message):
    """b2 drops account.nickname, which held data: an error, unless the revision's own message
    (alembic revision -m) says it drops that column: then the loss is its purpose, a warning."""
    a1 = Rev(
        "a1",
        None,
        'op.create_table("account", sa.Column("id", sa.Integer, primary_key=True),\n'
        '                sa.Column("nickname", sa.Text))',
        'op.drop_table("account")',
    )
    b2 = Rev(
        "b2",
        "a1",
        'op.drop_column("account", "nickname")',
        'op.add_column("account", sa.Column("nickname", sa.Text))',
    )
    ini = make_project(tmp_path, [a1, b2], "target_metadata = None", "connection")
    path = tmp_path / "migrations" / "versions" / "b2.py"
    path.write_text(path.read_text().replace('"""revision b2"""', f'"""{message}"""'))
    code, report = run(capsys, ini, "roundtrip", server_url=server_url)
    [finding] = only(report, "data-loss")
    assert "drops column public.account.nickname, which held data" in finding["message"], finding
    if message == "revision b2":
        assert finding["severity"] == "error", finding
    else:
        assert finding["severity"] == "warning", finding
        assert "the revision's message says it means to ('drop nickname from account')" in finding["message"]


@pytest.mark.parametrize("labels", ["'RUNNING', 'FINISHED'", "'RUNNING', 'FINISHED', 'A_LONG_STATUS'"])
def test_string_lengths_that_a_check_makes_moot_are_a_warning(check, labels):
    """status is VARCHAR(9) in the database and String(20) in the models (mlflow's runs.status);
    a CHECK admits only values that fit both: a warning. A listed value longer than 9: an error."""
    a1 = Rev(
        "a1",
        None,
        'op.create_table("account", sa.Column("id", sa.Integer, primary_key=True),\n'
        '                sa.Column("status", sa.String(9)),\n'
        f'                sa.CheckConstraint("status IN ({labels})", name="ck_status"))',
        'op.drop_table("account")',
    )
    models = f"""
import sqlalchemy as sa
target_metadata = sa.MetaData()
sa.Table("account", target_metadata, sa.Column("id", sa.Integer, primary_key=True),
         sa.Column("status", sa.String(20)),
         sa.CheckConstraint("status IN ({labels})", name="ck_status"))
"""
    code, report = check([a1], models, command="drift")
    [finding] = only(report, "drift")
    assert "type is VARCHAR(9) in the database, VARCHAR(20) in the models" in finding["message"], finding
    moot = "A_LONG" not in labels
    assert finding["severity"] == ("warning" if moot else "error"), finding


@pytest.mark.parametrize("imported", [False, True])
def test_models_the_application_imports_before_it_migrates_join_target_metadata(
    capsys, tmp_path, server_url, monkeypatch, imported
):
    """env.py's metadata is the models' Base, but the module of one model is imported by the
    application, not by env.py (mlflow's workspaces): named in import-models, it is compared."""
    suffix = f"{int(imported)}_{id(tmp_path)}"
    (tmp_path / f"base_{suffix}.py").write_text(
        "import sqlalchemy as sa\nfrom sqlalchemy.orm import DeclarativeBase\n\n\n"
        "class Base(DeclarativeBase):\n    pass\n\n\n"
        'account = sa.Table("account", Base.metadata, sa.Column("id", sa.Integer, primary_key=True))\n'
    )
    (tmp_path / f"workspace_{suffix}.py").write_text(
        f"import sqlalchemy as sa\nfrom base_{suffix} import Base\n\n"
        'workspace = sa.Table("workspace", Base.metadata, sa.Column("id", sa.Integer, primary_key=True))\n'
    )
    a1 = Rev(
        "a1",
        None,
        'op.create_table("account", sa.Column("id", sa.Integer, primary_key=True))\n'
        'op.create_table("workspace", sa.Column("id", sa.Integer, primary_key=True))',
        'op.drop_table("workspace")\nop.drop_table("account")',
    )
    ini = make_project(
        tmp_path / "project", [a1], f"from base_{suffix} import Base\ntarget_metadata = Base.metadata"
    )
    if imported:
        (tmp_path / "pyproject.toml").write_text(f'[tool.mks-db]\nimport-models = ["workspace_{suffix}"]\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    code, report = run(capsys, ini, "drift", server_url=server_url)
    drift = [f["message"] for f in only(report, "drift")]
    if imported:
        assert drift == [] and code == 0, report
    else:
        assert len(drift) == 1 and "table workspace: database only" in drift[0], report
