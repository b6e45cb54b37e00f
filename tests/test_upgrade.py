"""checks/upgrade.py: upgrades that fail, on rows, on generated content, apart from their parents,
on objects made outside the chain, each on a small project with one defect.

Each test runs ``mks-db`` as a user would (``main([...])`` with ``--format json``) on a project
made by ``alembic_cases``, against a real PostgreSQL.
"""

from __future__ import annotations

import pytest

from alembic_cases import ADD_REQUIRED_AGE, BASE, MODELS, ON_THE_BASE, Rev, make_project
from conftest import errors, only, run_on


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


def test_not_null_column_without_default_fails_only_because_rows_exist(check):
    rev = ADD_REQUIRED_AGE
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


BASE_MODELS = """
import sqlalchemy as sa

metadata = sa.MetaData()
sa.Table("account", metadata, sa.Column("id", sa.Integer, primary_key=True),
         sa.Column("email", sa.String(100), nullable=False))
"""


def test_a_chain_built_on_create_all_declared_in_base_metadata_is_checked_revision_by_revision(
    capsys, tmp_path, server_url, monkeypatch
):
    module = f"app_base_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{module}.py").write_text(BASE_MODELS)
    (tmp_path / "pyproject.toml").write_text(f'[tool.mks-db]\nbase-metadata = "{module}:metadata"\n')
    ini = make_project(tmp_path / "project", ON_THE_BASE)
    monkeypatch.chdir(tmp_path)
    code, report = run_on(capsys, ini, "roundtrip", server_url=server_url)
    assert code == 1
    assert only(report, "upgrade") == []  # every revision upgrades on the base
    [finding] = errors(report)
    assert (finding["check"], finding["revision"]) == ("roundtrip", "b2")
    assert "ix_account_age" in finding["message"]


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
