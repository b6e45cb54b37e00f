"""checks/roundtrip.py: downgrades that do not restore the schema, upgrades not repeatable after
their downgrade, and the walk going on past a finding.

Each test runs ``mks-db`` as a user would (``main([...])`` with ``--format json``) on a project
made by ``alembic_cases``, against a real PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from alembic_cases import BASE, MODELS, ON_THE_BASE, Rev, make_project
from conftest import errors, only, run_on


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


def test_a_revision_that_cannot_be_reached_names_the_revisions_left_unchecked(check):
    broken = Rev("b2", "a1", 'op.execute("SELECT * FROM no_such_table")', "pass")
    later = Rev(
        "c3", "b2", 'op.add_column("account", sa.Column("x", sa.Integer))', 'op.drop_column("account", "x")'
    )
    code, report = check([BASE, broken, later], command="roundtrip")
    assert code == 1
    [unchecked] = [f for f in report["findings"] if f["severity"] == "warning" and f["revision"] == "b2"]
    assert "1 later revisions were not checked (c3)" in unchecked["message"]


def test_a_base_metadata_that_does_not_import_is_one_line(capsys, tmp_path, server_url, monkeypatch):
    (tmp_path / "pyproject.toml").write_text('[tool.mks-db]\nbase-metadata = "no_such_module:metadata"\n')
    ini = make_project(tmp_path / "project", ON_THE_BASE)
    monkeypatch.chdir(tmp_path)
    code, report = run_on(capsys, ini, "roundtrip", server_url=server_url)
    assert code == 2
    assert report["error"].startswith(
        "[tool.mks-db] base-metadata 'no_such_module:metadata' cannot be imported"
    )


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
    code, report = run_on(capsys, ini, "roundtrip", server_url=server_url)
    [finding] = only(report, "roundtrip")
    if forward_only:
        assert finding["severity"] == "warning" and code == 0, report
        assert finding["message"].endswith(
            "(a warning: [tool.mks-db] forward-only says the project never runs its downgrades)"
        )
    else:
        assert finding["severity"] == "error" and code == 1, report
